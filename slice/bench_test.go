package slice_test

import (
	"fmt"
	"iter"
	"runtime"
	"runtime/debug"
	"sync"
	"testing"

	"github.com/stackslice/stackslice/slice"
)

// Benchmarks comparing stack-slicing coroutines with iter.Pull (the runtime's
// goroutine-based coroutines) and plain goroutines with channels. Run them
// with, for example:
//
//	go test -run XXX -bench Switch -count 10 ./slice/ | tee new.txt; benchstat new.txt
//	go test -run XXX -bench Idle -benchtime 1x ./slice/
//
// BenchmarkIdle is a memory measurement: run it with -benchtime 1x and read
// its B/coroutine metric; its ns/op is the time to create, suspend, resume and
// check all the coroutines.

// switchDepths are the call depths at which BenchmarkSwitch yields.
var switchDepths = []int{1, 3, 10, 30}

// recurse calls itself so that depth frames (each with a small local) lie
// between its caller and the call of f, and returns a value that depends on
// the locals so the frames are real.
//
//go:noinline
func recurse(depth int, f func()) int {
	var local [2]int
	local[depth&1] = depth
	if depth > 1 {
		return recurse(depth-1, f) + local[depth&1]
	}
	f()
	return local[depth&1]
}

// BenchmarkSwitch measures one round trip into a suspended coroutine and
// back: Resume and Yield (slice), next and yield (iterpull), or a request and
// reply between two goroutines (chan), with the yield (or reply) made depth
// calls below the coroutine's (or worker's) function.
func BenchmarkSwitch(b *testing.B) {
	b.Run("slice", func(b *testing.B) {
		for _, depth := range switchDepths {
			b.Run(fmt.Sprintf("depth=%d", depth), func(b *testing.B) { benchSwitchSlice(b, depth) })
		}
	})
	b.Run("slice-compressed", func(b *testing.B) {
		b.Run("depth=3", func(b *testing.B) { benchSwitchSliceMode(b, 3, slice.CompressTemplate) })
	})
	b.Run("slice-defer", func(b *testing.B) {
		b.Run("depth=3", func(b *testing.B) { benchSwitchSliceDefer(b, 3) })
	})
	b.Run("iterpull", func(b *testing.B) {
		for _, depth := range switchDepths {
			b.Run(fmt.Sprintf("depth=%d", depth), func(b *testing.B) { benchSwitchIterPull(b, depth) })
		}
	})
	b.Run("chan", func(b *testing.B) {
		for _, depth := range switchDepths {
			b.Run(fmt.Sprintf("depth=%d", depth), func(b *testing.B) { benchSwitchChan(b, depth) })
		}
	})
}

func benchSwitchSlice(b *testing.B, depth int) { benchSwitchSliceMode(b, depth, slice.CompressNone) }

// benchSwitchSliceMode measures a round trip of a coroutine that, with a
// compression mode, is packed at every yield (SetCompression): each Resume
// unpacks it, and its next yield packs it again.
func benchSwitchSliceMode(b *testing.B, depth int, mode slice.Compression) {
	stop := false
	rounds := 0
	c := slice.New(func() {
		for !stop {
			recurse(depth, slice.Yield)
			rounds++
		}
	})
	if mode != slice.CompressNone {
		c.SetCompression(mode)
	}
	measureRoundTrips(b, c, &stop, &rounds)
}

// measureRoundTrips times b.N round trips into c, a coroutine that yields
// once per round, counts its rounds in *rounds and finishes once *stop is
// set; it checks that c ran one round per Resume.
func measureRoundTrips(b *testing.B, c *slice.Coroutine, stop *bool, rounds *int) {
	if c.Resume() {
		b.Fatal("coroutine finished before its first yield")
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c.Resume()
	}
	b.StopTimer()
	*stop = true
	if !c.Resume() {
		b.Fatal("coroutine did not finish")
	}
	if *rounds != b.N+1 {
		b.Fatalf("coroutine ran %d rounds, want %d", *rounds, b.N+1)
	}
}

// benchSwitchSliceDefer is benchSwitchSlice with a deferred closure in a
// frame under the yield: the closure is a stack object, as in any handler
// with a defer (defer conn.Close(), defer mu.Unlock()), so the save must
// find whether it is live.
func benchSwitchSliceDefer(b *testing.B, depth int) {
	stop := false
	rounds, deferred := 0, 0
	c := slice.New(func() {
		for !stop {
			withDefer(depth, &deferred)
			rounds++
		}
	})
	measureRoundTrips(b, c, &stop, &rounds)
	if deferred != rounds {
		b.Fatalf("coroutine ran %d rounds and %d defers", rounds, deferred)
	}
}

// withDefer yields depth calls below a frame with a deferred closure.
//
//go:noinline
func withDefer(depth int, n *int) {
	defer func() { *n++ }()
	recurse(depth, slice.Yield)
}

func benchSwitchIterPull(b *testing.B, depth int) {
	next, stop := iter.Pull(func(yield func(int) bool) {
		ok := true
		v := 0
		f := func() { ok = yield(v) }
		for ok {
			recurse(depth, f)
			v++
		}
	})
	defer stop()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if v, ok := next(); !ok || v != i {
			b.Fatalf("next() = %d, %v; want %d, true", v, ok, i)
		}
	}
	b.StopTimer()
	stop()
	if _, ok := next(); ok {
		b.Fatal("iterator still running after stop")
	}
}

func benchSwitchChan(b *testing.B, depth int) {
	req := make(chan int)
	resp := make(chan int)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for v := range req {
			recurse(depth, func() { resp <- v + 1 })
		}
	}()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req <- i
		if v := <-resp; v != i+1 {
			b.Fatalf("worker replied %d, want %d", v, i+1)
		}
	}
	b.StopTimer()
	close(req)
	<-done
}

// idleDepth is the call depth at which BenchmarkIdle's coroutines (and
// goroutines, and iterators) are suspended.
const idleDepth = 5

// idleCount is the number of suspended coroutines BenchmarkIdle measures
// (idleCountShort with -short).
const (
	idleCount      = 100_000
	idleCountShort = 10_000
)

// idleObj is the data each suspended coroutine points to. It is allocated
// before the baseline measurement, so that B/coroutine counts only what it
// costs to keep a computation suspended.
type idleObj struct{ v int }

// idleFrame recurses to depth frames (holding two pointers and an int in each),
// calls wait at the bottom, and returns a value computed from its frames.
//
//go:noinline
func idleFrame(depth int, p, q *idleObj, n int, wait func()) int {
	if depth > 1 {
		return idleFrame(depth-1, q, p, n+1, wait) + p.v
	}
	wait()
	return p.v + q.v + n
}

// idleEnv is what BenchmarkIdle's coroutine functions share. Each function
// value holds a pointer to it and an index (24 bytes), as a server's
// handler would hold its connection, rather than copies of both slice
// headers (64 bytes).
type idleEnv struct {
	objs    []idleObj
	results []int
}

func (e *idleEnv) run(i int) {
	e.results[i] = idleFrame(idleDepth, &e.objs[i], &e.objs[i+1], 0, slice.Yield)
}

// idleWant is idleFrame's result for p.v = a, q.v = b.
func idleWant(depth, a, b int) int {
	r := 0
	for d := depth; d > 1; d-- {
		r += a
		a, b = b, a
	}
	return r + a + b + depth - 1
}

// memInUse returns the bytes of live heap objects and of the goroutine stacks
// in use, after two collections (FreeOSMemory runs one and returns freed memory
// to the OS). HeapAlloc counts what live objects occupy (with size-class
// rounding) rather than whole spans, so it is not blurred by fragmentation
// left over from earlier work; StackInuse counts goroutine stacks, which
// HeapAlloc does not.
func memInUse() (heap, stack uint64) {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc, ms.StackInuse
}

// BenchmarkIdle measures what a suspended computation costs: N coroutines
// (slice), parked goroutines (goroutine) or iter.Pull iterators (iterpull),
// each suspended idleDepth calls deep. It reports the heap and stack bytes in
// use per suspended computation (B/coroutine; stack-B/coroutine is the stack
// part of it), then resumes every one and checks its result. Run it with
// -benchtime 1x.
//
// Goroutine stacks start at a size the runtime adapts at each GC to the
// average stack use it saw (GODEBUG=adaptivestackstart): the first 100,000
// goroutines of a process get 2 KiB stacks, but once a GC has seen them, new
// goroutines (and iter.Pull's) start with 4 KiB. So goroutine and iterpull
// report more with -count above 1 than in a single run.
func BenchmarkIdle(b *testing.B) {
	n := idleCount
	if testing.Short() {
		n = idleCountShort
	}
	for _, kind := range []string{"slice", "slice-s2", "slice-zstd", "slice-template", "goroutine", "iterpull"} {
		b.Run(kind, func(b *testing.B) {
			objs := make([]idleObj, n+1)
			for i := range objs {
				objs[i].v = i
			}
			results := make([]int, n)
			b.ReportAllocs()
			var total, stack float64
			for i := 0; i < b.N; i++ {
				clear(results)
				heapEach, stackEach, err := idleRun(kind, objs, results)
				if err != nil {
					b.Fatal(err)
				}
				total += heapEach + stackEach
				stack += stackEach
			}
			b.ReportMetric(total/float64(b.N), "B/coroutine")
			b.ReportMetric(stack/float64(b.N), "stack-B/coroutine")
		})
	}
}

// idleRun suspends len(results) computations of the given kind, measures the
// heap and stack bytes each holds, then finishes them all and checks their
// results.
func idleRun(kind string, objs []idleObj, results []int) (heapEach, stackEach float64, err error) {
	n := len(results)
	heap0, stack0 := memInUse()
	var heap1, stack1 uint64
	switch kind {
	case "slice", "slice-s2", "slice-zstd", "slice-template":
		mode := map[string]slice.Compression{"slice": slice.CompressNone, "slice-s2": slice.CompressS2,
			"slice-zstd": slice.CompressZstd, "slice-template": slice.CompressTemplate}[kind]
		env := &idleEnv{objs, results}
		cs := make([]*slice.Coroutine, n)
		for i := range cs {
			cs[i] = slice.New(func() { env.run(i) })
			if cs[i].Resume() {
				return 0, 0, fmt.Errorf("coroutine %d finished before yielding", i)
			}
			if mode != slice.CompressNone && !cs[i].Compress(mode) && slice.Engine().StackSlicing {
				return 0, 0, fmt.Errorf("coroutine %d: Compress(%v) did not pack", i, mode)
			}
		}
		heap1, stack1 = memInUse()
		for i, c := range cs {
			if !c.Resume() {
				return 0, 0, fmt.Errorf("coroutine %d yielded again", i)
			}
		}
	case "goroutine":
		release := make(chan struct{})
		var parked, exited sync.WaitGroup
		parked.Add(n)
		exited.Add(n)
		for i := 0; i < n; i++ {
			go func() {
				defer exited.Done()
				results[i] = idleFrame(idleDepth, &objs[i], &objs[i+1], 0, func() {
					parked.Done()
					<-release
				})
			}()
		}
		parked.Wait()
		heap1, stack1 = memInUse()
		close(release)
		exited.Wait()
	case "iterpull":
		type iterator struct {
			next func() (int, bool)
			stop func()
		}
		its := make([]iterator, n)
		for i := range its {
			its[i].next, its[i].stop = iter.Pull(func(yield func(int) bool) {
				results[i] = idleFrame(idleDepth, &objs[i], &objs[i+1], 0, func() { yield(i) })
			})
			if v, ok := its[i].next(); !ok || v != i {
				return 0, 0, fmt.Errorf("iterator %d: next() = %d, %v", i, v, ok)
			}
		}
		heap1, stack1 = memInUse()
		for i, it := range its {
			if _, ok := it.next(); ok {
				return 0, 0, fmt.Errorf("iterator %d yielded twice", i)
			}
			it.stop()
		}
	default:
		panic("unknown kind " + kind)
	}
	for i, r := range results {
		if want := idleWant(idleDepth, i, i+1); r != want {
			return 0, 0, fmt.Errorf("%s %d computed %d, want %d", kind, i, r, want)
		}
	}
	return (float64(heap1) - float64(heap0)) / float64(n), (float64(stack1) - float64(stack0)) / float64(n), nil
}

// BenchmarkCreate measures a short-lived coroutine's whole life: create it,
// run it to its one yield, and let it finish; for goroutine, start a
// goroutine that signals once, waits for one message and exits.
func BenchmarkCreate(b *testing.B) {
	b.Run("slice", func(b *testing.B) {
		steps := 0
		fn := func() {
			steps++
			slice.Yield()
			steps++
		}
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			c := slice.New(fn)
			if c.Resume() {
				b.Fatal("coroutine finished before yielding")
			}
			if !c.Resume() {
				b.Fatal("coroutine yielded twice")
			}
		}
		if steps != 2*b.N {
			b.Fatalf("steps = %d, want %d", steps, 2*b.N)
		}
	})
	b.Run("goroutine", func(b *testing.B) {
		ready := make(chan struct{})
		msg := make(chan struct{})
		exited := make(chan struct{})
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			go func() {
				ready <- struct{}{}
				<-msg
				exited <- struct{}{}
			}()
			<-ready
			msg <- struct{}{}
			<-exited
		}
	})
}
