package sched

import (
	"context"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// Checkpoint yields a task that has used its slice: on one carrier, the
// spinning task can only see the flag if it is preempted at a Checkpoint.
func TestCheckpointPreempts(t *testing.T) {
	s := newSched(t, WithCarriers(1), WithTimeSlice(time.Millisecond))
	var flag atomic.Bool
	spinner := mustGo(t, s, func(ctx context.Context) {
		for !flag.Load() {
			Checkpoint()
		}
	})
	defer flag.Store(true) // if the test fails: let Close end the spinner
	mustGo(t, s, func(ctx context.Context) { flag.Store(true) })
	if err := waitTask(t, spinner); err != nil {
		t.Fatal(err)
	}
}

// A hog without checkpoints: the monitor hands its carrier's queued tasks
// to the other carrier.
func TestHandoff(t *testing.T) {
	s := newSched(t, WithCarriers(2), WithTimeSlice(time.Millisecond))
	var stop atomic.Bool
	defer stop.Store(true) // if the test fails: let Close end the hog
	started := make(chan struct{})
	var victims []*Task
	hog := mustGo(t, s, func(ctx context.Context) {
		// Queue tasks on this carrier, then hog it.
		for i := 0; i < 10; i++ {
			tk, _ := s.Go(func(ctx context.Context) {})
			victims = append(victims, tk)
		}
		close(started)
		for !stop.Load() {
			// Gosched gives the carrier's goroutine back to Go's
			// scheduler for a moment, not the carrier to its other
			// tasks: this is still a hog for sched. It keeps the loop
			// GC-safe when async preemption is off (gccheckmark).
			runtime.Gosched()
		}
	})
	recv(t, "the hog to start", started)
	for _, v := range victims {
		waitTask(t, v) // finishes only if stolen or handed off
	}
	stop.Store(true)
	waitTask(t, hog)
}

// Checkpoint is a preemption point for Go's GC too: with async preemption
// off, a task spinning on Checkpoint on one carrier must not hold up a GC
// started by another goroutine (the sched monitor cannot help: the GC's
// safe-point handshake leaves it without a P). Run in a child process
// because GODEBUG=asyncpreemptoff must be set at start-up.
func TestCheckpointLetsGCFinish(t *testing.T) {
	if childRole() == "checkpoint-gc" {
		checkpointGCChild(t)
		return
	}
	if testing.Short() {
		t.Skip("runs a child process")
	}
	out, err, hung := runChild("TestCheckpointLetsGCFinish", "checkpoint-gc", 60*time.Second,
		"GODEBUG=asyncpreemptoff=1", "GOMAXPROCS=2")
	skipIfCannotExec(t, err)
	if hung {
		t.Fatalf("child hung: a GC could not stop the spinning task\n%s", out)
	}
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
}

func checkpointGCChild(t *testing.T) {
	s := newSched(t, WithCarriers(1))
	var started, stop atomic.Bool
	defer stop.Store(true)
	spinner := mustGo(t, s, func(ctx context.Context) {
		started.Store(true)
		for !stop.Load() {
			Checkpoint()
		}
	})
	waitFor(t, "the spinner to start", started.Load)
	for i := 0; i < 5; i++ {
		runtime.GC()
	}
	stop.Store(true)
	if err := waitTask(t, spinner); err != nil {
		t.Fatal(err)
	}
}
