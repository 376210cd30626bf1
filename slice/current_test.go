package slice

import (
	"errors"
	"fmt"
	"runtime"
	"testing"
)

// currentAfterExits resumes coroutines that leave Resume in every way (a
// yield, a return, a panic, nested in another coroutine and at the top) and
// checks after each that Current and Owner are what they were before. It
// returns the first mismatch.
func currentAfterExits() error {
	check := func(when string, want *Coroutine, wantOwner any) error {
		if got := Current(); got != want {
			return fmt.Errorf("%s: Current() = %p, want %p", when, got, want)
		}
		if got := Owner(); got != wantOwner {
			return fmt.Errorf("%s: Owner() = %v, want %v", when, got, wantOwner)
		}
		return nil
	}
	exits := func(outer *Coroutine, owner any) error {
		// The record itself, not only what Current reads through it:
		// a stale one can point at a stack slot that happens to hold
		// the right coroutine (or nil) again.
		// (Checked first: Current reads through it.)
		w0 := currentWord()
		checkAll := func(when string) error {
			if w := currentWord(); w != w0 {
				return fmt.Errorf("%s: g's record of the running coroutine is %#x, want %#x", when, w, w0)
			}
			return check(when, outer, owner)
		}
		y := New(func() { Yield() })
		y.Resume()
		if err := checkAll("after a yield"); err != nil {
			return err
		}
		y.Resume()
		if err := checkAll("after a return"); err != nil {
			return err
		}
		p := New(func() { panic("boom") })
		func() {
			defer func() { recover() }()
			p.Resume()
		}()
		return checkAll("after a panic")
	}
	// Stop at the first mismatch: with a wrong record, a Yield would save
	// the wrong region.
	if err := exits(nil, nil); err != nil {
		return err
	}
	var outer *Coroutine
	var inside error
	outer = New(func() {
		if inside = check("in the outer coroutine", outer, "outer"); inside != nil {
			return
		}
		if inside = exits(outer, "outer"); inside != nil {
			return
		}
		Yield()
		inside = exits(outer, "outer")
	})
	if !outer.ResumeFor("outer") {
		if err := check("after the outer yielded", nil, nil); err != nil {
			return err
		}
		outer.ResumeFor("outer")
	}
	if inside != nil {
		return inside
	}
	if err := check("after the outer returned", nil, nil); err != nil {
		return err
	}
	// A carrier that Goexit ends runs its own deferred calls outside any
	// coroutine.
	done := make(chan error)
	go func() {
		defer func() { done <- check("in the carrier's defer during a Goexit", nil, nil) }()
		New(runtime.Goexit).Resume()
	}()
	return <-done
}

func TestCurrentAfterEveryExit(t *testing.T) {
	if err := currentAfterExits(); err != nil {
		t.Fatal(err)
	}
	// With a mode to pack in at yields, a yield returns to ResumeFor
	// (see switchOut) rather than past it.
	defer SetCompression(SetCompression(CompressS2))
	if err := currentAfterExits(); err != nil {
		t.Fatal("packing at yields:", err)
	}
}

// TestCurrentDeep checks Current and Owner deep in a coroutine whose stack
// grows (and moves) under it, after a migration, and in a goroutine the
// coroutine starts (which runs in no coroutine).
func TestCurrentDeep(t *testing.T) {
	var c *Coroutine
	var errs []error
	at := func(where string) {
		if Current() != c || Owner() != "deep" {
			errs = append(errs, fmt.Errorf("%s: Current() = %p, Owner() = %v; want %p, deep", where, Current(), Owner(), c))
		}
	}
	c = New(func() {
		at("at the start")
		callsDeep(5000, func() { at("5000 calls deep") })
		Yield()
		at("after a migration")
		callsDeep(5000, func() {
			at("5000 calls deep after a migration")
			Yield()
			at("resumed 5000 calls deep")
		})
		inner := make(chan *Coroutine)
		go func() { inner <- Current() }()
		if g := <-inner; g != nil {
			errs = append(errs, fmt.Errorf("a goroutine started in a coroutine sees Current() = %p", g))
		}
	})
	for i := 0; i < 3; i++ {
		done := make(chan bool)
		go func() { done <- c.ResumeFor("deep") }()
		if <-done != (i == 2) {
			t.Fatalf("resume %d: unexpected end", i)
		}
	}
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
}

//go:noinline
func callsDeep(n int, f func()) int {
	var pad [8]int
	pad[n%8] = n
	if n > 0 {
		return callsDeep(n-1, f) + pad[n%8]
	}
	f()
	return pad[0]
}

// BenchmarkCurrent measures Current n calls deep in a coroutine: the engine
// finds the coroutine without walking the stack, so it does not grow with n.
func BenchmarkCurrent(b *testing.B) {
	for _, depth := range []int{1, 100, 10000} {
		b.Run(fmt.Sprintf("depth=%d", depth), func(b *testing.B) {
			var c *Coroutine
			c = New(func() {
				callsDeep(depth, func() {
					b.ResetTimer()
					for i := 0; i < b.N; i++ {
						if Current() != c {
							b.Fatal("Current is not the coroutine")
						}
					}
					b.StopTimer()
				})
			})
			c.Resume()
		})
	}
}
