package sched

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"
)

// Queued tasks run by priority, High first, and in the order they were
// queued within a priority: both tasks started from outside any task
// (the global queues) and tasks started by a task (its carrier's queue).
// One carrier, busy while they are queued, so that none starts before the
// last is queued.
func TestPriorities(t *testing.T) {
	prios := []Priority{Idle, Low, Normal, High, Low, High}
	want := []int{3, 5, 2, 1, 4, 0} // indexes in prios: High, High, Normal, Low, Low, Idle
	var mu sync.Mutex
	var order []int
	start := func(s *Scheduler, i int) (*Task, error) {
		return s.Go(func(ctx context.Context) {
			mu.Lock()
			order = append(order, i)
			mu.Unlock()
		}, WithPriority(prios[i]))
	}
	check := func(how string) {
		t.Helper()
		mu.Lock()
		defer mu.Unlock()
		if !slices.Equal(order, want) {
			t.Errorf("tasks started %s of priorities %v ran in the order %v, want %v", how, prios, order, want)
		}
		order = nil
	}

	// From outside any task. A task blocked outside the scheduler holds
	// the only carrier meanwhile; stand-ins are off, so that nothing runs
	// before it is released.
	s := newSched(t, WithCarriers(1), WithStandIns(0))
	holding, release := make(chan struct{}), make(chan struct{})
	defer func() {
		select {
		case <-release:
		default:
			close(release) // if the test fails: let Close end the holder
		}
	}()
	holder := mustGo(t, s, func(ctx context.Context) { close(holding); <-release })
	recv(t, "the holder to take the carrier", holding)
	tasks := []*Task{holder}
	for i := range prios {
		tk, err := start(s, i)
		if err != nil {
			t.Fatal(err)
		}
		tasks = append(tasks, tk)
	}
	close(release)
	for _, tk := range tasks {
		waitTask(t, tk)
	}
	check("from outside any task")

	// From a task, which holds the carrier until it returns. A long
	// time slice keeps the monitor from handing the tasks queued so far
	// to the global queue meanwhile (a slow machine), which would mix
	// those queued before with those queued after.
	s = newSched(t, WithCarriers(1), WithTimeSlice(time.Hour))
	spawner := mustGo(t, s, func(ctx context.Context) {
		for i := range prios {
			if _, err := start(s, i); err != nil {
				t.Error(err)
			}
		}
	})
	waitTask(t, spawner)
	waitFor(t, "the started tasks to end", func() bool { return s.ntasks.Load() == 0 })
	check("by a task")
}
