package timers

import (
	"testing"
	"time"
	"unsafe"
)

// AddRef's timers fire with their argument, and StopRef and ResetRef act
// only on the pending timer their Ref and argument name.
func TestRef(t *testing.T) {
	now := time.Unix(0, 0)
	w := New(WithClock(func() time.Time { return now }))
	var fired []int
	fire := func(p unsafe.Pointer) { fired = append(fired, *(*int)(p)) }
	a, b, c := new(int), new(int), new(int)
	*a, *b, *c = 1, 2, 3
	ra := w.AddRef(10*time.Millisecond, fire, unsafe.Pointer(a))
	rb := w.AddRef(10*time.Millisecond, fire, unsafe.Pointer(b))
	if ra == 0 || rb == 0 || ra == rb {
		t.Fatalf("Refs %d, %d: want two distinct non-zero ones", ra, rb)
	}
	if w.StopRef(ra, unsafe.Pointer(b)) || w.ResetRef(ra, unsafe.Pointer(b), time.Millisecond) {
		t.Fatal("a Ref acted with another timer's argument")
	}
	if !w.ResetRef(rb, unsafe.Pointer(b), 30*time.Millisecond) {
		t.Fatal("ResetRef of a pending timer failed")
	}
	now = now.Add(10 * time.Millisecond)
	if n := w.Advance(now); n != 1 || len(fired) != 1 || fired[0] != 1 {
		t.Fatalf("at 10ms: %d fired %v, want a's", n, fired)
	}
	if w.StopRef(ra, unsafe.Pointer(a)) || w.ResetRef(ra, unsafe.Pointer(a), time.Millisecond) {
		t.Fatal("StopRef or ResetRef acted on a fired timer")
	}
	// a's node is free: c may get it; a's Ref must not reach c's timer.
	rc := w.AddRef(5*time.Millisecond, fire, unsafe.Pointer(c))
	if rc == ra && w.StopRef(ra, unsafe.Pointer(a)) {
		t.Fatal("a stale Ref stopped the timer that reused its node")
	}
	if !w.StopRef(rc, unsafe.Pointer(c)) || w.StopRef(rc, unsafe.Pointer(c)) {
		t.Fatal("StopRef: want true once, then false")
	}
	now = now.Add(30 * time.Millisecond)
	w.Advance(now)
	if len(fired) != 2 || fired[1] != 2 || w.Len() != 0 {
		t.Fatalf("fired %v, %d pending; want [1 2], 0", fired, w.Len())
	}
	if w.StopRef(0, unsafe.Pointer(a)) || w.StopRef(Ref(1<<30), unsafe.Pointer(a)) {
		t.Fatal("StopRef of the zero Ref or an out-of-range Ref succeeded")
	}
}

// A callback may stop a timer of the same Advance that has not fired yet.
func TestRefStoppedDuringAdvance(t *testing.T) {
	now := time.Unix(0, 0)
	w := New(WithClock(func() time.Time { return now }))
	a, b := new(int), new(int)
	var rb Ref
	var fired int
	w.AddRef(time.Millisecond, func(unsafe.Pointer) { fired++; w.StopRef(rb, unsafe.Pointer(b)) }, unsafe.Pointer(a))
	rb = w.AddRef(time.Millisecond, func(unsafe.Pointer) { fired++ }, unsafe.Pointer(b))
	now = now.Add(time.Millisecond)
	w.Advance(now)
	if fired != 1 {
		t.Fatalf("%d callbacks ran; the first stopped the second", fired)
	}
}
