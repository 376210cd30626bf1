package sched

import (
	"context"
	"testing"
)

// Park behaves as ParkCtx(nil, ...): readied, cancelled with the
// task, and blocking a goroutine outside any task.
func TestParkNoContext(t *testing.T) {
	s := newSched(t)
	wakers := make(chan Waker, 2)
	ready := mustGo(t, s, func(ctx context.Context) {
		if err := Park("test: ready", func(w Waker) bool { wakers <- w; return true }); err != nil {
			t.Errorf("readied park: %v", err)
		}
	})
	recv(t, "the first park's Waker", wakers).Ready()
	if err := waitTask(t, ready); err != nil {
		t.Fatal(err)
	}

	var got error
	canceled := mustGo(t, s, func(ctx context.Context) {
		got = Park("test: cancel", func(w Waker) bool { wakers <- w; return true })
	})
	recv(t, "the second park's Waker", wakers)
	canceled.Cancel()
	waitTask(t, canceled)
	if got != context.Canceled {
		t.Fatalf("cancelled park returned %v, want context.Canceled", got)
	}

	go func() { (<-wakers).Ready() }()
	if err := Park("test: goroutine", func(w Waker) bool { wakers <- w; return true }); err != nil {
		t.Fatalf("goroutine park: %v", err)
	}
}
