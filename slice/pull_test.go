package slice

import (
	"fmt"
	"iter"
	"runtime"
	"strings"
	"testing"
)

// Every case of Go's own iter/pull_test.go, run against Pull and Pull2 and,
// as the reference, against iter.Pull and iter.Pull2 in the same table: each
// expectation is iter's own behaviour, and slice must match it on the engine
// (go test) and on the fallback (-tags purego, -race). The only expected
// difference is that the engine starts no goroutine.

// pullImpl is one implementation of Pull and Pull2.
type pullImpl struct {
	name  string // the prefix of its misuse messages: "iter" or "slice"
	pull  func(iter.Seq[int]) (func() (int, bool), func())
	pull2 func(iter.Seq2[int, int64]) (func() (int, int64, bool), func())
	// goroutines is how many goroutines one live iterator holds.
	goroutines int
}

func pullImpls() []pullImpl {
	ours := 1 // the fallback runs each coroutine on a goroutine
	if Engine().StackSlicing {
		ours = 0
	}
	return []pullImpl{
		{"iter", iter.Pull[int], iter.Pull2[int, int64], 1},
		{"slice", Pull[int], Pull2[int, int64], ours},
	}
}

// forPullImpls runs f as a subtest for each implementation.
func forPullImpls(t *testing.T, f func(t *testing.T, impl pullImpl)) {
	for _, impl := range pullImpls() {
		t.Run(impl.name, func(t *testing.T) { f(t, impl) })
	}
}

func pullCount(n int) iter.Seq[int] {
	return func(yield func(int) bool) {
		for i := range n {
			if !yield(i) {
				break
			}
		}
	}
}

func pullSquares(n int) iter.Seq2[int, int64] {
	return func(yield func(int, int64) bool) {
		for i := range n {
			if !yield(i, int64(i)*int64(i)) {
				break
			}
		}
	}
}

// goroutineCounter checks how many goroutines the iterator under test holds,
// in units of impl.goroutines.
func goroutineCounter(t *testing.T, impl pullImpl) func(live int) {
	ng := stableNumGoroutine()
	return func(live int) {
		t.Helper()
		want := live * impl.goroutines
		if xg := runtime.NumGoroutine() - ng; xg != want {
			t.Errorf("have %d extra goroutines, want %d", xg, want)
		}
	}
}

func TestPullIterParity(t *testing.T) {
	forPullImpls(t, func(t *testing.T, impl pullImpl) {
		for end := 0; end <= 3; end++ {
			t.Run(fmt.Sprint(end), func(t *testing.T) {
				wantNG := goroutineCounter(t, impl)
				wantNG(0)
				next, stop := impl.pull(pullCount(3))
				wantNG(1)
				for i := range end {
					v, ok := next()
					if v != i || ok != true {
						t.Fatalf("next() = %d, %v, want %d, %v", v, ok, i, true)
					}
					wantNG(1)
				}
				wantNG(1)
				if end < 3 {
					stop()
					wantNG(0)
				}
				for range 2 {
					v, ok := next()
					if v != 0 || ok != false {
						t.Fatalf("next() = %d, %v, want %d, %v", v, ok, 0, false)
					}
					wantNG(0)
				}
				wantNG(0)

				stop()
				stop()
				stop()
				wantNG(0)
			})
		}
	})
}

func TestPull2IterParity(t *testing.T) {
	forPullImpls(t, func(t *testing.T, impl pullImpl) {
		for end := 0; end <= 3; end++ {
			t.Run(fmt.Sprint(end), func(t *testing.T) {
				wantNG := goroutineCounter(t, impl)
				wantNG(0)
				next, stop := impl.pull2(pullSquares(3))
				wantNG(1)
				for i := range end {
					k, v, ok := next()
					if k != i || v != int64(i*i) || ok != true {
						t.Fatalf("next() = %d, %d, %v, want %d, %d, %v", k, v, ok, i, i*i, true)
					}
					wantNG(1)
				}
				wantNG(1)
				if end < 3 {
					stop()
					wantNG(0)
				}
				for range 2 {
					k, v, ok := next()
					if v != 0 || ok != false {
						t.Fatalf("next() = %d, %d, %v, want %d, %d, %v", k, v, ok, 0, 0, false)
					}
					wantNG(0)
				}
				wantNG(0)

				stop()
				stop()
				stop()
				wantNG(0)
			})
		}
	})
}

// stableNumGoroutine is iter's: NumGoroutine once it has been the same 100
// times in a row between calls to runtime.Gosched.
func stableNumGoroutine() int {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))

	c := 0
	ng := runtime.NumGoroutine()
	for i := 0; i < 1000; i++ {
		nng := runtime.NumGoroutine()
		if nng == ng {
			c++
		} else {
			c = 0
			ng = nng
		}
		if c >= 100 {
			return ng
		}
		runtime.Gosched()
	}
	panic("failed to stabilize NumGoroutine after 1000 iterations")
}

// wantMisuse checks a recovered misuse panic: iter's message, with the
// implementation's name in front.
func wantMisuse(t *testing.T, r any, impl pullImpl, msg string) {
	t.Helper()
	want := impl.name + msg
	if s, ok := r.(string); !ok || !strings.HasPrefix(s, want) {
		t.Fatalf("panicked with %v, want %q", r, want)
	}
}

func TestPullDoubleNextIterParity(t *testing.T) {
	forPullImpls(t, func(t *testing.T, impl pullImpl) {
		var next func() (int, bool)
		var got any
		next, _ = impl.pull(func(func(int) bool) {
			defer func() { got = recover() }()
			next()
		})
		next()
		if got == nil {
			t.Fatal("double next did not fail")
		}
		wantMisuse(t, got, impl, ".Pull: next called again before yield")
	})
}

func TestPullDoubleNext2IterParity(t *testing.T) {
	forPullImpls(t, func(t *testing.T, impl pullImpl) {
		var next func() (int, int64, bool)
		var got any
		next, _ = impl.pull2(func(func(int, int64) bool) {
			defer func() { got = recover() }()
			next()
		})
		next()
		if got == nil {
			t.Fatal("double next did not fail")
		}
		wantMisuse(t, got, impl, ".Pull2: next called again before yield")
	})
}

// A double next that seq does not recover reaches the caller of next.
func TestPullDoubleNextUnrecoveredIterParity(t *testing.T) {
	forPullImpls(t, func(t *testing.T, impl pullImpl) {
		var next func() (int, bool)
		next, stop := impl.pull(func(func(int) bool) { next() })
		defer stop()
		r := recovered(func() { next() })
		wantMisuse(t, r, impl, ".Pull: next called again before yield")
		if _, ok := next(); ok {
			t.Fatal("next returned true after the iterator panicked")
		}
	})
}

func TestPullDoubleYieldIterParity(t *testing.T) {
	forPullImpls(t, func(t *testing.T, impl pullImpl) {
		var yieldSlot func(int) bool
		next, stop := impl.pull(func(yield func(int) bool) {
			yieldSlot = yield
			if !yield(5) {
				return
			}
		})
		next()
		if yieldSlot == nil {
			t.Fatal("yield failed")
		}
		r := recovered(func() { yieldSlot(5) })
		stop()
		if r == nil {
			t.Fatal("double yield did not fail")
		}
		wantMisuse(t, r, impl, ".Pull: yield called again before next")
	})
}

func TestPullDoubleYield2IterParity(t *testing.T) {
	forPullImpls(t, func(t *testing.T, impl pullImpl) {
		var yieldSlot func(int, int64) bool
		next, stop := impl.pull2(func(yield func(int, int64) bool) {
			yieldSlot = yield
			if !yield(23, 77) {
				return
			}
		})
		next()
		if yieldSlot == nil {
			t.Fatal("yield failed")
		}
		r := recovered(func() { yieldSlot(23, 77) })
		stop()
		if r == nil {
			t.Fatal("double yield did not fail")
		}
		wantMisuse(t, r, impl, ".Pull2: yield called again before next")
	})
}

// After stop (or the end), a kept yield function returns false.
func TestPullYieldAfterStopIterParity(t *testing.T) {
	forPullImpls(t, func(t *testing.T, impl pullImpl) {
		var yieldSlot func(int) bool
		next, stop := impl.pull(func(yield func(int) bool) {
			yieldSlot = yield
			for i := 0; yield(i); i++ {
			}
		})
		next()
		stop()
		if yieldSlot(7) {
			t.Fatal("yield returned true after stop")
		}
		if v, ok := next(); v != 0 || ok {
			t.Fatalf("next() = %d, %v after stop, want 0, false", v, ok)
		}
	})
}

// recovered runs f and returns what it panicked with.
func recovered(f func()) (r any) {
	defer func() { r = recover() }()
	f()
	return nil
}

// A panic value no other code could produce: iter's tests compare with ==.
type pullBoom struct{ n int }

var boom = &pullBoom{1}

func pullPanicSeq() iter.Seq[int] {
	return func(yield func(int) bool) {
		panic(boom)
	}
}

func pullPanicCleanupSeq() iter.Seq[int] {
	return func(yield func(int) bool) {
		for {
			if !yield(55) {
				panic(boom)
			}
		}
	}
}

func pullPanicSeq2() iter.Seq2[int, int64] {
	return func(yield func(int, int64) bool) {
		panic(boom)
	}
}

func pullPanicCleanupSeq2() iter.Seq2[int, int64] {
	return func(yield func(int, int64) bool) {
		for {
			if !yield(55, 100) {
				panic(boom)
			}
		}
	}
}

// panicsWith reports whether f panicked with exactly v (the same value, not
// a wrapper of it).
func panicsWith(t *testing.T, v any, f func()) bool {
	t.Helper()
	r := recovered(f)
	if r != nil && r != v {
		t.Fatalf("panicked with %T %v, want %T %v itself", r, r, v, v)
	}
	return r != nil
}

func TestPullPanicIterParity(t *testing.T) {
	forPullImpls(t, func(t *testing.T, impl pullImpl) {
		t.Run("next", func(t *testing.T) {
			next, stop := impl.pull(pullPanicSeq())
			if !panicsWith(t, boom, func() { next() }) {
				t.Fatal("failed to propagate panic on first next")
			}
			if _, ok := next(); ok {
				t.Fatal("next returned true after iterator panicked")
			}
			stop()
		})
		t.Run("stop", func(t *testing.T) {
			next, stop := impl.pull(pullPanicCleanupSeq())
			x, ok := next()
			if !ok || x != 55 {
				t.Fatalf("expected (55, true) from next, got (%d, %t)", x, ok)
			}
			if !panicsWith(t, boom, func() { stop() }) {
				t.Fatal("failed to propagate panic on stop")
			}
			if _, ok := next(); ok {
				t.Fatal("next returned true after iterator panicked")
			}
			stop()
		})
	})
}

func TestPull2PanicIterParity(t *testing.T) {
	forPullImpls(t, func(t *testing.T, impl pullImpl) {
		t.Run("next", func(t *testing.T) {
			next, stop := impl.pull2(pullPanicSeq2())
			if !panicsWith(t, boom, func() { next() }) {
				t.Fatal("failed to propagate panic on first next")
			}
			if _, _, ok := next(); ok {
				t.Fatal("next returned true after iterator panicked")
			}
			stop()
		})
		t.Run("stop", func(t *testing.T) {
			next, stop := impl.pull2(pullPanicCleanupSeq2())
			x, y, ok := next()
			if !ok || x != 55 || y != 100 {
				t.Fatalf("expected (55, 100, true) from next, got (%d, %d, %t)", x, y, ok)
			}
			if !panicsWith(t, boom, func() { stop() }) {
				t.Fatal("failed to propagate panic on stop")
			}
			if _, _, ok := next(); ok {
				t.Fatal("next returned true after iterator panicked")
			}
			stop()
		})
	})
}

// A panic in seq after a yield, with next called on another goroutine than
// the one that started seq: the value still arrives as it is.
func TestPullPanicAfterMigrationIterParity(t *testing.T) {
	forPullImpls(t, func(t *testing.T, impl pullImpl) {
		next, stop := impl.pull(func(yield func(int) bool) {
			yield(1)
			panic(boom)
		})
		defer stop()
		next()
		got := make(chan any)
		go func() { got <- recovered(func() { next() }) }()
		if r := <-got; r != boom {
			t.Fatalf("next on another goroutine panicked with %T %v, want %v itself", r, r, boom)
		}
	})
}

func pullGoexitSeq() iter.Seq[int] {
	return func(yield func(int) bool) {
		runtime.Goexit()
	}
}

func pullGoexitCleanupSeq() iter.Seq[int] {
	return func(yield func(int) bool) {
		for {
			if !yield(55) {
				runtime.Goexit()
			}
		}
	}
}

func pullGoexitSeq2() iter.Seq2[int, int64] {
	return func(yield func(int, int64) bool) {
		runtime.Goexit()
	}
}

func pullGoexitCleanupSeq2() iter.Seq2[int, int64] {
	return func(yield func(int, int64) bool) {
		for {
			if !yield(55, 100) {
				runtime.Goexit()
			}
		}
	}
}

// goexits reports whether f, run on a new goroutine, ended it by
// runtime.Goexit (neither returned nor panicked).
func goexits(t *testing.T, f func()) bool {
	t.Helper()

	exit := make(chan bool)
	go func() {
		cleanExit := false
		defer func() {
			exit <- recover() == nil && !cleanExit
		}()
		f()
		cleanExit = true
	}()
	return <-exit
}

func TestPullGoexitIterParity(t *testing.T) {
	forPullImpls(t, func(t *testing.T, impl pullImpl) {
		t.Run("next", func(t *testing.T) {
			var next func() (int, bool)
			var stop func()
			if !goexits(t, func() {
				next, stop = impl.pull(pullGoexitSeq())
				next()
			}) {
				t.Fatal("failed to Goexit from next")
			}
			if x, ok := next(); x != 0 || ok {
				t.Fatal("iterator returned valid value after iterator Goexited")
			}
			stop()
		})
		t.Run("stop", func(t *testing.T) {
			next, stop := impl.pull(pullGoexitCleanupSeq())
			x, ok := next()
			if !ok || x != 55 {
				t.Fatalf("expected (55, true) from next, got (%d, %t)", x, ok)
			}
			if !goexits(t, func() {
				stop()
			}) {
				t.Fatal("failed to Goexit from stop")
			}
			if x, ok := next(); x != 0 || ok {
				t.Fatal("next returned true or non-zero value after iterator Goexited")
			}
			stop()
		})
	})
}

func TestPull2GoexitIterParity(t *testing.T) {
	forPullImpls(t, func(t *testing.T, impl pullImpl) {
		t.Run("next", func(t *testing.T) {
			var next func() (int, int64, bool)
			var stop func()
			if !goexits(t, func() {
				next, stop = impl.pull2(pullGoexitSeq2())
				next()
			}) {
				t.Fatal("failed to Goexit from next")
			}
			if x, y, ok := next(); x != 0 || y != 0 || ok {
				t.Fatal("iterator returned valid value after iterator Goexited")
			}
			stop()
		})
		t.Run("stop", func(t *testing.T) {
			next, stop := impl.pull2(pullGoexitCleanupSeq2())
			x, y, ok := next()
			if !ok || x != 55 || y != 100 {
				t.Fatalf("expected (55, 100, true) from next, got (%d, %d, %t)", x, y, ok)
			}
			if !goexits(t, func() {
				stop()
			}) {
				t.Fatal("failed to Goexit from stop")
			}
			if x, y, ok := next(); x != 0 || y != 0 || ok {
				t.Fatal("next returned true or non-zero after iterator Goexited")
			}
			stop()
		})
	})
}

// The deferred calls of seq and of the caller of next run during the
// Goexit, innermost first, as for any Goexit.
func TestPullGoexitRunsDefersIterParity(t *testing.T) {
	forPullImpls(t, func(t *testing.T, impl pullImpl) {
		var log []string
		next, stop := impl.pull(func(yield func(int) bool) {
			defer func() { log = append(log, "seq") }()
			yield(1)
			runtime.Goexit()
		})
		next()
		if !goexits(t, func() {
			defer func() { log = append(log, "caller") }()
			next()
		}) {
			t.Fatal("failed to Goexit from next")
		}
		if got := strings.Join(log, ","); got != "seq,caller" {
			t.Fatalf("deferred calls ran as %s, want seq,caller", got)
		}
		stop()
	})
}

func TestPullImmediateStopIterParity(t *testing.T) {
	forPullImpls(t, func(t *testing.T, impl pullImpl) {
		wantNG := goroutineCounter(t, impl)
		next, stop := impl.pull(pullPanicSeq())
		stop()
		wantNG(0)
		if _, ok := next(); ok {
			t.Fatal("next returned true after iterator was stopped")
		}
	})
}

func TestPull2ImmediateStopIterParity(t *testing.T) {
	forPullImpls(t, func(t *testing.T, impl pullImpl) {
		wantNG := goroutineCounter(t, impl)
		next, stop := impl.pull2(pullPanicSeq2())
		stop()
		wantNG(0)
		if _, _, ok := next(); ok {
			t.Fatal("next returned true after iterator was stopped")
		}
	})
}

func BenchmarkPull(b *testing.B) {
	for _, impl := range pullImpls() {
		b.Run(impl.name, func(b *testing.B) {
			seq := pullCount(1)
			for range b.N {
				_, stop := impl.pull(seq)
				stop()
			}
		})
	}
}

func BenchmarkPull2(b *testing.B) {
	for _, impl := range pullImpls() {
		b.Run(impl.name, func(b *testing.B) {
			seq := pullSquares(1)
			for range b.N {
				_, stop := impl.pull2(seq)
				stop()
			}
		})
	}
}

// stop called from inside seq (while next runs) panics with a message that
// names it (iter.Pull's stop would switch back to the caller of next and
// leave seq suspended for good, so this is slice's own); the panic reaches
// the caller of next as seq's, and the iterator is finished.
func TestPullStopInsideSeq(t *testing.T) {
	var stop func()
	next, stop := Pull(func(yield func(int) bool) {
		yield(1)
		stop()
	})
	next()
	r := recovered(func() { next() })
	if s, ok := r.(string); !ok || !strings.HasPrefix(s, "slice.Pull: stop called while next runs") {
		t.Fatalf("next panicked with %v, want slice.Pull: stop called while next runs", r)
	}
	if _, ok := next(); ok {
		t.Fatal("next returned true after the iterator panicked")
	}
	stop()
}
