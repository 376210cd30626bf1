package slice

import (
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// Where Yield may be called from a deferred call. What the engine refuses is
// a Yield while the runtime's panic record lies in the coroutine's frames:
// in a deferred call run by a panic or by runtime.Goexit (open-coded or
// not), even after it recovered. A deferred call run by a normal return,
// open-coded (inline at the function's exit) or not (runtime.deferreturn,
// for defers in loops and every defer under -N), may yield, and so may
// those run after a recover. It also refuses range-over-func loops with
// defers in their bodies. The fallback refuses none of them. Each case that
// yields resumes the coroutine on other goroutines at other depths, with a
// GC before each resume.

// runMigrating resumes c to the end from changing goroutines and depths.
func runMigrating(c *Coroutine) (resumes int) {
	for ; !c.done(resumes); resumes++ {
		runtime.GC()
	}
	return resumes
}

func TestYieldInOpenCodedDeferOnReturn(t *testing.T) {
	var log []string
	c := New(func() { openCodedYielder(&log) })
	if n := runMigrating(c); n != 2 {
		t.Fatalf("%d yields, want 2", n)
	}
	if got := strings.Join(log, ","); got != "body,second,first" {
		t.Fatalf("ran %s, want body,second,first", got)
	}
}

//go:noinline
func openCodedYielder(log *[]string) {
	x := [4]int{1, 2, 3, 4}
	p := &x
	defer func() {
		Yield()
		if p[3] != 4 {
			panic("a pointer into the frame was not relocated")
		}
		*log = append(*log, "first")
	}()
	defer func() {
		Yield()
		*log = append(*log, "second")
	}()
	*log = append(*log, "body")
}

// Defers in a loop are never open-coded: runtime.deferreturn runs them, and
// each yields (twice) between the others.
func TestYieldInLoopDeferOnReturn(t *testing.T) {
	var log []string
	c := New(func() { loopDeferYielder(&log, 4) })
	if n := runMigrating(c); n != 8 {
		t.Fatalf("%d yields, want 8", n)
	}
	if got := strings.Join(log, ","); got != "body,3,2,1,0" {
		t.Fatalf("ran %s, want body,3,2,1,0", got)
	}
}

//go:noinline
func loopDeferYielder(log *[]string, n int) {
	for i := 0; i < n; i++ {
		v := &[2]int{i, i}
		defer func() {
			Yield()
			deep(50) // grow the stack between the two yields
			Yield()
			*log = append(*log, fmt.Sprint(v[0]+v[1]-i))
		}()
	}
	*log = append(*log, "body")
}

// The coroutine's function itself defers the yielding calls, so the
// deferring frame is the region's outermost.
func TestYieldInDeferOfCoroutineFunction(t *testing.T) {
	var log []string
	c := New(func() {
		for i := 0; i < 2; i++ {
			defer func() {
				Yield()
				log = append(log, fmt.Sprint("loop", i))
			}()
		}
		defer func() {
			Yield()
			log = append(log, "open")
		}()
	})
	if n := runMigrating(c); n != 3 {
		t.Fatalf("%d yields, want 3", n)
	}
	if got := strings.Join(log, ","); got != "open,loop1,loop0" {
		t.Fatalf("ran %s, want open,loop1,loop0", got)
	}
}

// After a recover, the recovering frame's other deferred calls run as on a
// normal return, and may yield.
func TestYieldInDeferAfterRecover(t *testing.T) {
	for _, loop := range []bool{false, true} {
		t.Run(fmt.Sprint("loop=", loop), func(t *testing.T) {
			var log []string
			c := New(func() { recoveringYielder(&log, loop) })
			if n := runMigrating(c); n != 2 {
				t.Fatalf("%d yields, want 2", n)
			}
			if got := strings.Join(log, ","); got != "recovered boom,first,last" {
				t.Fatalf("ran %s, want recovered boom,first,last", got)
			}
		})
	}
}

//go:noinline
func recoveringYielder(log *[]string, loop bool) {
	defer func() {
		Yield()
		*log = append(*log, "last")
	}()
	if loop {
		for i := 0; i < 1; i++ {
			defer func() {
				Yield()
				*log = append(*log, "first")
			}()
		}
	} else {
		defer func() {
			Yield()
			*log = append(*log, "first")
		}()
	}
	defer func() { *log = append(*log, fmt.Sprint("recovered ", recover())) }()
	panic("boom")
}

const refusedInPanic = "Yield called from a deferred function run by a panic or runtime.Goexit in the coroutine"

// yieldOrRefusal yields and returns nil, or returns what the refused Yield
// panicked with. Recovering here, in the deferred call itself, lets the
// panic or Goexit that runs it go on.
func yieldOrRefusal() (r any) {
	defer func() { r = recover() }()
	Yield()
	return nil
}

// A deferred call run by a panic, open-coded or not, cannot yield on the
// engine; the fallback lets it.
func TestYieldInDeferDuringPanic(t *testing.T) {
	for _, loop := range []bool{false, true} {
		t.Run(fmt.Sprint("loop=", loop), func(t *testing.T) {
			var refusal any
			c := New(func() { panickingYielder(&refusal, loop) })
			if !Engine().StackSlicing {
				if c.Resume() {
					t.Fatal("the fallback refused a Yield during a panic")
				}
			}
			r := recovered(func() { c.Resume() })
			if pe, ok := r.(*PanicError); !ok || pe.Value != "boom" {
				t.Fatalf("Resume panicked with %v, want a *PanicError of boom", r)
			}
			checkRefusal(t, refusal, refusedInPanic)
		})
	}
}

// checkRefusal checks what a Yield panicked with: want on the engine,
// nothing on the fallback.
func checkRefusal(t *testing.T, r any, want string) {
	t.Helper()
	switch {
	case !Engine().StackSlicing && r != nil:
		t.Fatalf("the fallback refused the Yield: %v", r)
	case Engine().StackSlicing && (r == nil || !strings.Contains(fmt.Sprint(r), want)):
		t.Fatalf("Yield panicked with %v, want %q", r, want)
	}
}

//go:noinline
func panickingYielder(refusal *any, loop bool) {
	if loop {
		for i := 0; i < 1; i++ {
			defer func() { *refusal = yieldOrRefusal() }()
		}
	} else {
		defer func() { *refusal = yieldOrRefusal() }()
	}
	panic("boom")
}

// Even after it recovered, the deferred call that recovers is run by the
// panic: it cannot yield until it returns.
func TestYieldAfterRecoverInSameDeferRefused(t *testing.T) {
	var refusal any
	var rec any
	c := New(func() {
		defer func() {
			rec = recover()
			refusal = yieldOrRefusal()
		}()
		panic("boom")
	})
	runMigrating(c)
	if rec != "boom" {
		t.Fatalf("recovered %v, want boom", rec)
	}
	checkRefusal(t, refusal, refusedInPanic)
}

// A deferred call run by runtime.Goexit cannot yield on the engine; the
// fallback lets it. Either way the Goexit goes on to end the resumer.
func TestYieldInDeferDuringGoexit(t *testing.T) {
	var refusal any
	c := New(func() {
		defer func() { refusal = yieldOrRefusal() }()
		runtime.Goexit()
	})
	if !Engine().StackSlicing && c.Resume() {
		t.Fatal("the fallback refused a Yield during a Goexit")
	}
	if !goexits(t, func() { c.Resume() }) {
		t.Fatal("the Goexit did not end the resumer")
	}
	if !c.Done() {
		t.Fatal("the coroutine is not done")
	}
	checkRefusal(t, refusal, refusedInPanic)
}

// A function with a range-over-func loop whose body has a defer statement
// cannot yield, in the loop body or after it, from the loop's start until
// it returns; its deferred calls (run by its return) can.
func TestYieldWithRangeFuncDefer(t *testing.T) {
	const refused = "Yield called while a function has a range-over-func loop whose body has a defer statement"
	for _, where := range []string{"before-defer", "after-defer", "after-loop", "callee", "deferred"} {
		t.Run(where, func(t *testing.T) {
			var log []string
			var refusal any
			yieldAt := func(here string) {
				if here == where {
					refusal = yieldOrRefusal()
				}
			}
			c := New(func() {
				for x := range slices.Values([]string{"a", "b"}) {
					yieldAt("before-defer")
					defer func() {
						yieldAt("deferred")
						log = append(log, x)
					}()
					yieldAt("after-defer")
				}
				yieldAt("after-loop")
				func() { yieldAt("callee") }()
			})
			runMigrating(c)
			if got := strings.Join(log, ","); got != "b,a" {
				t.Fatalf("deferred calls ran as %s, want b,a", got)
			}
			if where == "deferred" {
				if refusal != nil {
					t.Fatalf("a deferred call run by the return refused to yield: %v", refusal)
				}
				return
			}
			checkRefusal(t, refusal, refused)
		})
	}
}

// A coroutine resumed by a deferred call during a panic elsewhere (in the
// resumer, here the goroutine of the test) can yield: the panic is not in
// its frames.
func TestYieldInCoroutineResumedDuringPanic(t *testing.T) {
	steps := 0
	c := New(func() {
		for {
			steps++
			Yield()
		}
	})
	r := recovered(func() {
		defer func() {
			if c.Resume() {
				t.Error("coroutine finished")
			}
		}()
		panic("boom")
	})
	if r != "boom" || steps != 1 {
		t.Fatalf("recovered %v after %d steps, want boom after 1", r, steps)
	}
	c.Resume()
	if steps != 2 {
		t.Fatalf("%d steps, want 2", steps)
	}
}
