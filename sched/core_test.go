package sched

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stackslice/stackslice/slice"
)

// newSched returns a new scheduler, closed at the test's cleanup (within
// hangBound: a task that does not end fails the test, with a dump, and
// the scheduler is left as it is).
func newSched(t testing.TB, opts ...Option) *Scheduler {
	t.Helper()
	s := New(opts...)
	t.Cleanup(func() {
		closed := make(chan struct{})
		go func() {
			defer close(closed)
			s.Close()
		}()
		select {
		case <-closed:
		case <-time.After(hangBound):
			t.Errorf("Close did not return within %v: some task did not end:\n%s", hangBound, dump(s))
		}
	})
	return s
}

func mustGo(t testing.TB, s *Scheduler, fn func(context.Context), opts ...GoOption) *Task {
	t.Helper()
	task, err := s.Go(fn, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return task
}

func TestGoWait(t *testing.T) {
	s := newSched(t)
	var n atomic.Int32
	var tasks []*Task
	for i := 0; i < 100; i++ {
		tasks = append(tasks, mustGo(t, s, func(ctx context.Context) {
			if Current() == nil || !InCoroutine() || CurrentScheduler() != s {
				t.Error("Current/InCoroutine/CurrentScheduler wrong inside a task")
			}
			for j := 0; j < 3; j++ {
				Yield()
			}
			n.Add(1)
		}))
	}
	for _, task := range tasks {
		if err := waitTask(t, task); err != nil {
			t.Fatal(err)
		}
		<-task.Done() // closed already
	}
	if n.Load() != 100 {
		t.Fatalf("ran %d tasks, want 100", n.Load())
	}
	if InCoroutine() || Current() != nil || CurrentScheduler() != nil {
		t.Fatal("InCoroutine outside a task")
	}
	t.Log(slice.Engine())
}

func TestRunReturnsWhenDone(t *testing.T) {
	s := newSched(t)
	for i := 0; i < 10; i++ {
		mustGo(t, s, func(ctx context.Context) { Sleep(time.Millisecond) })
	}
	if err := s.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestParkReadyFromGoroutine(t *testing.T) {
	s := newSched(t)
	wch := make(chan Waker, 1)
	task := mustGo(t, s, func(ctx context.Context) {
		if err := ParkCtx(ctx, "test", func(w Waker) bool { wch <- w; return true }); err != nil {
			t.Error(err)
		}
	})
	w := recv(t, "the Waker", wch)
	if !w.Ready() {
		t.Fatal("first Ready returned false")
	}
	if w.Ready() {
		t.Fatal("second Ready returned true")
	}
	if err := waitTask(t, task); err != nil {
		t.Fatal(err)
	}
}

func TestParkReadyInsideArm(t *testing.T) {
	s := newSched(t)
	task := mustGo(t, s, func(ctx context.Context) {
		for i := 0; i < 100; i++ {
			if err := ParkCtx(ctx, "self", func(w Waker) bool { w.Ready(); return true }); err != nil {
				t.Error(err)
			}
		}
	})
	if err := waitTask(t, task); err != nil {
		t.Fatal(err)
	}
}

func TestParkGoroutine(t *testing.T) {
	wch := make(chan Waker, 1)
	done := make(chan error)
	go func() { done <- ParkCtx(context.Background(), "g", func(w Waker) bool { wch <- w; return true }) }()
	recv(t, "the Waker", wch).Ready()
	if err := recv(t, "the readied ParkCtx to return", done); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { done <- ParkCtx(ctx, "g", func(w Waker) bool { wch <- w; return true }) }()
	w := recv(t, "the Waker", wch)
	cancel()
	if err := recv(t, "the cancelled ParkCtx to return", done); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want Canceled", err)
	}
	if w.Ready() {
		t.Fatal("Ready on a stale Waker returned true")
	}
}

func TestCancelParked(t *testing.T) {
	s := newSched(t)
	wch := make(chan Waker, 1)
	var got error
	task := mustGo(t, s, func(ctx context.Context) {
		got = ParkCtx(ctx, "forever", func(w Waker) bool { wch <- w; return true })
	})
	w := recv(t, "the Waker", wch)
	task.Cancel()
	waitTask(t, task)
	if !errors.Is(got, context.Canceled) {
		t.Fatalf("Park returned %v, want Canceled", got)
	}
	if w.Ready() {
		t.Fatal("stale Waker readied")
	}
}

func TestSleepCancel(t *testing.T) {
	s := newSched(t)
	started := make(chan struct{})
	var got error
	task := mustGo(t, s, func(ctx context.Context) {
		close(started)
		got = Sleep(time.Hour)
	})
	recv(t, "the task to start", started)
	task.Cancel()
	waitTask(t, task)
	if !errors.Is(got, context.Canceled) {
		t.Fatalf("Sleep returned %v", got)
	}
}

func TestPanicReported(t *testing.T) {
	handled := make(chan *slice.PanicError, 1)
	s := newSched(t, WithPanicHandler(func(_ *Task, p *slice.PanicError) { handled <- p }))
	task := mustGo(t, s, func(ctx context.Context) { panic("boom") })
	err := waitTask(t, task)
	var pe *slice.PanicError
	if !errors.As(err, &pe) || pe.Value != "boom" || len(pe.Stack) == 0 {
		t.Fatalf("Wait = %v, want PanicError boom with stack", err)
	}
	select {
	case p := <-handled:
		if p != pe {
			t.Fatalf("the handler got %v, Wait returned %v", p, pe)
		}
	default:
		t.Fatal("the panic handler was not called before Wait returned")
	}
	// The scheduler still works.
	if err := waitTask(t, mustGo(t, s, func(ctx context.Context) {})); err != nil {
		t.Fatal(err)
	}
}

func TestGoOnClosed(t *testing.T) {
	s := New()
	s.Close()
	if _, err := s.Go(func(ctx context.Context) {}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Go on closed = %v", err)
	}
}
