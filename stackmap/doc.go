// Package stackmap is part of stackslice's engine: it reads the Go runtime's
// own function tables so that a region of goroutine stack can be saved and
// restored at another address. Its API serves package slice alone and carries
// no compatibility promise; import slice instead.
//
// The tables (internal/abi/symtab.go) give, for every return PC: the frame
// size (pcsp), the live pointer words of the frame's locals and arguments
// (stack maps indexed by PCDATA_StackMapIndex), and the frame's
// address-taken variables (stack objects). Func decodes them for one
// function, reading the runtime's structures directly: only a few runtime
// symbols may be linknamed (findfunc, funcInfo.entry, funcline1), so the
// pc-value tables, funcdata and names are decoded here, with the moduledata
// layout of each supported Go version in its own file (layout_go126.go,
// layout_go127.go).
//
// A Plan is the walk of one region's frames by the runtime's own rules
// (traceback.go, stkframe.go): live slots, saved frame pointers, stack
// objects. Lookup caches plans by innermost PC, region length and first
// return address, and checks the whole chain of return addresses again on
// each use; LookupHint and Hinted start at the cache entry a caller
// remembered from its last save, so that a coroutine yielding where it
// yielded before finds its plan with that one check. A Scan classifies a
// region copy's words for one save, as the
// GC's scanstack would: pointers into the region become offsets to relocate,
// other heap pointers go to the pointer shadow (pointers into the binary's
// static memory and the two the caller names in Alive excepted), a pointer
// into the carrier's stack outside the region is refused, and a stack object
// counts only when a live word points into it. Plan.Quick does the same for
// the common case (a plain frame-pointer chain, at most 64 stack objects)
// in one pass over the slots and one over the
// live objects' pointer words, within the room its caller already has, and
// gives up, putting the region back as it was, when that case or that room
// does not hold.
//
// # Invariants
//
//   - The walk follows the runtime exactly: fp = sp + spdelta (+ the return
//     address on amd64; on arm64 it is in LR and each frame saves it at its
//     own SP); a frame of non-zero size saved its caller's frame pointer
//     just below its return address (amd64: below fp-8; arm64: at SP-8,
//     below the frame, so the innermost one is outside the region); the
//     stack map index is read
//     at pc-1 except at a function's entry. What differs per architecture
//     is in arch_amd64.go and arch_arm64.go (frameSlots and a few
//     constants).
//   - Frames the runtime treats specially (cgo callbacks, any special runtime
//     function, SPWRITE and top frames, reflect stubs with unknown argument
//     sizes) are refused, never guessed.
//   - The moduledata offsets are trusted only for the Go versions whose
//     runtime source was read (go1.26 and go1.27), and the frame walk only on
//     amd64 and arm64: Supported is false anywhere else, and the engine
//     falls back.
//   - SelfCheck compares the decoder with the runtime (names, entries, lines,
//     stack map indexes, a stack object's GC mask, section bounds and, on
//     amd64 and arm64, the frame-pointer chain) before the engine trusts it.
//   - Nothing in an ordinary build can make a scan skip a relocation or a
//     shadow entry: the switches that do, for the negative-control tests of
//     slice and fuzz (BreakForControl, BreakUndoForControl), exist only with
//     the negcontrol build tag.
package stackmap
