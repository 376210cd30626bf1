//go:build amd64 && !race

package sched

import "unsafe"

// fillEmpty puts t in the slot, which is empty and which no other
// goroutine writes while it is (see pushNext). On amd64 a plain store
// does it: stores become visible in program order (x86-TSO), so whoever
// loads t from the slot sees what was written to t before, and the
// compiler does not move a store past the atomic operations around it.
// atomic.Uintptr.Store compiles to XCHG, a locked instruction, which every
// hand-over between two tasks on one worker would pay. (Builds with -race
// use nextslot_other.go, whose atomic store the race detector
// understands; package slice's publishSuspended does the same.)
func (s *taskSlot) fillEmpty(t *Task) {
	*(*uintptr)(unsafe.Pointer(&s.v)) = uintptr(unsafe.Pointer(t))
}
