package sched

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestDeadlockReported(t *testing.T) {
	s := newSched(t)
	a, b := NewChan[int](0), NewChan[int](0)
	mustGo(t, s, func(ctx context.Context) { a.Recv(); b.Send(1) }, WithTaskName("first"))
	mustGo(t, s, func(ctx context.Context) { b.Recv(); a.Send(1) }, WithTaskName("second"))
	err := s.Run(context.Background())
	var de *DeadlockError
	if !errors.As(err, &de) || len(de.Tasks) != 2 {
		t.Fatalf("Run = %v, want a deadlock of 2 tasks", err)
	}
	if msg := err.Error(); !strings.Contains(msg, `"first" [chan receive`) {
		t.Fatalf("report lacks task details:\n%s", msg)
	}
}

func TestRunCtxCloses(t *testing.T) {
	s := New()
	mustGo(t, s, func(ctx context.Context) { Sleep(time.Hour) })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Run(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v", err)
	}
	if _, err := s.Go(func(context.Context) {}); !errors.Is(err, ErrClosed) {
		t.Fatal("Go after Run's ctx ended should fail")
	}
}

func TestCloseFromTask(t *testing.T) {
	s := newSched(t)
	var err error
	waitTask(t, mustGo(t, s, func(ctx context.Context) { err = s.Close() }))
	if err == nil {
		t.Fatal("Close from a task should fail")
	}
}
