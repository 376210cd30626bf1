package sched

import (
	"bytes"
	"context"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stackslice/stackslice/slice"
)

// A blocker blocks its carrier outside the scheduler until release is
// called (or, for "sleep", for a fixed time); Dump shows it blocked in
// the goroutine state named wait.
type blocker struct {
	name    string
	wait    string // what Dump shows the goroutine waiting for
	block   func() // runs in the blocking task
	release func() // ends the block (nil: it ends by itself)
}

func blockers(t *testing.T) []func() blocker {
	return []func() blocker{
		func() blocker {
			return blocker{name: "sleep", wait: "sleep", block: func() { time.Sleep(2 * time.Second) }}
		},
		func() blocker {
			ch := make(chan struct{})
			return blocker{name: "chan", wait: "chan receive", block: func() { <-ch }, release: func() { close(ch) }}
		},
		func() blocker {
			var mu sync.Mutex
			mu.Lock()
			return blocker{name: "mutex", wait: "sync.Mutex.Lock", block: func() { mu.Lock(); mu.Unlock() }, release: mu.Unlock}
		},
		func() blocker {
			var p [2]int
			if err := syscall.Pipe(p[:]); err != nil { // blocking descriptors
				t.Fatal(err)
			}
			t.Cleanup(func() { syscall.Close(p[0]); syscall.Close(p[1]) })
			return blocker{name: "pipe", wait: "syscall", block: func() {
				var b [1]byte
				syscall.Read(p[0], b[:])
			}, release: func() { syscall.Write(p[1], []byte{1}) }}
		},
	}
}

// With one carrier, a task blocked outside the scheduler must not stop the
// others: sleepers keep waking while it is blocked, Dump shows it blocked
// with its stack, Stats counts the stand-in, and once the block ends the
// stand-in count goes back to zero.
func TestStandInForBlockedCarrier(t *testing.T) {
	for _, mk := range blockers(t) {
		b := mk()
		t.Run(b.name, func(t *testing.T) {
			s := newSched(t, WithCarriers(1))
			var woke atomic.Int64
			var blockDone atomic.Bool
			stop := startSleepers(t, s, 20, &woke)
			defer stop()
			waitFor(t, "sleepers running", func() bool { return woke.Load() > 20 })
			blocked := mustGo(t, s, func(ctx context.Context) { blockedTaskBody(b.block); blockDone.Store(true) }, WithTaskName("blocker"))
			// The sleepers go on while the blocker blocks the carrier.
			before := woke.Load()
			waitFor(t, "sleepers to wake while a task blocks the only carrier", func() bool {
				return woke.Load() > before+100 || blockDone.Load()
			})
			if blockDone.Load() {
				t.Fatal("the block ended before the sleepers were checked: it is too short for this test")
			}
			st := s.Stats()
			if st.StandIns != 1 || st.StandInsStarted < 1 || st.Blocked != 1 {
				t.Errorf("Stats during the block: StandIns %d, StandInsStarted %d, Blocked %d; want 1, >=1, 1",
					st.StandIns, st.StandInsStarted, st.Blocked)
			}
			var dump bytes.Buffer
			s.Dump(&dump)
			want := `"blocker" [blocked outside the scheduler, ` + b.wait
			if !slice.Engine().StackSlicing {
				want = `"blocker" [blocked outside the scheduler, ` // no stacks on the fallback
			}
			if !strings.Contains(dump.String(), want) ||
				slice.Engine().StackSlicing && !strings.Contains(dump.String(), "sched.blockedTaskBody(") {
				t.Errorf("Dump does not show the blocker blocked in %q with its stack:\n%s", b.wait, dump.String())
			}
			if b.release != nil {
				b.release()
			}
			if err := waitTask(t, blocked); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the blocked worker to retire", func() bool { return s.Stats().StandIns == 0 })
			after := woke.Load()
			waitFor(t, "sleepers after the block", func() bool { return woke.Load() > after+20 })
		})
	}
}

//go:noinline
func blockedTaskBody(block func()) { block() }

// The negative control: with stand-ins off (WithStandIns(0)), the same
// block stops every other task of the carrier.
func TestStandInControl(t *testing.T) {
	s := newSched(t, WithCarriers(1), WithStandIns(0))
	var woke atomic.Int64
	stop := startSleepers(t, s, 20, &woke)
	defer stop()
	waitFor(t, "sleepers running", func() bool { return woke.Load() > 20 })
	ch, started := make(chan struct{}), make(chan struct{})
	blocked := mustGo(t, s, func(ctx context.Context) { close(started); <-ch })
	recv(t, "the blocker to start", started) // it has the only carrier now
	time.Sleep(10 * time.Millisecond)        // wake-ups already running finish
	before := woke.Load()
	time.Sleep(300 * time.Millisecond)
	stalled := woke.Load() - before
	close(ch)
	waitTask(t, blocked)
	if stalled != 0 {
		t.Fatalf("with stand-ins off, the sleepers woke %d times while the only carrier was blocked: TestStandInForBlockedCarrier cannot tell stand-ins from their absence", stalled)
	}
	if st := s.Stats(); st.StandInsStarted != 0 {
		t.Fatalf("WithStandIns(0) started %d stand-ins", st.StandInsStarted)
	}
}

// A sync.Mutex held by a task across a park (crypto/tls holds one through
// its handshake's reads) deadlocked a one-carrier scheduler when another
// task locked it: the holder could never run again. With stand-ins it
// finishes.
func TestMutexHeldAcrossParkOneCarrier(t *testing.T) {
	s := newSched(t, WithCarriers(1))
	var mu sync.Mutex
	locked := NewChan[struct{}](1)
	holder := mustGo(t, s, func(ctx context.Context) {
		mu.Lock()
		locked.Send(struct{}{})
		Sleep(20 * time.Millisecond) // parks holding mu
		mu.Unlock()
	})
	waiter := mustGo(t, s, func(ctx context.Context) {
		locked.Recv()
		mu.Lock() // blocks the only carrier until the holder runs again
		mu.Unlock()
	})
	done := make(chan struct{})
	go func() { holder.Wait(); waiter.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(hangBound):
		var d bytes.Buffer
		s.Dump(&d)
		t.Fatalf("deadlock: a sync.Mutex held across a park on one carrier\n%s", d.String())
	}
}

// A task that spins without Checkpoint no longer keeps its carrier's other
// tasks from running, even with one carrier.
func TestStandInForHog(t *testing.T) {
	s := newSched(t, WithCarriers(1))
	var woke atomic.Int64
	stop := startSleepers(t, s, 5, &woke)
	defer stop()
	waitFor(t, "sleepers running", func() bool { return woke.Load() > 5 })
	var spin atomic.Bool
	spin.Store(true)
	defer spin.Store(false) // if the test fails: let Close end the hog
	hog := mustGo(t, s, func(ctx context.Context) {
		for spin.Load() {
			// Gives the goroutine back to Go's scheduler (a GC needs
			// that under GODEBUG=gccheckmark=1, which turns async
			// preemption off), not the carrier to its other tasks.
			runtime.Gosched()
		}
	})
	before := woke.Load()
	waitFor(t, "sleepers to wake beside a hog on the only carrier", func() bool { return woke.Load() > before+50 })
	spin.Store(false)
	waitTask(t, hog)
}

// startSleepers starts n tasks that sleep 1ms in a loop, counting wake-ups
// in woke, until the returned function is called.
func startSleepers(t *testing.T, s *Scheduler, n int, woke *atomic.Int64) (stop func()) {
	var quit atomic.Bool
	var ts []*Task
	for range n {
		ts = append(ts, mustGo(t, s, func(ctx context.Context) {
			for !quit.Load() {
				if Sleep(time.Millisecond) != nil {
					return
				}
				woke.Add(1)
			}
		}))
	}
	return func() {
		quit.Store(true)
		for _, tk := range ts {
			waitTask(t, tk)
		}
	}
}
