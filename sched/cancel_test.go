package sched

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"
)

// Cancellation of a task parked in each blocking call returns the
// context's error promptly and leaves nothing behind. Repeated, with the
// cancel racing the park.
func TestCancelEveryBlockingCall(t *testing.T) {
	rounds := 100
	if testing.Short() {
		rounds = 20
	}
	s := newSched(t)
	var mu Mutex
	mu.Lock() // held for the whole test: Lock parks
	sem := NewSemaphore(0)
	var wg WaitGroup
	wg.Add(1)
	block := make(chan struct{})
	defer close(block)
	calls := map[string]func() error{
		"recv":   func() error { _, err := NewChan[int](0).Recv(); return err },
		"send":   func() error { return NewChan[int](0).Send(1) },
		"select": func() error { _, err := Select(NewChan[int](0).CaseRecv(nil, nil)); return err },
		"sleep":  func() error { return Sleep(time.Hour) },
		"park":   func() error { return ParkCtx(nil, "test", func(Waker) bool { return true }) },
		"mutex":  func() error { return mu.LockCtx(nil) },
		"sem":    func() error { return sem.Acquire(1) },
		"wg":     func() error { return wg.Wait() },
		"await":  func() error { return Await(func() { <-block }) },
		"wait": func() error {
			// The inner task parks until cancelled (blocking its carrier
			// on <-ctx.Done() would hang a one-carrier scheduler).
			tk, _ := s.Go(func(ctx context.Context) { ParkCtx(nil, "test: until cancelled", func(Waker) bool { return true }) })
			defer tk.Cancel()
			return tk.Wait()
		},
	}
	for name, call := range calls {
		for i := 0; i < rounds; i++ {
			var got error
			task := mustGo(t, s, func(ctx context.Context) { got = call() })
			if i%2 == 0 {
				runtime.Gosched() // sometimes parked already, sometimes not
			}
			task.Cancel()
			if err := waitTask(t, task); err != nil {
				t.Fatal(err)
			}
			if !errors.Is(got, context.Canceled) {
				t.Fatalf("%s: cancelled call returned %v", name, got)
			}
		}
	}
	if n := s.wheel.Len(); n != 0 {
		t.Fatalf("%d timers left behind", n)
	}
	if mu.q.head != nil || sem.q.head != nil || wg.q.head != nil {
		t.Fatal("waiters left behind in Mutex/Semaphore/WaitGroup")
	}
}

func TestParkCtx(t *testing.T) {
	s := newSched(t)
	ctx, cancel := context.WithCancel(context.Background())
	var got error
	task := mustGo(t, s, func(context.Context) {
		got = ParkCtx(ctx, "ctx", func(Waker) bool { return true })
	})
	parkedIn(t, s, "ctx", 1)
	cancel()
	waitTask(t, task)
	if !errors.Is(got, context.Canceled) {
		t.Fatalf("got %v", got)
	}
}

func TestDerivedContext(t *testing.T) {
	s := newSched(t)
	var got error
	task := mustGo(t, s, func(ctx context.Context) {
		c2, cancel := context.WithCancel(ctx)
		defer cancel()
		<-c2.Done() // a goroutine-style wait blocks the carrier; fine for a test
		got = c2.Err()
		if TaskOf(c2) != Current() {
			t.Error("TaskOf derived context")
		}
	})
	// Let it reach the wait, then cancel the task: the derived context follows.
	waitFor(t, "the task to run", func() bool { return task.state.Load()&statusMask == stRunning })
	task.Cancel()
	waitTask(t, task)
	if !errors.Is(got, context.Canceled) {
		t.Fatalf("derived ctx err %v", got)
	}
}

func TestWithContextParent(t *testing.T) {
	s := newSched(t)
	parent, cancel := context.WithCancel(context.WithValue(context.Background(), "k", "v"))
	var got error
	task := mustGo(t, s, func(ctx context.Context) {
		if ctx.Value("k") != "v" {
			t.Error("parent value not visible")
		}
		got = Sleep(time.Hour)
	}, WithContext(parent))
	parkedIn(t, s, "sleep", 1)
	cancel()
	waitTask(t, task)
	if !errors.Is(got, context.Canceled) {
		t.Fatalf("got %v", got)
	}
}
