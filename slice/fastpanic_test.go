package slice

import "testing"

// A coroutine that yielded before, deep enough that its block has room for
// what follows, takes the engine's fast save path (saveFast) at its next
// Yield: that path too must refuse a Yield from a deferred call run by a
// panic, whose record lies in the region.
func TestYieldInDeferDuringPanicAfterYield(t *testing.T) {
	var refusal any
	c := New(func() {
		deepYield(60) // a large block, and the plan hint set
		panickingYielder(&refusal, false)
	})
	if c.Resume() {
		t.Fatal("the coroutine finished before its first yield")
	}
	r := recovered(func() { c.Resume() })
	if Engine().StackSlicing {
		if pe, ok := r.(*PanicError); !ok || pe.Value != "boom" {
			t.Fatalf("Resume panicked with %v, want a *PanicError of boom", r)
		}
	}
	checkRefusal(t, refusal, refusedInPanic)
}

//go:noinline
func deepYield(n int) int {
	var pad [4]int
	pad[n%4] = n
	if n > 0 {
		return deepYield(n-1) + pad[n%4]
	}
	Yield()
	return pad[0]
}
