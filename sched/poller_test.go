package sched

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

type fakePoller struct {
	polls atomic.Int32
	wake  chan struct{}
}

func (p *fakePoller) Poll(d time.Duration) {
	p.polls.Add(1)
	if d == 0 {
		return
	}
	var tc <-chan time.Time
	if d > 0 {
		tm := time.NewTimer(d)
		defer tm.Stop()
		tc = tm.C
	}
	select {
	case <-p.wake:
	case <-tc:
	}
}

func (p *fakePoller) Wake() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

func TestPoller(t *testing.T) {
	s := newSched(t, WithCarriers(1))
	p := &fakePoller{wake: make(chan struct{}, 1)}
	if err := s.SetPoller(p); err != nil {
		t.Fatal(err)
	}
	if err := s.SetPoller(p); !errors.Is(err, ErrPollerSet) {
		t.Fatal("second SetPoller should fail")
	}
	// A task parked on an external Waker is readied from a goroutine while
	// the only carrier is in Poll.
	wch := make(chan Waker, 1)
	task := mustGo(t, s, func(ctx context.Context) { ParkCtx(ctx, "io", func(w Waker) bool { wch <- w; return true }) })
	w := recv(t, "the Waker", wch)
	waitFor(t, "the carrier to poll", func() bool { return p.polls.Load() > 0 })
	w.Ready()
	waitTask(t, task)
	if err := waitTask(t, mustGo(t, s, func(ctx context.Context) { Sleep(time.Millisecond) })); err != nil {
		t.Fatal(err)
	}
}
