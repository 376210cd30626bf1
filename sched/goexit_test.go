package sched

import (
	"context"
	"errors"
	"runtime"
	"testing"
)

func TestGoexit(t *testing.T) {
	s := newSched(t, WithCarriers(1))
	task := mustGo(t, s, func(ctx context.Context) { runtime.Goexit() })
	if err := waitTask(t, task); !errors.Is(err, ErrGoexit) {
		t.Fatalf("Wait = %v, want ErrGoexit", err)
	}
	// The carrier was replaced.
	if err := waitTask(t, mustGo(t, s, func(ctx context.Context) { Yield() })); err != nil {
		t.Fatal(err)
	}
}
