// Command idle shows what a suspended computation costs: it suspends many
// stack-slicing coroutines a few calls deep and measures the memory they
// hold, next to the same number of parked goroutines and iter.Pull
// iterators doing the same work, then resumes every one and checks its
// result.
//
//	go run ./examples/idle              # 100,000 of each, 5 calls deep
//	go run ./examples/idle -n 1000000 -depth 20
//	go run ./examples/idle -json
//	go run ./examples/idle -idlecpu -n 300000 -json   # CPU used by 300,000 idle sched tasks
//
// Memory is measured as BenchmarkIdle in package slice measures it: live heap
// bytes plus goroutine stack bytes (runtime.MemStats HeapAlloc + StackInuse)
// after two collections, once before creating the computations and once when
// all are suspended; the difference divided by n is the cost of one. The data
// each computation points to is allocated before the first reading, so only
// the cost of keeping it suspended is counted.
//
// With -idlecpu it measures what idle tasks cost in CPU instead: it parks n
// tasks of a scheduler (package sched, default compression policy), each
// receiving from its own Chan, waits until they are packed, and reports the
// process's CPU time (getrusage: user + system) over a quiet window
// divided by the window's wall time, as a percentage of one core.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"iter"
	"os"
	"runtime"
	"runtime/debug"
	"sync"
	"time"

	"github.com/stackslice/stackslice/slice"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// Report is the -json output.
type Report struct {
	Engine      string        `json:"engine"`
	UsingEngine bool          `json:"using_engine"`
	N           int           `json:"n"`
	Depth       int           `json:"depth"`
	Kinds       []KindReport  `json:"kinds"`
	Checked     bool          `json:"checked"` // every result was right
	Error       string        `json:"error,omitempty"`
	Elapsed     time.Duration `json:"elapsed_ns"`
}

// KindReport is the measurement of one kind of suspended computation.
type KindReport struct {
	Kind string `json:"kind"` // "slice", "goroutine" or "iterpull"
	// BytesEach is the heap and stack bytes in use per suspended
	// computation: HeapEach + StackEach.
	BytesEach float64 `json:"bytes_each"`
	HeapEach  float64 `json:"heap_bytes_each"`
	StackEach float64 `json:"stack_bytes_each"`
	// VsGoroutine is BytesEach divided by the goroutine's.
	VsGoroutine float64 `json:"vs_goroutine"`
	// SizeEach is the mean of Coroutine.Size() (slice only): what the
	// coroutines report they hold.
	SizeEach float64 `json:"size_each,omitempty"`
}

var kinds = []struct{ name, label string }{
	{"slice", "slice.New (suspended)"},
	{"goroutine", "goroutine (parked)"},
	{"iterpull", "iter.Pull (suspended)"},
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("idle", flag.ContinueOnError)
	fs.SetOutput(stderr)
	n := fs.Int("n", 100_000, "number of computations of each kind to suspend")
	depth := fs.Int("depth", 5, "call depth at which each computation is suspended")
	asJSON := fs.Bool("json", false, "print a JSON report instead of a table")
	idleCPU := fs.Bool("idlecpu", false, "instead: park -n sched tasks on Chans, let them be packed, and measure the CPU the process uses over -window")
	window := fs.Duration("window", 5*time.Second, "with -idlecpu: the quiet window CPU is measured over")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *idleCPU {
		if *n < 1 || *window <= 0 {
			fmt.Fprintln(stderr, "idle: -n must be at least 1 and -window positive")
			return 2
		}
		return runIdleCPU(stdout, stderr, *n, *window, *asJSON)
	}
	if *n < 1 || *depth < 1 || *depth > 10_000 {
		fmt.Fprintln(stderr, "idle: -n must be at least 1 and -depth between 1 and 10000")
		return 2
	}

	start := time.Now()
	rep := Report{Engine: slice.Engine().Description, UsingEngine: slice.Engine().StackSlicing, N: *n, Depth: *depth}
	if !*asJSON {
		fmt.Fprintln(stdout, rep.Engine)
		fmt.Fprintf(stdout, "%d computations of each kind suspended %d calls deep:\n\n", *n, *depth)
	}
	var err error
	for _, k := range kinds {
		var kr KindReport
		kr, err = measure(k.name, *n, *depth)
		if err != nil {
			break
		}
		rep.Kinds = append(rep.Kinds, kr)
	}
	var base float64
	for _, kr := range rep.Kinds {
		if kr.Kind == "goroutine" {
			base = kr.BytesEach
		}
	}
	for i := range rep.Kinds {
		if base > 0 {
			rep.Kinds[i].VsGoroutine = rep.Kinds[i].BytesEach / base
		}
	}
	rep.Checked = err == nil
	if err != nil {
		rep.Error = err.Error()
	}
	rep.Elapsed = time.Since(start)

	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			fmt.Fprintln(stderr, "idle:", err)
			return 1
		}
	} else {
		fmt.Fprintf(stdout, "%-22s %10s %10s %12s %13s\n", "bytes each:", "heap", "stack", "total", "vs goroutine")
		for i, kr := range rep.Kinds {
			fmt.Fprintf(stdout, "%-22s %10.0f %10.0f %10.0f B %12.2fx\n",
				kinds[i].label, kr.HeapEach, kr.StackEach, kr.BytesEach, kr.VsGoroutine)
		}
		fmt.Fprintln(stdout)
		if len(rep.Kinds) > 0 && rep.Kinds[0].SizeEach > 0 {
			fmt.Fprintf(stdout, "slice.Coroutine.Size() reports %.0f B each on average.\n", rep.Kinds[0].SizeEach)
		}
		fmt.Fprintln(stdout, "Goroutine stacks start at a size the runtime adapts to the average stack use it")
		fmt.Fprintln(stdout, "saw in the last GC (GODEBUG=adaptivestackstart): 2 KiB or more.")
		fmt.Fprintln(stdout)
	}
	if err != nil {
		fmt.Fprintln(stderr, "idle:", err)
		return 1
	}
	if !*asJSON {
		fmt.Fprintf(stdout, "all %d coroutines resumed and checked\n", *n)
	}
	return 0
}

// obj is the data each computation points to.
type obj struct{ v int }

// frame recurses to depth frames, holding two pointers and an int in each,
// calls wait at the bottom, and returns a value computed from its frames.
//
//go:noinline
func frame(depth int, p, q *obj, n int, wait func()) int {
	if depth > 1 {
		return frame(depth-1, q, p, n+1, wait) + p.v
	}
	wait()
	return p.v + q.v + n
}

// want is frame's result for p.v = a, q.v = b.
func want(depth, a, b int) int {
	r := 0
	for d := depth; d > 1; d-- {
		r += a
		a, b = b, a
	}
	return r + a + b + depth - 1
}

// memInUse returns live heap bytes and goroutine stack bytes after two
// collections.
func memInUse() (heap, stack uint64) {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc, ms.StackInuse
}

// measure suspends n computations of kind, measures the memory they hold,
// then finishes every one and checks its result.
func measure(kind string, n, depth int) (KindReport, error) {
	kr := KindReport{Kind: kind}
	objs := make([]obj, n+1)
	for i := range objs {
		objs[i].v = i
	}
	results := make([]int, n)
	heap0, stack0 := memInUse()
	var heap1, stack1 uint64
	switch kind {
	case "slice":
		cs := make([]*slice.Coroutine, n)
		for i := range cs {
			cs[i] = slice.New(func() {
				results[i] = frame(depth, &objs[i], &objs[i+1], 0, slice.Yield)
			})
			if cs[i].Resume() {
				return kr, fmt.Errorf("coroutine %d finished without yielding", i)
			}
		}
		heap1, stack1 = memInUse()
		var size int
		for _, c := range cs {
			size += c.Size()
		}
		kr.SizeEach = float64(size) / float64(n)
		for i, c := range cs {
			if err := resumeToEnd(c); err != nil {
				return kr, fmt.Errorf("coroutine %d: %w", i, err)
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
				results[i] = frame(depth, &objs[i], &objs[i+1], 0, func() {
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
		nexts := make([]func() (int, bool), n)
		stops := make([]func(), n)
		for i := range nexts {
			nexts[i], stops[i] = iter.Pull(func(yield func(int) bool) {
				results[i] = frame(depth, &objs[i], &objs[i+1], 0, func() { yield(i) })
			})
			if v, ok := nexts[i](); !ok || v != i {
				return kr, fmt.Errorf("iterator %d: next() = %d, %v; want %d, true", i, v, ok, i)
			}
		}
		heap1, stack1 = memInUse()
		for i := range nexts {
			if _, ok := nexts[i](); ok {
				return kr, fmt.Errorf("iterator %d yielded twice", i)
			}
			stops[i]()
		}
	default:
		return kr, errors.New("unknown kind " + kind)
	}
	bad := 0
	var firstBad error
	for i, r := range results {
		if w := want(depth, i, i+1); r != w {
			if bad == 0 {
				firstBad = fmt.Errorf("%s %d computed %d, want %d", kind, i, r, w)
			}
			bad++
		}
	}
	if bad > 0 {
		return kr, fmt.Errorf("%d of %d wrong results; first: %w", bad, n, firstBad)
	}
	kr.HeapEach = (float64(heap1) - float64(heap0)) / float64(n)
	kr.StackEach = (float64(stack1) - float64(stack0)) / float64(n)
	kr.BytesEach = kr.HeapEach + kr.StackEach
	return kr, nil
}

// resumeToEnd resumes c, which must then finish without panicking.
func resumeToEnd(c *slice.Coroutine) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panicked: %v", r)
		}
	}()
	if !c.Resume() {
		return errors.New("yielded again")
	}
	return nil
}
