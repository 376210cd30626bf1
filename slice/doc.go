// Package slice runs coroutines by stack slicing: every coroutine runs on the
// stack of the goroutine that resumes it (its carrier), and while suspended it
// is a compact heap block rather than a parked goroutine.
//
//	c := slice.New(func() {
//		for i := 0; ; i++ {
//			fmt.Println(i)
//			slice.Yield() // back to whoever called Resume
//		}
//	})
//	c.Resume() // prints 0
//	c.Resume() // prints 1, possibly from another goroutine
//
// Pull and Pull2 are drop-in replacements for iter.Pull and iter.Pull2.
//
// # How it works
//
// Resume enters the coroutine directly below its own frame. When the
// coroutine calls Yield, the engine copies the coroutine's part of the stack
// (its region: from Yield's frame up to its function's frame) into a block, and
// uses the runtime's own tables (see package stackmap) to find every live
// pointer in it: pointers into the region are stored as offsets, heap
// pointers are also kept in a pointer shadow the GC scans. Resume later
// copies the block back below the current Resume frame, usually at another
// address, turns the offsets back into addresses, and continues Yield. While
// a coroutine runs its frames are ordinary frames, so stack growth, GC,
// preemption, panics, defers and tracebacks work as usual; only the
// suspended state and the two switch instants are the engine's.
//
// # Invariants
//
//   - A coroutine is new, running, suspended, busy (suspended and being
//     packed or read by another goroutine: Resume waits) or done; only Resume
//     moves it to running, with a compare-and-swap.
//   - A suspended block holds no absolute stack address except as an offset
//     from the region's start; nothing in it depends on the carrier.
//   - Every heap pointer in a suspended block is also in its shadow, except
//     the Coroutine itself and its function's closure, which the Coroutine
//     keeps alive (pointers into the binary's own data need nothing); the
//     shadow is cleared with write-barriered stores only after the region is
//     back on a stack.
//   - No pointer past the end of a block is ever formed: the GC would take
//     it for a pointer to the next object.
//   - The coroutine's runtime defer records leave g with its region and come
//     back with it, before any call that could copy the stack.
//
// # Compression
//
// A suspended coroutine's block can be packed: alone with S2 or zstd, or as
// its difference from a template shared by every block saved at the same
// chain of return addresses, which suits servers that park many connections
// at the same Read. Resume unpacks transparently; the shadow is never
// packed. This package packs when told to: Compress packs one suspended
// coroutine now, and a coroutine whose mode is not CompressNone (its own,
// (*Coroutine).SetCompression, else the global one, SetCompression) is
// packed at each yield, before Resume returns; Packed says whether a
// coroutine is packed. When to pack a coroutine that stays idle is its
// owner's decision: package sched packs tasks parked for a while
// (sched.WithCompression), and a program running coroutines itself calls
// Compress on those it leaves idle.
//
// Before a template-mode pack, every live pointer word that holds a shadow
// entry is replaced by a token naming the entry: coroutines
// that differ only in the objects they point to then have equal blocks, and
// such a block is packed as nothing at all (c.blk is the template itself).
// Tokens lie in the kernel half of the address space, where no Go pointer
// can; a block already holding such a value in a live pointer word is not
// packed this way.
//
// # Implementations
//
// The engine runs on amd64 and arm64 systems with Go 1.26 and 1.27 (tested
// on linux/amd64, and on linux/arm64 under qemu-user). It
// checks its assumptions at start-up by running a small coroutine through
// yield, GC, stack growth and resume on another goroutine. Builds with -race
// or the purego tag, other Go versions or architectures, and a failed
// self-test use a goroutine-backed implementation (built on iter.Pull) with
// the same API; Engine says which one runs and why.
//
// # Limits
//
//   - Yield refuses (panics) inside a cgo callback, through a frame made by
//     reflect.MakeFunc or a reflect method value, in a deferred call run by
//     a panic or runtime.Goexit in the coroutine (even after it called
//     recover), and while a function has a range-over-func loop whose body
//     has a defer statement (from the loop's start until the function
//     returns). Deferred calls run by a normal return may yield, whether the
//     compiler open-coded them or not (defers in loops, every defer under
//     -N), and so may those run after a recover. The fallback refuses only
//     the cgo callback.
//   - runtime.Goexit inside a coroutine runs the coroutine's deferred calls,
//     then ends the goroutine that resumed it (as iter.Pull's next does);
//     the coroutine is then done.
//   - A coroutine shares its carrier's goroutine: its id, pprof labels,
//     LockOSThread state and debug.SetPanicOnFault setting, and it does not
//     appear in goroutine dumps. So debug.SetPanicOnFault in a coroutine
//     sets the carrier's setting: set it and restore it without yielding in
//     between (defer debug.SetPanicOnFault(debug.SetPanicOnFault(true)) in a
//     function that does not yield). A setting left across a Yield stays
//     with that carrier, and the coroutine, resumed elsewhere, gets the new
//     carrier's: a fault it meant to recover from is then fatal. (On the
//     fallback each coroutine has a goroutine, and a setting, of its own.)
package slice
