//go:build linux || darwin || freebsd

package poll

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stackslice/stackslice/sched"
)

// Issue 11, section 5: the park protocol cannot leak a lock. A task
// cancelled before or while it waits for a contended I/O lock races with
// the holder's unlock (which hands the lock over) and with Close (which
// readies every waiter); whatever wins, the lock ends up free, or held by
// an operation that releases it.

// stressFor is how long each lock stress runs (a bound on the work, not a
// timing assertion).
func stressFor() time.Duration {
	if testing.Short() {
		return 300 * time.Millisecond
	}
	return time.Second
}

// lockDir is one direction of a connection under stress: a goroutine
// holds and releases its lock all the time (hold), and the peer keeps it
// going (peer); op is what a contender does.
type lockDir struct {
	name string
	lock func(c *Conn) *ioLock
	hold func(c *Conn) error                  // one operation, short
	peer func(cc net.Conn, stop *atomic.Bool) // feeds or drains the peer end
	op   func(c *Conn) error
}

var lockDirs = []lockDir{
	{
		name: "read",
		lock: func(c *Conn) *ioLock { return &c.fd.r.l },
		hold: func(c *Conn) error { _, err := c.Read(make([]byte, 1)); return err },
		peer: func(cc net.Conn, stop *atomic.Bool) {
			for !stop.Load() {
				cc.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
				if _, err := cc.Write([]byte("x")); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
					return
				}
			}
		},
		op: func(c *Conn) error { _, err := c.Read(make([]byte, 64)); return err },
	},
	{
		name: "write",
		lock: func(c *Conn) *ioLock { return &c.fd.w.l },
		hold: func(c *Conn) error { _, err := c.Write([]byte("y")); return err },
		peer: func(cc net.Conn, stop *atomic.Bool) { io.Copy(io.Discard, cc) },
		op:   func(c *Conn) error { _, err := c.Write(make([]byte, 64)); return err },
	},
}

// startHolder runs d.hold in a loop on a goroutine (in parallel with the
// scheduler's carriers) until stop; it returns a channel closed when the
// loop has ended.
func startHolder(c *Conn, d lockDir, stop *atomic.Bool) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		for !stop.Load() {
			if err := d.hold(c); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
				return
			}
		}
	}()
	return done
}

// TestIOLockCancelVersusGrant: tasks cancelled before they call Read
// (Write) or while they wait for its lock, with the lock changing hands
// all the time. Every task must return, and afterwards the lock must be
// free: a Read (Write) completes and Close returns. Before the park's arm
// reported its outcome, a task cancelled already could take a free lock in
// arm while Park returned the cancellation: the lock stayed held for good.
func TestIOLockCancelVersusGrant(t *testing.T) {
	for _, d := range lockDirs {
		t.Run(d.name, func(t *testing.T) {
			if err := cancelGrantStress(t, d, stressFor()); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// cancelGrantStress runs the stress of TestIOLockCancelVersusGrant for
// about dur and returns what went wrong, if anything.
func cancelGrantStress(t *testing.T, d lockDir, dur time.Duration) error {
	s := sched.New()
	t.Cleanup(func() { s.Close() })
	sc, cc := pair(t, schedEnvOn(s))
	var stop atomic.Bool
	go d.peer(cc, &stop)
	holder := startHolder(sc, d, &stop)
	const k = 8 // contenders per round
	rounds, cancelled := 0, 0
	for end := time.Now().Add(dur); time.Now().Before(end); rounds++ {
		tasks := make([]*sched.Task, 0, k)
		for i := range k {
			self := i%2 == 0 // cancelled before its call; the others while they wait
			task, err := s.Go(func(context.Context) {
				if self {
					sched.Current().Cancel()
				}
				d.op(sc)
			})
			if err != nil {
				return err
			}
			tasks = append(tasks, task)
			if !self {
				spin := time.Duration(rand.IntN(100)) * time.Microsecond
				go func() {
					for start := time.Now(); time.Since(start) < spin; {
					}
					task.Cancel()
				}()
			}
		}
		for _, task := range tasks {
			select {
			case <-task.Done():
			case <-time.After(10 * time.Second): // a hang bound
				return errors.New(d.name + ": a cancelled task did not return within 10s: the lock is held for good")
			}
			cancelled++
		}
	}
	t.Logf("%s: %d rounds, %d cancelled tasks", d.name, rounds, cancelled)
	stop.Store(true)
	sc.SetDeadline(time.Now()) // a holder parked for data or buffer space returns
	select {
	case <-holder:
	case <-time.After(10 * time.Second):
		return errors.New(d.name + ": the holder did not stop within 10s: it waits for a lock nobody releases")
	}
	sc.SetDeadline(time.Time{})
	return lockFree(sc, d, cc)
}

// lockFree checks that d's lock of c is free and that an operation in that
// direction, and Close, complete.
func lockFree(c *Conn, d lockDir, cc net.Conn) error {
	c.fd.mu.Lock()
	state, waiters := d.lock(c).state.Load(), 0
	if c.fd.dl != nil {
		waiters = len(c.fd.dl.lq)
	}
	c.fd.mu.Unlock()
	if state != 0 || waiters != 0 {
		return fmt.Errorf("%s: lock not free after the stress (state %d, %d waiters)", d.name, state, waiters)
	}
	if d.name == "read" {
		cc.SetWriteDeadline(time.Time{})
		go cc.Write([]byte("z"))
	}
	done := make(chan error, 1)
	go func() { done <- d.op(c) }()
	select {
	case err := <-done:
		if err != nil {
			return errors.New(d.name + " after the stress: " + err.Error())
		}
	case <-time.After(10 * time.Second):
		return errors.New(d.name + " after the stress did not complete within 10s")
	}
	closed := make(chan error, 1)
	go func() { closed <- c.Close() }()
	select {
	case err := <-closed:
		return err
	case <-time.After(10 * time.Second):
		return errors.New("Close after the stress did not return within 10s")
	}
}

// TestIOLockCloseVersusGrant: operations wait for a lock that changes
// hands all the time, and Close comes at a random moment: every one
// returns (done, or net.ErrClosed) and nothing parks forever, in both
// environments (goroutines have no cancellation; Close is their way out).
func TestIOLockCloseVersusGrant(t *testing.T) {
	forEachEnv(t, func(t *testing.T, e env) {
		for _, d := range lockDirs {
			rounds := 0
			for end := time.Now().Add(stressFor() / 2); time.Now().Before(end) && rounds < 300; rounds++ {
				sc, cc := pair(t, e)
				var stop atomic.Bool
				go d.peer(cc, &stop)
				holder := startHolder(sc, d, &stop)
				const k = 8
				var wg sync.WaitGroup
				errs := make(chan error, k)
				for range k {
					wg.Add(1)
					e.spawn(func() {
						defer wg.Done()
						if err := d.op(sc); err != nil && !errors.Is(err, net.ErrClosed) {
							errs <- err
						}
					})
				}
				spin := time.Duration(rand.IntN(200)) * time.Microsecond
				for start := time.Now(); time.Since(start) < spin; {
				}
				sc.Close()
				waitGroup(t, &wg, d.name+": operations waiting for the lock across Close")
				wait(t, holder, d.name+": the holder across Close")
				close(errs)
				for err := range errs {
					t.Errorf("%s: %v", d.name, err)
				}
				stop.Store(true)
				cc.Close()
			}
			t.Logf("%s: %d rounds", d.name, rounds)
		}
	})
}

// TestCloseReadiesLockWaiters: an operation waits for the read lock while
// another holds it (a raw read whose callback is blocked, which Close
// cannot wake, as net's fdMutex waiters): Close must ready the waiter at
// once, with net.ErrClosed, and the holder fails too once its callback
// returns.
func TestCloseReadiesLockWaiters(t *testing.T) {
	forEachEnv(t, func(t *testing.T, e env) {
		sc, _ := pair(t, e)
		rc, err := sc.SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		inside, release := make(chan struct{}), make(chan struct{})
		holderErr := make(chan error, 1)
		go func() { // a goroutine: its callback blocks
			holderErr <- rc.Read(func(uintptr) bool {
				close(inside)
				<-release
				return false // not done: it would wait for data next
			})
		}()
		wait(t, inside, "the holder's callback")
		var rerr error
		done := e.spawn(func() { _, rerr = sc.Read(make([]byte, 8)) })
		// Let the Read queue for the lock (not needed for correctness:
		// it fails with net.ErrClosed whenever it comes).
		deadline := time.Now().Add(10 * time.Second)
		for !lockQueued(sc) && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		if !lockQueued(sc) {
			t.Fatal("the second Read never queued for the lock")
		}
		sc.Close()
		wait(t, done, "a Read waiting for the lock after Close")
		checkOpError(t, rerr, "read", net.ErrClosed)
		close(release)
		select {
		case err := <-holderErr:
			if !errors.Is(err, net.ErrClosed) {
				t.Errorf("the holder after Close: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the holder did not return after Close")
		}
	})
}

// lockQueued reports whether an operation waits for c's read lock.
func lockQueued(c *Conn) bool {
	c.fd.mu.Lock()
	defer c.fd.mu.Unlock()
	return c.fd.dl != nil && len(c.fd.dl.lq) > 0
}
