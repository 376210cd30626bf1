package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/stackslice/stackslice/sched"
	"github.com/stackslice/stackslice/slice"
)

// CPUReport is the -idlecpu -json output: what n tasks parked on a
// scheduler cost in CPU while nothing happens.
type CPUReport struct {
	Engine      string `json:"engine"`
	UsingEngine bool   `json:"using_engine"`
	Tasks       int    `json:"tasks"`
	// After is the scheduler's compression policy's After: the tasks are
	// packed between After and 1.5*After after they parked, before the
	// window starts.
	After time.Duration `json:"after_ns"`
	// Window is the quiet window's wall time, CPU the process's user and
	// system CPU time over it (getrusage).
	Window time.Duration `json:"window_ns"`
	CPU    time.Duration `json:"cpu_ns"`
	// CorePercent is CPU / Window in percent: the share of one core the
	// idle tasks (and the Go runtime around them) take.
	CorePercent float64 `json:"core_percent"`
	// Parked is the scheduler's count of parked tasks after the window.
	Parked int `json:"parked"`
	// Packed is how many coroutines were packed at the window's end
	// (package slice's count: every one of the tasks, once packed), and
	// WindowPacks how many packings happened during the window.
	Packed      int64         `json:"packed"`
	WindowPacks int64         `json:"window_packs"`
	Error       string        `json:"error,omitempty"`
	Total       time.Duration `json:"elapsed_ns"`
}

// runIdleCPU parks n tasks, each receiving from its own Chan, lets the
// scheduler pack them, and measures the CPU time the process uses over a
// quiet window of length window.
func runIdleCPU(stdout, stderr io.Writer, n int, window time.Duration, asJSON bool) int {
	start := time.Now()
	rep := CPUReport{Engine: slice.Engine().Description, UsingEngine: slice.Engine().StackSlicing,
		Tasks: n, After: sched.DefaultCompression.After}
	err := measureIdleCPU(&rep, n, window)
	if err != nil {
		rep.Error = err.Error()
	}
	rep.Total = time.Since(start)
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			fmt.Fprintln(stderr, "idle:", err)
			return 1
		}
	} else {
		fmt.Fprintln(stdout, rep.Engine)
		fmt.Fprintf(stdout, "%d tasks parked on Chans (packed after %v), quiet for %v:\n", n, rep.After, window)
		fmt.Fprintf(stdout, "  CPU %v over %v: %.3f%% of a core\n", rep.CPU.Round(time.Microsecond),
			rep.Window.Round(time.Millisecond), rep.CorePercent)
		fmt.Fprintf(stdout, "  %d parked, %d packed, %d packings during the window\n", rep.Parked, rep.Packed, rep.WindowPacks)
	}
	if err != nil {
		fmt.Fprintln(stderr, "idle:", err)
		return 1
	}
	return 0
}

func measureIdleCPU(rep *CPUReport, n int, window time.Duration) error {
	s := sched.New() // the default compression policy
	defer s.Close()
	chans := make([]*sched.Chan[int], n)
	tasks := make([]*sched.Task, n)
	for i := range chans {
		ch := sched.NewChan[int](0)
		chans[i] = ch
		t, err := s.Go(func(ctx context.Context) { ch.Recv() })
		if err != nil {
			return err
		}
		tasks[i] = t
	}
	for deadline := time.Now().Add(time.Minute); s.Stats().Parked < n; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			return fmt.Errorf("%d tasks not all parked after a minute", n)
		}
	}
	// Let every task be packed (by 1.5*After after it parked), and the
	// heap settle, before the window.
	time.Sleep(rep.After*3/2 + rep.After/2)
	runtime.GC()
	debug.FreeOSMemory()
	before := slice.ReadCompressionStats()
	cpu0, err := processCPU()
	if err != nil {
		return err
	}
	t0 := time.Now()
	time.Sleep(window)
	cpu1, err := processCPU()
	if err != nil {
		return err
	}
	rep.Window = time.Since(t0)
	rep.CPU = cpu1 - cpu0
	rep.CorePercent = 100 * float64(rep.CPU) / float64(rep.Window)
	after := slice.ReadCompressionStats()
	rep.Packed, rep.WindowPacks = after.Packed, after.Packs-before.Packs
	rep.Parked = s.Stats().Parked
	for _, ch := range chans {
		ch.Close()
	}
	for _, t := range tasks {
		t.Wait()
	}
	return nil
}
