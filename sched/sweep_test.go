package sched

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stackslice/stackslice/slice"
)

// sweepIdle parks n tasks on Chans of their own under a short After, waits
// until the sweeper has packed every one, and returns how many parked
// tasks one more pass looks at (sweep's count), with the scheduler and the
// tasks' Chans.
// Each task counts what it receives in received.
func sweepIdle(t *testing.T, n int, received *atomic.Int64) (visited int, s *Scheduler, tasks []*Task, chans []*Chan[int]) {
	t.Helper()
	s = newSched(t, WithCarriers(2), WithCompression(CompressionPolicy{Mode: slice.CompressTemplate, After: 10 * time.Millisecond}))
	for range n {
		ch := NewChan[int](0)
		chans = append(chans, ch)
		tasks = append(tasks, mustGo(t, s, func(ctx context.Context) {
			for {
				if _, err := ch.Recv(); err != nil {
					return
				}
				received.Add(1)
			}
		}))
	}
	waitFor(t, fmt.Sprintf("%d idle tasks to be swept", n), func() bool {
		for _, tk := range tasks {
			if tk.flags.Load()&flagSwept == 0 {
				return false
			}
		}
		return true
	})
	return s.sweep(), s, tasks, chans
}

// An idle task costs the sweeper nothing once swept: a pass looks only at
// the tasks that ran since the sweeper dealt with them. A task that runs
// again goes back among those, and is packed again at its next long park;
// the swept tasks are still in Stats (and every other walk of the
// registry).
func TestSweepSkipsSweptTasks(t *testing.T) {
	if !slice.Engine().StackSlicing {
		t.Skip("no sweeper on the fallback: " + slice.Engine().String())
	}
	const n = 500
	var received atomic.Int64
	visited, s, tasks, chans := sweepIdle(t, n, &received)
	if visited != 0 {
		t.Fatalf("a sweep after %d idle tasks were swept looked at %d parked tasks, want 0", n, visited)
	}
	if st := s.Stats(); st.Tasks != n || st.Parked != n {
		t.Fatalf("Stats with %d swept tasks: %d tasks, %d parked", n, st.Tasks, st.Parked)
	}
	tk := tasks[0]
	if !tk.co.Packed() {
		t.Fatal("a swept task is not packed")
	}
	if err := chans[0].Send(1); err != nil { // it runs, then parks again
		t.Fatal(err)
	}
	waitFor(t, "the woken task to run", func() bool { return received.Load() == 1 })
	waitFor(t, "the woken task to be swept again", func() bool { return tk.flags.Load()&flagSwept != 0 })
	waitParked(t, tk)
	if !tk.co.Packed() {
		t.Fatal("a task swept again is not packed")
	}
	for _, ch := range chans {
		ch.Close()
	}
	for _, tk := range tasks {
		waitTask(t, tk)
	}
	// Stats leaves out a finished task at once, though it leaves the
	// registry just after its Done closes (see Task.finish).
	if st := s.Stats(); st.Tasks != 0 {
		t.Fatalf("%d tasks left after they all returned", st.Tasks)
	}
}
