package sched

import (
	"context"
	"sync"
	"testing"
)

func TestPriorities(t *testing.T) {
	s := newSched(t, WithCarriers(1))
	gate := NewChan[struct{}](0)
	var order []Priority
	var mu sync.Mutex
	// A blocker holds the only carrier while the others are queued.
	blocker := mustGo(t, s, func(ctx context.Context) { gate.Recv() })
	parkedIn(t, s, "chan receive", 1)
	var tasks []*Task
	for _, p := range []Priority{Idle, Low, Normal, High, Low, High} {
		tasks = append(tasks, mustGo(t, s, func(ctx context.Context) {
			mu.Lock()
			order = append(order, p)
			mu.Unlock()
		}, WithPriority(p)))
	}
	_ = blocker
	// Queued while the carrier was idle they may start at once; to be
	// deterministic, check only that the run order is sorted within what
	// was queued together: run them again behind a busy carrier.
	for _, tk := range tasks {
		waitTask(t, tk)
	}
	order = nil
	hold := NewChan[struct{}](0)
	mustGo(t, s, func(ctx context.Context) {
		for _, p := range []Priority{Idle, Low, Normal, High, Low, High} {
			s.Go(func(ctx context.Context) {
				mu.Lock()
				order = append(order, p)
				mu.Unlock()
			}, WithPriority(p))
		}
		hold.Send(struct{}{}) // park: the carrier picks the queued ones
	})
	within(t, "the spawner to start the tasks", func() { hold.Recv() })
	gate.Send(struct{}{})
	waitFor(t, "the tasks to end", func() bool { return s.ntasks.Load() == 0 })
	want := []Priority{High, High, Normal, Low, Low, Idle}
	for i := range want {
		if i >= len(order) || order[i] != want[i] {
			t.Fatalf("run order %v, want %v", order, want)
		}
	}
}
