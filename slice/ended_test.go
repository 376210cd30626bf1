package slice

import (
	"runtime"
	"strings"
	"testing"
)

// Resuming a finished coroutine says how its function ended.
func TestResumeFinishedSaysHowItEnded(t *testing.T) {
	t.Run("returned", func(t *testing.T) {
		c := New(func() { Yield() })
		c.Resume()
		c.Resume()
		mustPanic(t, "Resume of a finished coroutine: its function already returned", func() { c.Resume() })
	})
	t.Run("panicked", func(t *testing.T) {
		c := New(func() {
			Yield()
			panic("boom")
		})
		c.Resume()
		if r := recovered(func() { c.Resume() }); r == nil {
			t.Fatal("Resume of a panicking coroutine did not panic")
		}
		mustPanic(t, "Resume of a finished coroutine: its function panicked", func() { c.Resume() })
	})
	t.Run("goexit", func(t *testing.T) {
		c := New(func() {
			Yield()
			runtime.Goexit()
		})
		c.Resume()
		if !goexits(t, func() { c.Resume() }) {
			t.Fatal("runtime.Goexit in the coroutine did not end the goroutine that resumed it")
		}
		if !c.Done() {
			t.Fatal("a coroutine that called runtime.Goexit is not done")
		}
		mustPanic(t, "Resume of a finished coroutine: its function called runtime.Goexit", func() { c.Resume() })
	})
}

// A Goexit in a coroutine runs the coroutine's deferred calls, then those of
// the goroutine that resumed it, and ends that goroutine; the coroutine is
// then done, and a second coroutine resumed by the same goroutine before
// is unaffected.
func TestGoexitEndsTheResumer(t *testing.T) {
	var log []string
	c := New(func() {
		defer func() { log = append(log, "coroutine") }()
		Yield()
		runtime.Goexit()
		log = append(log, "after Goexit")
	})
	other := New(func() {
		for {
			log = append(log, "other")
			Yield()
		}
	})
	if !goexits(t, func() {
		defer func() { log = append(log, "resumer") }()
		other.Resume()
		c.Resume()
		c.Resume()
		log = append(log, "after Resume")
	}) {
		t.Fatal("the resumer did not Goexit")
	}
	other.Resume()
	if got := strings.Join(log, ","); got != "other,coroutine,resumer,other" {
		t.Fatalf("ran %s, want other,coroutine,resumer,other", got)
	}
	if !c.Done() || other.Done() {
		t.Fatalf("Done: Goexited coroutine %v (want true), other %v (want false)", c.Done(), other.Done())
	}
}

// A deferred call that panics during a Goexit: the coroutine's boundary
// recovers the panic, and the runtime then goes on with the Goexit past
// Resume (as it does past any recovering frame above the Goexit). The
// coroutine must still end up finished, not stuck running.
func TestGoexitWithPanickingDefer(t *testing.T) {
	c := New(func() {
		defer func() { panic("in a deferred call") }()
		runtime.Goexit()
	})
	if !goexits(t, func() { c.Resume() }) {
		t.Fatal("the Goexit did not end the resumer")
	}
	if !c.Done() {
		t.Fatal("the coroutine is not done")
	}
	mustPanic(t, "Resume of a finished coroutine", func() { c.Resume() })
}
