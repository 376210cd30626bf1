package sched

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stackslice/stackslice/slice"
)

// WithWaitGroup counts a task from Go to its end, whether it returns or
// panics, and not at all when Go fails.
func TestWithWaitGroup(t *testing.T) {
	s := newSched(t, WithPanicHandler(func(*Task, *slice.PanicError) {}))
	var wg WaitGroup
	var mu sync.Mutex
	done := 0
	for i := range 20 {
		mustGo(t, s, func(ctx context.Context) {
			Sleep(time.Millisecond)
			mu.Lock()
			done++
			mu.Unlock()
			if i == 7 {
				panic("counted anyway")
			}
		}, WithWaitGroup(&wg))
	}
	var err error
	within(t, "the tasks", func() { err = wg.Wait() })
	if err != nil {
		t.Fatal(err)
	}
	if done != 20 {
		t.Fatalf("Wait returned with %d of 20 tasks done", done)
	}
	s.Close()
	if _, err := s.Go(func(context.Context) {}, WithWaitGroup(&wg)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Go on a closed scheduler: %v", err)
	}
	if n := wg.state.Load() >> 32; n != 0 {
		t.Fatalf("a failed Go left the WaitGroup at %d", n)
	}
}

// Mutex is a sync.Locker whose Lock waits even for a cancelled task;
// LockCtx gives up.
func TestMutexLockAndLockCtx(t *testing.T) {
	s := newSched(t)
	var m Mutex
	var l sync.Locker = &m
	l.Lock()
	var plain, withCtx error = errors.New("unset"), errors.New("unset")
	a := mustGo(t, s, func(ctx context.Context) {
		Current().Cancel()
		m.Lock() // waits for the lock although cancelled
		plain = nil
		m.Unlock()
	})
	ctx, cancel := context.WithCancel(context.Background())
	b := mustGo(t, s, func(context.Context) { withCtx = m.LockCtx(ctx) })
	released := false
	defer func() { // let the waiters go if the test fails (Close waits for them)
		cancel()
		if !released {
			l.Unlock()
		}
	}()
	waitFor(t, "both to wait for the lock", func() bool { return s.Stats().ParkedBy["mutex"] == 2 })
	cancel()
	waitTask(t, b)
	if !errors.Is(withCtx, context.Canceled) {
		t.Fatalf("LockCtx after its ctx ended: %v", withCtx)
	}
	released = true
	l.Unlock()
	waitTask(t, a)
	if plain != nil {
		t.Fatal("Lock in a cancelled task did not get the lock")
	}
}

func TestMutex(t *testing.T) {
	s := newSched(t)
	var m Mutex
	var wg WaitGroup
	counter := 0
	for i := 0; i < 20; i++ {
		s.Go(func(ctx context.Context) {
			for j := 0; j < 100; j++ {
				if err := m.LockCtx(nil); err != nil {
					t.Error(err)
					return
				}
				c := counter
				Yield() // hold the lock across a switch
				counter = c + 1
				m.Unlock()
			}
		}, WithWaitGroup(&wg))
	}
	within(t, "the tasks", func() { wg.Wait() })
	if counter != 2000 {
		t.Fatalf("counter %d, want 2000", counter)
	}
}

func TestSemaphoreCondWaitGroup(t *testing.T) {
	s := newSched(t)
	sem := NewSemaphore(3)
	var inside, maxInside atomic.Int32
	var wg WaitGroup
	for i := 0; i < 30; i++ {
		s.Go(func(ctx context.Context) {
			sem.Acquire(1)
			n := inside.Add(1)
			for {
				m := maxInside.Load()
				if n <= m || maxInside.CompareAndSwap(m, n) {
					break
				}
			}
			Yield()
			inside.Add(-1)
			sem.Release(1)
		}, WithWaitGroup(&wg))
	}
	within(t, "the tasks", func() { wg.Wait() })
	if maxInside.Load() > 3 {
		t.Fatalf("%d inside a semaphore of 3", maxInside.Load())
	}

	var mu Mutex
	c := NewCond(&mu)
	ready := false
	var woke atomic.Int32
	for i := 0; i < 5; i++ {
		s.Go(func(ctx context.Context) {
			mu.Lock()
			for !ready {
				c.Wait()
			}
			mu.Unlock()
			woke.Add(1)
		}, WithWaitGroup(&wg))
	}
	parkedIn(t, s, "cond wait", 5)
	mu.Lock()
	ready = true
	c.Broadcast()
	mu.Unlock()
	within(t, "the Cond's waiters", func() { wg.Wait() })
	if woke.Load() != 5 {
		t.Fatal("not all Cond waiters woke")
	}
}
