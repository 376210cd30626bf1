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
//
// # Invariants
//
//   - A routine that writes SP never calls anything, and a routine that calls
//     never writes SP: the unwinder refuses SPWRITE frames that are not
//     innermost, and these routines never become frames of anything else.
//   - Only two three-instruction routines write SP (enter and leave, which
//     SwitchIn and SwitchOut jump to last): the profiler stops at an SPWRITE
//     function even when it is innermost, so a sample anywhere else in a
//     switch (the copy, the relocation) unwinds through SwitchIn's or
//     SwitchOut's $0 frame to its caller.
//   - Every routine is ABI0 and NOSPLIT; those that need g read it from TLS
//     (ABI0 code cannot rely on R14), and before entering Go code
//     (ABIInternal) SwitchIn sets R14 = g and X15 = 0 as that ABI requires.
//   - Asm functions are never asynchronous safe points, so no signal can push
//     a frame below SP while SwitchIn writes the region there.
//
// Under the purego build tag, or on an architecture without a file here, the
// package is empty and the engine is not built.
package arch
