// Package fuzz is a differential test harness for the stack-slicing engine
// of package slice. Its one entry point, Check, runs a coroutine program made
// from any input and reports whether the engine moved every frame correctly;
// call it from a fuzz target of your own to fuzz the engine in your build
// (your Go version, flags and compression policy):
//
//	func FuzzEngine(f *testing.F) {
//		f.Fuzz(func(t *testing.T, input []byte) {
//			if err := fuzz.Check(input); err != nil {
//				t.Fatal(err)
//			}
//		})
//	}
//
// The package's own target is FuzzRelocate (relocate_test.go). Its seed
// corpus, testdata/fuzz/FuzzRelocate, has a program for every frame shape
// and every way of resuming; copied to testdata/fuzz/FuzzEngine, it seeds
// the target above too.
//
// # Programs
//
// An input decodes into a small program: one to eight coroutines, each with
// its own stream of operations, plus a schedule for the driver that resumes
// them. Each operation either yields or calls one of thirteen frame shapes,
// chosen to exercise everything a yield must carry across a move of the
// coroutine's stack region:
//
//	A  pointer-heavy locals: heap pointers, a heap slice, a stack-backed
//	   slice of heap pointers, an array of pointers and a string, held
//	   across the yield
//	B  address-taken stack objects pointing into each other (a cycle of
//	   structs, an array of structs), reachable only through one pointer
//	C  non-escaping closures capturing stack variables by reference, called
//	   before and after the yield, also from a callee
//	D  deferred calls of every kind, one shape each: stack-allocated defer
//	   records (nine defers, not in a loop), heap records (defers in a loop)
//	   and open-coded defers, their side effects recorded when they run
//	P  a frame with a deferred recover: operations below it may panic, and
//	   the panic unwinds through moved frames and their defer records
//	E  large frames ([2048]byte, [600]*uint64 a third of which point into
//	   the frame, and, once in the first coroutine, 560 KiB of arrays, so
//	   that the frames above need 32-bit relocation indexes), forcing the
//	   carrier's stack to grow when resumed
//	F  interface values (one pointing to a stack object), maps (small,
//	   stack-allocatable ones too), strings, substrings and byte slices,
//	   and a body run inside fmt through a String method
//	G  method values, bound to a stack receiver and through an interface
//	H  recursion to a random depth (0-40), each frame linking to its
//	   caller's frame, with a yield at a random level
//	R  a range-over-func loop whose body yields
//	N  a nested coroutine (slice.Pull) advanced between the outer
//	   coroutine's yields
//
// plus runtime.GC, stack growth, garbage allocation, runtime.Gosched, panics
// and resuming another coroutine of the program inside the coroutines. The
// driver resumes the coroutines in the order the schedule says: directly,
// after a runtime.GC, from inside a recursion of random depth on the
// carrier, from a frame with a large array, on a fresh goroutine or on a
// long-lived worker goroutine.
//
// Every coroutine records what it observes (values read back through every
// pointer after the yields, results of closures and method values, deferred
// calls and recovered panics) in its own trace, and checks on the spot what
// it can (a pointer to a stack object still points to that object at its
// new address, slice.Current is the coroutine). Coroutines share no state,
// so their traces do not depend on the interleaving: Check runs each program
// twice, once with real coroutines and once sequentially with Yield replaced
// by a no-op, and reports the first difference. Any difference, failed check
// or panic is a bug in the engine (or in the goroutine-backed fallback,
// which -race and the purego tag select).
//
// Inputs are bounded (4096 bytes, 2000 operations, recursion at most 40
// deep, at most three runtime.GC calls a run) so that a run stays short: a
// few milliseconds for most programs.
package fuzz
