// Package arch is part of stackslice's engine: the few machine instructions
// it cannot write in Go, which enter a coroutine on the carrier's stack,
// switch back to the carrier, and read the frame pointer and g. Its API
// serves package slice alone and carries no compatibility promise; import
// slice instead.
//
// # Protocol (amd64)
//
// The carrier calls SwitchIn from Go. At SwitchIn's entry SP points at the
// return address into the carrier; call that address "top". A coroutine's
// stack region is always [top-len, top): it lives directly below the frame
// that resumed it.
//
//   - Current: SwitchIn first stores hi-top (hi: g.stack.hi) in a word of g
//     that only -race builds use (GCurrent), so that code running in the
//     coroutine finds it, and the arguments above top, without walking the
//     stack; an offset stays right when the runtime moves the stack. The
//     caller restores the word when SwitchIn returns.
//   - Clear: SwitchIn then zeroes Context.Zero bytes below the region (slice
//     asks for it when a coroutine starts), so that the frames the coroutine
//     builds there hold no leftovers of earlier calls.
//   - Start: SwitchIn jumps (never calls) to the coroutine's function (its
//     closure in DX, as for any closure call) with SP still at top, so the
//     function sees the carrier's return address as its own and the
//     frame-pointer chain runs from coroutine frames into the carrier's.
//   - Resume: SwitchIn copies the saved block to [top-len, top), adds top-len
//     to every word listed in the relocation table (the engine stored those
//     words as offsets from the region's start) and, with Context.BPChain, to
//     each saved frame pointer along the chain from the innermost one; it
//     stores the carrier's BP into the outermost frame's saved-BP slot at
//     top-8, then sets BP and SP to the coroutine's and jumps to the saved
//     resume PC.
//   - Switch out: SwitchOut sets SP back to top and BP to the carrier's BP
//     (the one saved at top-8), and returns to the carrier as if SwitchIn had
//     returned.
//   - Exit: when the coroutine's function returns, it returns through top
//     into the carrier, again as if SwitchIn had returned. No asm is involved.
//   - Switch out and return: SwitchOutReturn goes two frames further than
//     SwitchOut: it puts SwitchIn's outer argument (at top+40) back in g's
//     current word, stores a value in the word it is given (the engine
//     publishes the coroutine as suspended with it), and returns from the
//     caller of the carrier frame that called SwitchIn to that caller's
//     caller, with a false bool result, as the two frames' epilogues would
//     (BP = the BP the carrier frame saved, which its BP, kept at top-8,
//     points at; then the same one frame up). Both frames are abandoned:
//     they must have nothing left to do after a yield, and no defer record
//     on g (an open-coded defer, whose state lives in the frame, is fine).
//     Two returns less per round trip, whose predictions always missed.
//
// # Protocol (arm64)
//
// The same steps, for arm64's frames (cmd/internal/obj/arm64 and
// runtime/traceback.go): a call leaves the return address in LR, not on the
// stack; a function with a frame saves LR at 0(SP) of its own frame and the
// caller's frame pointer (R29) at -8(SP), just below it, then sets R29 =
// SP-8; the topmost word of every frame is left for its caller's prologue
// to fill. At SwitchIn's entry SP is the carrier's SP: call it "top". The
// word at top-8 is the carrier's own saved frame pointer, and the carrier's
// R29 is top-8. A coroutine's region is [top-8-len, top-8): it starts at the
// innermost frame's SP and ends just below the carrier's word. The word
// below it, the innermost frame's saved frame pointer, is not kept: it
// always holds the address of the region's first saved frame pointer.
//
//   - Current and Clear as on amd64, below the region's start; co and owner
//     are at top+16 and top+24 as on amd64 (0(top) is the carrier's saved
//     LR). SwitchIn keeps its return address (LR) in ctx's slot at top+8.
//   - Start: SwitchIn jumps to the coroutine's function (its closure in
//     R26) with SP at top and LR untouched, so the function saves the
//     carrier's return address at the bottom of its frame and the carrier's
//     R29 just below that, and returns into the carrier.
//   - Resume: SwitchIn copies the block to [top-8-len, top-8), adds the
//     region's new start to every listed word and, with Context.BPChain,
//     to each saved frame pointer along the chain; the outermost frame's
//     saved frame pointer, kept as the offset len, becomes top-8, the
//     carrier's. Then it stores start+BPOff (the first saved frame
//     pointer's address) at start-8, sets R29 = start-8, SP = start, and
//     jumps to the resume PC.
//     The outermost frame's saved LR, inside the region, is not rewritten:
//     the carrier calls SwitchIn from one place, so it is the same on every
//     resume.
//   - Switch out: SwitchOut sets R29 to top-8, SP to top and jumps to the
//     return address kept at top+8.
//   - Switch out and return: SwitchOutReturn restores g's current word from
//     top+40 and publishes as on amd64, and returns from the carrier
//     frame's caller: the carrier frame saved the caller's R29 at top-8;
//     the caller saved its own caller's R29 at 0(R29) and its LR at
//     8(R29); SP = that caller's R29 + 8.
//
// # Invariants
//
//   - A routine that writes SP never calls anything, and a routine that calls
//     never writes SP: the unwinder refuses SPWRITE frames that are not
//     innermost, and these routines never become frames of anything else.
//   - Only three three-instruction routines write SP (enter, leave and
//     leaveReturn, which SwitchIn, SwitchOut and SwitchOutReturn jump to
//     last): the profiler stops at an SPWRITE function even when it is
//     innermost, so a sample anywhere else in a switch (the copy, the
//     relocation) unwinds through SwitchIn's, SwitchOut's or
//     SwitchOutReturn's $0 frame to its caller.
//   - Every routine is ABI0 and NOSPLIT; on amd64 those that need g read it
//     from TLS (ABI0 code cannot rely on R14), and before entering Go code
//     (ABIInternal) SwitchIn sets R14 = g and X15 = 0 as that ABI requires;
//     on arm64 g is always in R28 and the zero register is the hardware's.
//   - Asm functions are never asynchronous safe points, so no signal can push
//     a frame below SP while SwitchIn writes the region there.
//
// Under the purego build tag, or on an architecture without a file here, the
// package is empty and the engine is not built.
package arch
