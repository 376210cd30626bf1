package sched

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
)

// A Wait that is cancelled leaves no Waker behind in the task it waited
// for: a long-lived task waited on by tasks that are cancelled would
// otherwise hold a Waker (and the waiter's Task) per cancelled Wait until
// it finishes.
func TestTaskWaitCancelledLeavesNoWaiter(t *testing.T) {
	for _, carriers := range []int{1, 2} {
		s := newSched(t, WithCarriers(carriers))
		release := NewChan[struct{}](0)
		target := mustGo(t, s, func(ctx context.Context) { release.Recv() })
		const n = 50
		waiters := make([]*Task, n)
		errs := make([]error, n)
		for i := range waiters {
			waiters[i] = mustGo(t, s, func(ctx context.Context) { errs[i] = target.Wait() })
		}
		for i, w := range waiters {
			if i%2 == 0 {
				Yield() // sometimes parked already, sometimes not
			}
			w.Cancel()
		}
		for i, w := range waiters {
			if err := waitTask(t, w); err != nil {
				t.Fatal(err)
			}
			if !errors.Is(errs[i], context.Canceled) {
				t.Fatalf("cancelled Wait returned %v", errs[i])
			}
		}
		target.mu.Lock()
		left := 0
		if target.ext != nil {
			left = len(target.ext.waiters)
		}
		target.mu.Unlock()
		if left != 0 {
			t.Fatalf("carriers=%d: %d Wakers of cancelled Waits left in the task waited for", carriers, left)
		}
		// A Wait that is not cancelled still returns when the task ends.
		last := mustGo(t, s, func(ctx context.Context) { errs[0] = target.Wait() })
		release.Close()
		if err := waitTask(t, last); err != nil || errs[0] != nil {
			t.Fatalf("Wait = %v, %v after the task ended", err, errs[0])
		}
	}
}

// Await in a task that is cancelled already returns the cancellation
// without starting fn.
func TestAwaitCancelledDoesNotStart(t *testing.T) {
	s := newSched(t)
	var ran atomic.Bool
	var got error
	task := mustGo(t, s, func(ctx context.Context) {
		Current().Cancel()
		got = Await(func() { ran.Store(true) })
	})
	waitTask(t, task)
	if got != context.Canceled || ran.Load() {
		t.Fatalf("Await in a cancelled task: %v, fn ran: %v; want context.Canceled, false", got, ran.Load())
	}
}
