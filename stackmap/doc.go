// Package stackmap reads the Go runtime's own function tables so that a
// region of goroutine stack can be saved and restored at another address.
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
// objects. Plans are cached by (innermost PC, region length) and each use
// checks the chain of return addresses again. A Scan classifies a region
// copy's words for one save, as the GC's scanstack would: pointers into the
// region become offsets to relocate, other pointers go to the pointer shadow,
// and a stack object counts only when a live word points into it.
//
// # Invariants
//
//   - The walk follows the runtime exactly: fp = sp + spdelta + return
//     address; the saved BP is just below the return address when the frame
//     has locals; the stack map index is read at pc-1 except at a function's
//     entry.
//   - Frames the runtime treats specially (cgo callbacks, SPWRITE and top
//     frames, reflect stubs with unknown argument sizes) are refused, never
//     guessed.
//   - Layout constants exist only for versions whose runtime source was
//     read; Supported is false for any other, and the engine falls back.
//   - SelfCheck compares the decoder with the runtime (names, entries,
//     lines, frame-pointer chains) before the engine trusts it.
package stackmap
