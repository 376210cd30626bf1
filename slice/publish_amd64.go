//go:build amd64 && !race && !purego

package slice

import "unsafe"

// publishSuspended hands a coroutine that yielded back to whoever resumes
// it next: it moves c from running to suspended after every write Resume
// made to c, its block and its shadow.
//
// On amd64 a plain store does that: stores become visible in program order
// (x86-TSO), the compiler keeps a function's stores in program order, and
// the next Resume, Compress or Packed takes c with a locked
// compare-and-swap, which orders its own loads after it. atomic.Uint32.Store
// compiles to XCHG, a full barrier that drains the store buffer Resume has
// just filled with the block: the plain store saves that on every round
// trip. Only the goroutine holding c in stateRunning writes the state here,
// so no other write can race with it. (Builds with -race use
// publish_other.go, whose atomic store the race detector understands.)
func (c *Coroutine) publishSuspended() {
	*(*uint32)(unsafe.Pointer(&c.state)) = stateSuspended
}
