package sched

import (
	"context"
	"sync/atomic"
	"testing"
)

func TestPinAndSteal(t *testing.T) {
	s := newSched(t, WithCarriers(2))
	var wrong atomic.Int32
	var wg WaitGroup
	for i := 0; i < 50; i++ {
		s.Go(func(ctx context.Context) {}, WithWaitGroup(&wg))
	}
	for i := 0; i < 20; i++ {
		wg.Add(1)
		mustGo(t, s, func(ctx context.Context) {
			defer wg.Done()
			for j := 0; j < 20; j++ {
				if w := s.currentWorker(); w == nil || w.c.idx != 1 {
					wrong.Add(1)
				}
				Yield()
			}
		}, WithPin(1))
	}
	within(t, "the tasks", func() { wg.Wait() })
	if wrong.Load() != 0 {
		t.Fatalf("pinned task ran on another carrier %d times", wrong.Load())
	}
}

// Stealing under load: one task spawns many yielding tasks on its own
// carrier; the other carrier must steal some of them.
func TestStealingUnderLoad(t *testing.T) {
	s := newSched(t, WithCarriers(2))
	var ran [2]atomic.Int32
	var wg WaitGroup
	done := NewChan[struct{}](0)
	mustGo(t, s, func(ctx context.Context) {
		for i := 0; i < 2000; i++ {
			s.Go(func(ctx context.Context) {
				// Keep the load up until both carriers have run some of
				// it (bounded, so a broken steal fails rather than hangs).
				for j := 0; j < 2000; j++ {
					if w := s.currentWorker(); w != nil {
						ran[w.c.idx].Add(1)
					}
					if ran[0].Load() > 0 && ran[1].Load() > 0 {
						return
					}
					Yield()
				}
			}, WithWaitGroup(&wg))
		}
		wg.Wait()
		done.Close()
	})
	within(t, "the spawned tasks", func() { done.Recv() })
	if ran[0].Load() == 0 || ran[1].Load() == 0 {
		t.Fatalf("work not spread: %d / %d", ran[0].Load(), ran[1].Load())
	}
	if s.Stats().Steals == 0 {
		t.Fatal("no steals recorded")
	}
}
