package sched

import (
	"context"
	"sync/atomic"
	"testing"
)

// pingPongBeforeQueued runs, on one carrier, two tasks that hand a value
// back and forth over unbuffered Chans, each readying the other into the
// worker's next slot, and a third task queued on that carrier behind
// them. It returns how many round trips the pair made before the third
// task ran: the pair stops when it runs, or after limit round trips (then
// the result is limit).
func pingPongBeforeQueued(t *testing.T, limit int64) int64 {
	s := New(WithCarriers(1))
	defer s.Close()
	ping, pong := NewChan[int](0), NewChan[int](0)
	var trips, seen atomic.Int64
	seen.Store(-1)
	s.Go(func(ctx context.Context) {
		for {
			v, err := ping.Recv()
			if err != nil {
				return
			}
			pong.Send(v)
		}
	})
	pair, _ := s.Go(func(ctx context.Context) {
		// Started from a task, the third task goes to this carrier's
		// queue, behind the pair's next slot.
		TaskOf(ctx).s.Go(func(ctx context.Context) { seen.Store(trips.Load()) })
		for trips.Load() < limit && seen.Load() < 0 {
			ping.Send(1)
			pong.Recv()
			trips.Add(1)
		}
		ping.Close()
	})
	if err := waitTask(t, pair); err != nil {
		t.Fatal(err)
	}
	if n := seen.Load(); n >= 0 {
		return n
	}
	return limit
}

// TestPingPongDoesNotStarveQueue: a pair of tasks that keep readying each
// other run from the worker's next slot, ahead of the carrier's queue; the
// chain of such picks is bounded (nextChainMax), so a queued task of the
// same priority runs after a few round trips of the pair, even on a
// single carrier, which no other carrier steals from.
func TestPingPongDoesNotStarveQueue(t *testing.T) {
	const limit = 100_000
	n := pingPongBeforeQueued(t, limit)
	if n > nextChainMax {
		t.Fatalf("a task queued behind a ping-ponging pair ran after %d round trips of the pair (limit %d), want at most %d", n, limit, nextChainMax)
	}
}
