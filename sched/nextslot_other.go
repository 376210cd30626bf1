//go:build !amd64 || race

package sched

import "unsafe"

// fillEmpty puts t in the slot, which is empty and which no other
// goroutine writes while it is (see pushNext, and nextslot_amd64.go).
func (s *taskSlot) fillEmpty(t *Task) { s.v.Store(uintptr(unsafe.Pointer(t))) }
