package slice

import (
	"errors"
	"fmt"
	"github.com/stackslice/stackslice/stackmap"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
)

// Tests of the API's semantics. They run on whichever implementation the
// build selects: `go test` (engine), `go test -race` and `-tags purego`
// (fallback).

func TestEngineSelectedWhereSupported(t *testing.T) {
	t.Log(Engine())
	v := runtime.Version()
	supported := (runtime.GOARCH == "amd64" || runtime.GOARCH == "arm64") && !raceEnabled && !puregoEnabled &&
		(strings.HasPrefix(v, "go1.26") || strings.HasPrefix(v, "go1.27"))
	if supported && !Engine().StackSlicing {
		t.Fatalf("the stack-slicing engine should run on %s %s/%s, but: %s", v, runtime.GOOS, runtime.GOARCH, Engine())
	}
	if !supported && Engine().StackSlicing {
		t.Fatalf("the engine runs on an unsupported build: %s", Engine())
	}
}

func TestGenerator(t *testing.T) {
	var got []int
	c := New(func() {
		for i := 0; i < 5; i++ {
			got = append(got, i)
			Yield()
		}
	})
	steps := 0
	for !c.Resume() {
		steps++
	}
	if steps != 5 || fmt.Sprint(got) != "[0 1 2 3 4]" || !c.Done() {
		t.Fatalf("steps=%d got=%v done=%v", steps, got, c.Done())
	}
}

func TestCurrent(t *testing.T) {
	if Current() != nil {
		t.Fatal("Current outside a coroutine is not nil")
	}
	var outer, inner *Coroutine
	var seenOuter, seenInner, seenOuterAfter *Coroutine
	inner = New(func() {
		seenInner = Current()
		Yield()
	})
	outer = New(func() {
		seenOuter = Current()
		inner.Resume()
		seenOuterAfter = Current()
		Yield()
		inner.Resume()
	})
	outer.Resume()
	outer.Resume()
	if seenOuter != outer || seenInner != inner || seenOuterAfter != outer {
		t.Fatalf("Current: outer=%p inner=%p saw outer=%p inner=%p outerAfter=%p", outer, inner, seenOuter, seenInner, seenOuterAfter)
	}
	if !outer.Done() || !inner.Done() {
		t.Fatal("nested coroutines did not finish")
	}
}

func TestNestedYieldInterleaved(t *testing.T) {
	var log []string
	inner := New(func() {
		for i := 0; i < 3; i++ {
			log = append(log, fmt.Sprint("i", i))
			Yield()
		}
	})
	outer := New(func() {
		for !inner.Resume() {
			log = append(log, "o")
			Yield()
		}
	})
	for !outer.Resume() {
		runtime.GC()
	}
	if got := strings.Join(log, ","); got != "i0,o,i1,o,i2,o" {
		t.Fatalf("log %s", got)
	}
}

func mustPanic(t *testing.T, want string, f func()) {
	t.Helper()
	defer func() {
		t.Helper()
		r := recover()
		if r == nil {
			t.Fatalf("no panic, want one containing %q", want)
		}
		if !strings.Contains(fmt.Sprint(r), want) {
			t.Fatalf("panic %q, want one containing %q", r, want)
		}
	}()
	f()
}

func TestMisuse(t *testing.T) {
	mustPanic(t, "Yield called outside a coroutine", Yield)
	mustPanic(t, "nil function", func() { New(nil) })

	done := New(func() {})
	done.Resume()
	mustPanic(t, "Resume of a finished coroutine", func() { done.Resume() })

	var self *Coroutine
	self = New(func() { self.Resume() })
	mustPanic(t, "Resume of a running coroutine", func() { self.Resume() })
}

func TestConcurrentResume(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{})
	c := New(func() {
		close(started)
		<-release
	})
	go func() {
		defer func() { recover() }()
		c.Resume()
	}()
	<-started
	mustPanic(t, "Resume of a running coroutine", func() { c.Resume() })
	close(release)
}

func TestPanicPropagates(t *testing.T) {
	sentinel := errors.New("boom")
	c := New(func() {
		Yield()
		panicker(sentinel)
	})
	c.Resume()
	defer func() {
		r := recover()
		pe, ok := r.(*PanicError)
		if !ok {
			t.Fatalf("Resume panicked with %T %v, want *PanicError", r, r)
		}
		if !errors.Is(pe, sentinel) {
			t.Fatal("errors.Is does not see the panic value")
		}
		var target *PanicError
		if !errors.As(error(pe), &target) {
			t.Fatal("errors.As failed")
		}
		if !strings.Contains(string(pe.Stack), "panicker") {
			t.Fatalf("stack does not show the panicking function:\n%s", pe.Stack)
		}
		if !c.Done() {
			t.Fatal("panicked coroutine is not done")
		}
	}()
	c.Resume()
}

//go:noinline
func panicker(err error) { panic(err) }

func TestMigration(t *testing.T) {
	total := 0
	c := New(func() {
		for i := 0; i < 20; i++ {
			x := [8]int{i, i + 1}
			p := &x
			Yield()
			total += p[0] + p[1]
		}
	})
	for i := 0; !c.done(i); i++ {
	}
	if total != 400 {
		t.Fatalf("total %d", total)
	}
}

// done resumes c once from a goroutine chosen by step, at a stack depth
// chosen by step, and reports whether it finished.
func (c *Coroutine) done(step int) bool {
	res := make(chan bool)
	go func() { res <- atDepth(step%7*13, c.Resume) }()
	return <-res
}

//go:noinline
func atDepth(n int, f func() bool) bool {
	var pad [64]byte
	if n > 0 {
		return atDepth(n-1, f) && pad[n%64] == 0
	}
	return f()
}

func TestDefersAcrossYields(t *testing.T) {
	var log []string
	c := New(func() { deferringFunc(&log) })
	for i := 0; !c.done(i); i++ {
		runtime.GC()
	}
	want := "loop2,loop1,loop0,stack,open"
	if got := strings.Join(log, ","); got != want {
		t.Fatalf("deferred calls ran as %s, want %s", got, want)
	}
}

func deferringFunc(log *[]string) {
	defer func() { *log = append(*log, "open") }()
	stackDefer(log)
}

//go:noinline
func stackDefer(log *[]string) {
	msg := "stack"
	defer func() { *log = append(*log, msg) }()
	for i := 0; i < 3; i++ {
		defer func() { *log = append(*log, fmt.Sprint("loop", i)) }()
		Yield()
	}
	Yield()
}

func TestStackObjectsPointingToEachOther(t *testing.T) {
	type node struct {
		v    int
		next *node
		s    []int
	}
	var got []int
	c := New(func() {
		a := node{v: 1, s: make([]int, 3)}
		b := node{v: 2, next: &a}
		a.next = &b
		p := &a
		for i := 0; i < 4; i++ {
			Yield()
			runtime.GC()
			got = append(got, p.v, p.next.v, p.next.next.v, len(p.s))
		}
	})
	for i := 0; !c.done(i); i++ {
	}
	if fmt.Sprint(got) != fmt.Sprint([]int{1, 2, 1, 3, 1, 2, 1, 3, 1, 2, 1, 3, 1, 2, 1, 3}) {
		t.Fatalf("got %v", got)
	}
}

func TestLargeRegionOnSmallCarrier(t *testing.T) {
	sum := 0
	c := New(func() { bigFrame(&sum) })
	for i := 0; !c.done(i); i++ {
	}
	if sum != 3*(4095*4096/2) {
		t.Fatalf("sum %d", sum)
	}
}

//go:noinline
func bigFrame(sum *int) {
	var big [4096]int
	for i := range big {
		big[i] = i
	}
	p := &big
	for k := 0; k < 3; k++ {
		Yield()
		for _, v := range p {
			*sum += v
		}
	}
}

func TestCoroutineGrowsStackWhileRunning(t *testing.T) {
	got := 0
	c := New(func() {
		Yield()
		got = recurse(5000)
		Yield()
		got += recurse(10)
	})
	for i := 0; !c.done(i); i++ {
	}
	if got != 5000+10 {
		t.Fatalf("got %d", got)
	}
}

//go:noinline
func recurse(n int) int {
	if n == 0 {
		return 0
	}
	return recurse(n-1) + 1
}

func TestReflectFrameRefused(t *testing.T) {
	if !Engine().StackSlicing {
		t.Skip("the fallback can yield through reflect frames")
	}
	var fn func()
	reflect.ValueOf(&fn).Elem().Set(reflect.MakeFunc(reflect.TypeOf(fn), func([]reflect.Value) []reflect.Value {
		Yield()
		return nil
	}))
	c := New(fn)
	mustPanic(t, "reflect", func() { c.Resume() })
}

func TestYieldInPanickingDeferRefused(t *testing.T) {
	if !Engine().StackSlicing {
		t.Skip("the fallback can yield during a panic")
	}
	c := New(func() {
		defer func() {
			Yield()
		}()
		panic("first")
	})
	mustPanic(t, "Yield called from a deferred function", func() { c.Resume() })
}

func TestSizeIsSmall(t *testing.T) {
	c := New(func() { Yield() })
	c.Resume()
	size := c.Size()
	t.Logf("suspended coroutine: %d bytes (%s)", size, Engine())
	if Engine().StackSlicing && (size <= 0 || size > 1024) {
		t.Fatalf("Size %d, want a few hundred bytes", size)
	}
	c.Resume()
}

func TestManyGoroutinesManyCoroutines(t *testing.T) {
	const carriers, per, rounds = 4, 50, 10
	var wg sync.WaitGroup
	errs := make(chan error, carriers)
	for g := 0; g < carriers; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cs := make([]*Coroutine, per)
			sums := make([]int, per)
			for i := range cs {
				cs[i] = New(func() {
					buf := make([]int, 4)
					for r := 0; r < rounds; r++ {
						buf[r%4] += r
						Yield()
					}
					sums[i] = buf[0] + buf[1] + buf[2] + buf[3]
				})
			}
			for r := 0; r <= rounds; r++ {
				for _, c := range cs {
					if !c.Done() {
						c.Resume()
					}
				}
			}
			for i, s := range sums {
				if s != 45 {
					errs <- fmt.Errorf("coroutine %d sum %d", i, s)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func TestCallersOfSuspended(t *testing.T) {
	c := New(func() { callersHelper() })
	if c.Callers() != nil {
		t.Fatal("Callers of a new coroutine is not nil")
	}
	c.Resume()
	defer c.Resume()
	pcs := c.Callers()
	if !Engine().StackSlicing {
		if pcs != nil {
			t.Fatal("fallback returned callers")
		}
		return
	}
	var names []string
	frames := runtime.CallersFrames(pcs)
	for {
		f, more := frames.Next()
		names = append(names, f.Function)
		if !more {
			break
		}
	}
	got := strings.Join(names, " <- ")
	for _, want := range []string{"slice.Yield", "slice.callersHelper", "slice.TestCallersOfSuspended.func1"} {
		if !strings.Contains(got, want) {
			t.Fatalf("callers %s lack %s", got, want)
		}
	}
	if strings.Contains(got, "resumeSlice") {
		t.Fatalf("callers %s reach into the carrier", got)
	}
}

//go:noinline
func callersHelper() { Yield() }

// A coroutine whose saved region goes from small to past the size classes
// and back keeps every value: blocks are reused while they fit, replaced
// when they do not, and a large block records its size apart from the
// classes. Run with each compression mode too (packing drops the class and
// unpacking picks a new one).
func TestBlockSizesAcrossYields(t *testing.T) {
	for _, m := range []Compression{CompressNone, CompressS2, CompressTemplate} {
		t.Run(m.String(), func(t *testing.T) {
			withMode(t, m)
			var got []int
			c := New(func() {
				for _, n := range []int{1, 5000, 3, 300, 8000, 2} {
					got = append(got, frameOf(n))
				}
			})
			var sizes []int
			for i := 0; !c.done(i); i++ {
				sizes = append(sizes, c.Size())
			}
			if Engine().StackSlicing && m == CompressNone && (slices.Max(sizes) < 64<<10 || slices.Min(sizes) > 1024) {
				t.Fatalf("saved sizes %v: want some past the size classes and some small", sizes)
			}
			want := []int{1, 5000, 3, 300, 8000, 2}
			for i := range want {
				want[i] = want[i] * (want[i] - 1) / 2 * 2
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("got %v, want %v", got, want)
			}
		})
	}
}

// frameOf recurses n deep, each frame holding its index live and a pointer
// to its caller's (a word to relocate), yields twice at the bottom and sums
// the indexes (times 2) on the way back.
func frameOf(n int) int { return depthSum(0, n, nil) }

//go:noinline
func depthSum(i, n int, up *int) int {
	v := i
	s := 0
	if i == n-1 {
		Yield()
		Yield()
	} else {
		s = depthSum(i+1, n, &v)
	}
	if up != nil && *up != i-1 {
		panic(fmt.Sprintf("frame %d: caller's value %d through its pointer", i, *up))
	}
	return s + v*2
}

// Coroutines parked at different places with regions of the same length
// share one plan cache set but not one plan: switching between them in
// turn must not rebuild their plans every time.
func TestPlansOfEqualSizeDoNotEvictEachOther(t *testing.T) {
	if !Engine().StackSlicing {
		t.Skip("the fallback keeps no plans")
	}
	var a, b [4]int
	ca := New(func() {
		for {
			parkHereA(&a)
		}
	})
	cb := New(func() {
		for {
			parkHereB(&b)
		}
	})
	ca.Resume()
	cb.Resume()
	before := stackmap.Builds()
	for i := 0; i < 1000; i++ {
		ca.Resume()
		cb.Resume()
	}
	if n := stackmap.Builds() - before; n > 10 {
		t.Fatalf("%d plans built for 2000 switches between two parking places", n)
	}
	if ca.Size() != cb.Size() {
		t.Logf("note: the two regions differ in size (%d, %d): the test does not exercise a shared set", ca.Size(), cb.Size())
	}
}

//go:noinline
func parkHereA(p *[4]int) {
	x := *p
	Yield()
	x[0]++
	*p = x
}

//go:noinline
func parkHereB(p *[4]int) {
	x := *p
	Yield()
	x[1]++
	*p = x
}

// Owner returns what the current ResumeFor passed, across yields, stack
// growth, GC and resumes on other goroutines; nil in a nested coroutine
// resumed with Resume, and outside any.
func TestOwner(t *testing.T) {
	type rec struct{ n int }
	if Owner() != nil {
		t.Fatal("Owner outside any coroutine is not nil")
	}
	var got []any
	var inner any = "unset"
	var c *Coroutine
	c = New(func() {
		for i := 0; i < 3; i++ {
			got = append(got, Owner())
			deep(200) // grow the carrier's stack while running
			runtime.GC()
			got = append(got, Owner())
			n := New(func() { inner = Owner() })
			n.Resume()
			Yield()
		}
	})
	for i := 0; i < 3; i++ {
		done := make(chan bool)
		o := &rec{i}
		go func() { done <- c.ResumeFor(o) }()
		if <-done {
			t.Fatal("coroutine finished early")
		}
		if got[2*i] != any(o) || got[2*i+1] != any(o) {
			t.Fatalf("resume %d: Owner returned %v and %v, want %v", i, got[2*i], got[2*i+1], o)
		}
		if inner != nil {
			t.Fatalf("a nested coroutine resumed with Resume sees Owner %v, want nil", inner)
		}
	}
	if !c.Resume() {
		t.Fatal("coroutine did not finish")
	}
}

//go:noinline
func deep(n int) int {
	var pad [64]byte
	if n == 0 {
		return int(pad[0])
	}
	return deep(n-1) + int(pad[n%64])
}
