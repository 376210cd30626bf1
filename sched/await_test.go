package sched

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/stackslice/stackslice/slice"
)

func TestAwait(t *testing.T) {
	s := newSched(t, WithAwaitPool(2))
	var wg WaitGroup
	var n atomic.Int32
	for i := 0; i < 10; i++ {
		s.Go(func(ctx context.Context) {
			v, err := AwaitValue(func() (int, error) { return 7, nil })
			if err != nil || v != 7 {
				t.Errorf("AwaitValue = %d, %v", v, err)
			}
			n.Add(1)
		}, WithWaitGroup(&wg))
	}
	within(t, "the tasks", func() { wg.Wait() })
	if n.Load() != 10 {
		t.Fatal("not all awaits returned")
	}
	s = newSched(t, WithPanicHandler(func(*Task, *slice.PanicError) {}))
	task := mustGo(t, s, func(ctx context.Context) { Await(func() { panic("in pool") }) })
	var pe *slice.PanicError
	if err := waitTask(t, task); !errors.As(err, &pe) || pe.Value != "in pool" {
		t.Fatalf("panic in Await fn: %v", err)
	}
}
