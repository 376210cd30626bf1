package sched

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stackslice/stackslice/slice"
)

// Cancel versus grant: every primitive that parks is used by tasks (and
// goroutines) that are cancelled before they park and while they are
// parked, racing with the grant (Unlock, Release, a Send or Recv, Done, a
// task finishing...), over many short rounds, with one carrier and with
// several. After each round nothing granted may be lost or doubled, and
// nothing may be left parked (a round that does not end within stressHang
// fails, as does a deadlock Run reports). To make the races close, a
// member about to grant something first cancels, now and then, the waiter
// it is about to grant it to. The harness is in stress_test.go; the
// Control tests (cancelgrant_control_test.go, negcontrol builds) show that
// the stress catches a dropped grant and a dropped Chan claim.

// stressConfigs returns the configurations each stress runs in: one
// carrier and several, with goroutines taking part besides tasks.
func stressConfigs(rounds int) []stressConfig {
	if testing.Short() {
		rounds /= 5
	}
	if raceEnabled {
		rounds /= 3
	}
	return []stressConfig{
		{carriers: 1, rounds: rounds, goroutines: true},
		{carriers: 4, rounds: rounds, goroutines: true},
	}
}

func runStress(t *testing.T, rounds int, stress func(stressConfig) error) {
	for _, cfg := range stressConfigs(rounds) {
		t.Run(cfg.String(), func(t *testing.T) {
			if err := stress(cfg); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestCancelGrantMutex(t *testing.T)     { runStress(t, 150, mutexStress) }
func TestCancelGrantCond(t *testing.T)      { runStress(t, 100, condStress) }
func TestCancelGrantSemaphore(t *testing.T) { runStress(t, 150, semaphoreStress) }
func TestCancelGrantWaitGroup(t *testing.T) { runStress(t, 150, waitGroupStress) }
func TestCancelGrantTaskWait(t *testing.T)  { runStress(t, 100, taskWaitStress) }
func TestCancelGrantAwait(t *testing.T)     { runStress(t, 100, awaitStress) }
func TestCancelGrantPark(t *testing.T)      { runStress(t, 150, parkStress) }

func TestCancelGrantChan(t *testing.T) {
	for _, capacity := range []int{0, 2} {
		t.Run(fmt.Sprintf("cap=%d", capacity), func(t *testing.T) {
			runStress(t, 100, func(cfg stressConfig) error { return chanStress(cfg, capacity) })
		})
	}
}

// mutexStress: members lock one Mutex over and over, racing cancellations
// with Unlock's hand-off. The Mutex is held by at most one member at a
// time, the one whose Lock returned nil, and is free after the round: a
// waiter that was handed the Mutex as it was cancelled keeps it.
func mutexStress(cfg stressConfig) error {
	var m Mutex
	var owner atomic.Int64 // the member holding m; 0: none
	return stressRounds(cfg, func() error {
		r := newStressRound(cfg)
		r.unstick = func() { unlockOrphan(&m, &owner) }
		body := func(mb *member) {
			for k := 0; k < 16; k++ {
				if mb.inTask {
					mb.maybeCancel()
				}
				if err := m.LockCtx(nil); err != nil {
					if !mb.cancelled(err) {
						r.errorf("member %d: Lock = %v, not cancelled", mb.id, err)
					}
					continue
				}
				if prev := owner.Swap(int64(mb.id)); prev != 0 {
					r.errorf("member %d locked the Mutex held by member %d", mb.id, prev)
				}
				if rand.N(2) == 0 {
					Yield()
				}
				owner.Store(0)
				r.cancelHead(&m.mu, &m.q, 4)
				m.Unlock()
			}
		}
		for i := 0; i < 6; i++ {
			r.task(true, body)
		}
		if cfg.goroutines {
			for i := 0; i < 2; i++ {
				r.goroutine(false, body) // Lock takes no ctx: only tasks are cancelled
			}
		}
		r.startCanceller()
		if err := r.end(); err != nil {
			return err
		}
		if owner.Load() != 0 || !m.TryLock() {
			return errors.New("the Mutex is locked by nobody after the round: a grant was lost")
		}
		m.Unlock()
		if m.q.head != nil {
			return errors.New("waiters left in the Mutex's queue after the round")
		}
		return nil
	})
}

// unlockOrphan unlocks m if it is locked by nobody (a lost grant), so that
// goroutines blocked in Lock can end.
func unlockOrphan(m *Mutex, owner *atomic.Int64) {
	m.mu.Lock()
	orphan := m.locked && owner.Load() == 0
	m.mu.Unlock()
	if orphan {
		m.Unlock()
	}
}

// condStress: producers add items under a Mutex and Signal (or
// Broadcast) a Cond; consumers wait for items on the Cond and are
// cancelled while they wait. Cond.Wait returns with the Mutex held,
// always (its re-lock ignores cancellation), and no item is lost or
// counted twice.
func condStress(cfg stressConfig) error {
	return stressRounds(cfg, func() error {
		r := newStressRound(cfg)
		var l Mutex
		c := NewCond(&l)
		var owner atomic.Int64
		r.unstick = func() { unlockOrphan(&l, &owner) }
		var items, produced, consumed int // guarded by l
		closed := false
		hold := func(mb *member, after string) {
			if prev := owner.Swap(int64(mb.id)); prev != 0 {
				r.errorf("member %d holds the Mutex after %s, and so does member %d", mb.id, after, prev)
			}
		}
		release := func() {
			owner.Store(0)
			r.cancelHead(&l.mu, &l.q, 4)
			l.Unlock()
		}
		consume := func(mb *member) {
			for {
				if mb.inTask {
					mb.maybeCancel()
				}
				if err := l.LockCtx(nil); err != nil {
					if !mb.cancelled(err) {
						r.errorf("member %d: Lock = %v, not cancelled", mb.id, err)
					}
					return
				}
				hold(mb, "Lock")
				for items == 0 && !closed {
					owner.Store(0)
					err := c.Wait()
					hold(mb, "Cond.Wait")
					if err != nil {
						if !mb.cancelled(err) {
							r.errorf("member %d: Cond.Wait = %v, not cancelled", mb.id, err)
						}
						release()
						return
					}
				}
				if items == 0 { // closed
					release()
					return
				}
				items--
				consumed++
				release()
			}
		}
		produce := func(mb *member) {
			for k := 0; k < 16; k++ {
				if mb.inTask {
					mb.maybeCancel()
				}
				if err := l.LockCtx(nil); err != nil {
					if !mb.cancelled(err) {
						r.errorf("member %d: Lock = %v, not cancelled", mb.id, err)
					}
					continue
				}
				hold(mb, "Lock")
				items++
				produced++
				r.cancelHead(&c.mu, &c.q, 4)
				if rand.N(4) == 0 {
					c.Broadcast()
				} else {
					c.Signal()
				}
				release()
				Yield()
			}
		}
		var producers WaitGroup
		for i := 0; i < 3; i++ {
			producers.Add(1)
			r.task(true, func(mb *member) { defer producers.Done(); produce(mb) })
		}
		for i := 0; i < 4; i++ {
			r.task(true, consume)
		}
		if cfg.goroutines {
			producers.Add(1)
			r.goroutine(false, func(mb *member) { defer producers.Done(); produce(mb) })
			r.goroutine(false, consume)
		}
		// The closer wakes the consumers still waiting once the
		// producers are done.
		r.task(false, func(mb *member) {
			producers.Wait()
			if l.LockCtx(nil) == nil {
				closed = true
				c.Broadcast()
				l.Unlock()
			}
		})
		r.startCanceller()
		if err := r.end(); err != nil {
			return err
		}
		if owner.Load() != 0 || !l.TryLock() {
			return errors.New("the Mutex is locked by nobody after the round: a grant was lost")
		}
		l.Unlock()
		if produced != consumed+items {
			return fmt.Errorf("%d items produced, %d consumed, %d left", produced, consumed, items)
		}
		if c.q.head != nil || l.q.head != nil {
			return errors.New("waiters left in the Cond's or the Mutex's queue after the round")
		}
		return nil
	})
}

// semaphoreStress: members acquire 1 to 3 units of a Semaphore of 4 with
// Acquire and AcquireCtx, racing cancellations with Release's grants. No
// more than 4 units are in use at a time, and all 4 are available again
// after the round, no more.
func semaphoreStress(cfg stressConfig) error {
	const capacity = 4
	sem := NewSemaphore(capacity)
	var inUse atomic.Int64
	return stressRounds(cfg, func() error {
		r := newStressRound(cfg)
		body := func(mb *member) {
			for k := 0; k < 16; k++ {
				mb.maybeCancel()
				n := 1 + rand.Int64N(3)
				var err error
				switch rand.N(3) {
				case 0:
					if mb.inTask {
						err = sem.Acquire(n)
						break
					}
					fallthrough
				case 1:
					err = sem.AcquireCtx(mb.ctx, n) // a task's own context: as Acquire
				case 2:
					err = sem.AcquireCtx(mb.op, n)
				}
				if err != nil {
					if !mb.cancelled(err) {
						r.errorf("member %d: Acquire(%d) = %v, not cancelled", mb.id, n, err)
					}
					continue
				}
				if u := inUse.Add(n); u > capacity {
					r.errorf("%d units in use, of %d", u, capacity)
				}
				if rand.N(2) == 0 {
					Yield()
				}
				inUse.Add(-n)
				r.cancelHead(&sem.mu, &sem.q, 4)
				sem.Release(n)
			}
		}
		for i := 0; i < 6; i++ {
			r.task(true, body)
		}
		if cfg.goroutines {
			for i := 0; i < 2; i++ {
				r.goroutine(true, body)
			}
		}
		r.startCanceller()
		if err := r.end(); err != nil {
			return err
		}
		if !sem.TryAcquire(capacity) {
			return fmt.Errorf("TryAcquire(%d) failed after the round: a grant was lost", capacity)
		}
		extra := sem.TryAcquire(1)
		sem.Release(capacity)
		if extra {
			sem.Release(1)
			return fmt.Errorf("more than %d units available after the round: a grant was doubled", capacity)
		}
		if sem.q.head != nil {
			return errors.New("waiters left in the Semaphore's queue after the round")
		}
		return nil
	})
}

// chanStress: senders send distinct values on two Chans of the given
// capacity with Send, SendCtx, Select and SelectCtx; receivers receive
// with Recv, RecvCtx, Select and SelectCtx; both are cancelled at random.
// A drainer per Chan (never cancelled) keeps the senders going, and a
// closer closes both Chans once the senders are done; in half the rounds
// it closes the second at a random moment before, racing with the
// senders, receivers and cancellations. Every value whose send reported
// success is received exactly once; no value whose send failed is
// received.
func chanStress(cfg stressConfig, capacity int) error {
	const senders, gsenders, iters = 6, 2, 16
	return stressRounds(cfg, func() error {
		r := newStressRound(cfg)
		c1, c2 := NewChan[int](capacity), NewChan[int](capacity)
		nvals := (senders + gsenders) * iters
		sent, got := make([]atomic.Int32, nvals), make([]atomic.Int32, nvals)
		const sendOK, sendFailed = 1, 2
		var sending WaitGroup
		early := rand.N(2) == 0 // close c2 early
		sender := func(base int) func(mb *member) {
			return func(mb *member) {
				defer sending.Done()
				for k := 0; k < iters; k++ {
					mb.maybeCancel()
					v := base + k
					r.cancelChanHeads(c1, c2)
					err := stressSend(mb, c1, c2, v)
					switch {
					case err == nil:
						sent[v].Store(sendOK)
					case mb.cancelled(err), early && errors.Is(err, ErrChanClosed):
						sent[v].Store(sendFailed)
					default:
						sent[v].Store(sendFailed)
						r.errorf("member %d: send = %v, not cancelled", mb.id, err)
					}
				}
			}
		}
		record := func(mb *member, v int) {
			if n := got[v].Add(1); n > 1 {
				r.errorf("value %d received %d times", v, n)
			}
		}
		receiver := func(mb *member) {
			for {
				mb.maybeCancel()
				r.cancelChanHeads(c1, c2)
				v, err := stressRecv(mb, c1, c2)
				switch {
				case err == nil:
					record(mb, v)
				case errors.Is(err, ErrChanClosed):
					return
				case mb.cancelled(err):
					return
				default:
					r.errorf("member %d: receive = %v, not cancelled", mb.id, err)
					return
				}
			}
		}
		drainer := func(c *Chan[int]) func(mb *member) {
			return func(mb *member) {
				for {
					v, err := c.Recv()
					if err != nil {
						if !errors.Is(err, ErrChanClosed) {
							r.errorf("drainer: Recv = %v", err)
						}
						return
					}
					record(mb, v)
				}
			}
		}
		for i := 0; i < senders; i++ {
			sending.Add(1)
			r.task(true, sender(i*iters))
		}
		for i := 0; i < 4; i++ {
			r.task(true, receiver)
		}
		r.task(false, drainer(c1))
		r.task(false, drainer(c2))
		if cfg.goroutines {
			for i := senders; i < senders+gsenders; i++ {
				sending.Add(1)
				r.goroutine(true, sender(i*iters))
			}
			r.goroutine(true, receiver)
			r.goroutine(true, receiver)
		}
		r.task(false, func(mb *member) {
			if early {
				for i := rand.N(64); i > 0; i-- {
					Yield()
				}
				c2.Close()
			}
			if sending.Wait() == nil {
				c1.Close()
				if !early {
					c2.Close()
				}
			}
		})
		r.startCanceller()
		if err := r.end(); err != nil {
			return err
		}
		for _, c := range []*Chan[int]{c1, c2} {
			for v, ok := c.TryRecv(); ok; v, ok = c.TryRecv() {
				record(nil, v)
			}
		}
		if err := r.err(); err != nil {
			return err
		}
		for v := range nvals {
			switch s, n := sent[v].Load(), got[v].Load(); {
			case s == sendOK && n != 1:
				return fmt.Errorf("value %d was sent (the send returned nil) and received %d times", v, n)
			case s != sendOK && n != 0:
				return fmt.Errorf("value %d was received %d times, but its send failed (state %d)", v, n, s)
			}
		}
		if c1.recvq.head != nil || c1.sendq.head != nil || c2.recvq.head != nil || c2.sendq.head != nil {
			return errors.New("waiters left in a Chan's queues after the round")
		}
		return nil
	})
}

// cancelChanHeads cancels (now and then) the first waiters of c1 and c2,
// which an operation that follows may complete.
func (r *stressRound) cancelChanHeads(c1, c2 *Chan[int]) {
	var ws []Waker
	for _, c := range []*Chan[int]{c1, c2} {
		c.mu.Lock()
		for _, w := range []*waiter[int]{c.recvq.head, c.sendq.head} {
			if w != nil {
				ws = append(ws, w.waker())
			}
		}
		c.mu.Unlock()
	}
	for _, w := range ws {
		r.cancelWaiter(w, 4)
	}
}

// stressSend sends v on c1 or c2, in one of the ways a member can.
func stressSend(mb *member, c1, c2 *Chan[int], v int) error {
	ctx := mb.ctx // a task's own context: as no ctx
	if rand.N(2) == 0 {
		ctx = mb.op
	}
	switch rand.N(4) {
	case 0:
		if mb.inTask {
			return c1.Send(v)
		}
		return c1.SendCtx(ctx, v)
	case 1:
		return c2.SendCtx(ctx, v)
	case 2:
		if mb.inTask {
			_, err := Select(c1.CaseSend(v), c2.CaseSend(v))
			return err
		}
	}
	i, err := SelectCtx(ctx, c1.CaseSend(v), c2.CaseSend(v))
	if i < 0 && err == nil || i >= 0 && err != nil && !errors.Is(err, ErrChanClosed) {
		return fmt.Errorf("SelectCtx = %d, %v", i, err)
	}
	return err
}

// stressRecv receives from c1 or c2, in one of the ways a member can.
func stressRecv(mb *member, c1, c2 *Chan[int]) (int, error) {
	ctx := mb.ctx
	if rand.N(2) == 0 {
		ctx = mb.op
	}
	switch rand.N(4) {
	case 0:
		if mb.inTask {
			return c1.Recv()
		}
		return c1.RecvCtx(ctx)
	case 1:
		return c2.RecvCtx(ctx)
	}
	var v int
	var ok bool
	var i int
	var err error
	if mb.inTask && rand.N(2) == 0 {
		i, err = Select(c1.CaseRecv(&v, &ok), c2.CaseRecv(&v, &ok))
	} else {
		i, err = SelectCtx(ctx, c1.CaseRecv(&v, &ok), c2.CaseRecv(&v, &ok))
	}
	switch {
	case (i < 0) != (err != nil):
		return 0, fmt.Errorf("Select = %d, %v", i, err)
	case err != nil:
		return 0, err
	case !ok:
		return 0, ErrChanClosed
	}
	return v, nil
}

// waitGroupStress: workers call Done at random moments while waiters,
// some cancelled, Wait. A Wait that returns nil sees every worker done;
// the WaitGroup (reused over the rounds) counts no waiter after a round.
func waitGroupStress(cfg stressConfig) error {
	var wg WaitGroup
	return stressRounds(cfg, func() error {
		r := newStressRound(cfg)
		workers := 6
		if cfg.goroutines {
			workers += 2
		}
		var finished atomic.Int32
		wg.Add(workers)
		work := func(mb *member) {
			for i := rand.N(8); i > 0; i-- {
				Yield()
			}
			finished.Add(1)
			r.cancelHead(&wg.mu, &wg.q, 2)
			wg.Done()
		}
		wait := func(mb *member) {
			for k := 0; k < 2; k++ {
				if mb.inTask {
					mb.maybeCancel()
				}
				err := wg.Wait()
				switch {
				case err == nil:
					if n := finished.Load(); n != int32(workers) {
						r.errorf("member %d: Wait returned with %d of %d workers done", mb.id, n, workers)
					}
				case !mb.cancelled(err):
					r.errorf("member %d: Wait = %v, not cancelled", mb.id, err)
				}
			}
		}
		for i := 0; i < 6; i++ {
			r.task(true, wait)
		}
		for i := 0; i < 6; i++ {
			r.task(false, work)
		}
		if cfg.goroutines {
			r.goroutine(false, wait) // Wait takes no ctx: only tasks are cancelled
			r.goroutine(false, work)
			r.goroutine(false, work)
		}
		r.startCanceller()
		if err := r.end(); err != nil {
			return err
		}
		if v := wg.state.Load(); v != 0 {
			return fmt.Errorf("WaitGroup state after the round: counter %d, waiters %d, want 0, 0", v>>32, uint32(v))
		}
		if wg.q.head != nil {
			return errors.New("waiters left in the WaitGroup's queue after the round")
		}
		return nil
	})
}

// taskWaitStress: waiters, some cancelled, Wait for target tasks that
// finish (some by panicking) at random moments. A Wait that does not
// report a cancellation returns the target's result, after it finished.
func taskWaitStress(cfg stressConfig) error {
	return stressRounds(cfg, func() error {
		r := newStressRound(cfg)
		const ntargets = 3
		targets := make([]*Task, ntargets)
		for i := range targets {
			panics := i == 0
			targets[i] = r.task(false, func(mb *member) {
				for j := rand.N(16); j > 0; j-- {
					Yield()
				}
				// Race the cancellation of a waiter with this task's
				// end, which readies it.
				me := Current()
				me.mu.Lock()
				var ws []Waker
				if me.ext != nil {
					ws = append(ws, me.ext.waiters...)
				}
				me.mu.Unlock()
				for _, w := range ws {
					r.cancelWaiter(w, 3)
				}
				if panics {
					panic("target panics")
				}
			})
		}
		wait := func(mb *member) {
			for k := 0; k < 4; k++ {
				if mb.inTask {
					mb.maybeCancel()
				}
				i := rand.N(ntargets)
				err := targets[i].Wait()
				var pe *slice.PanicError
				switch {
				case err == nil && i != 0, errors.As(err, &pe) && i == 0:
					select {
					case <-targets[i].Done():
					default:
						r.errorf("member %d: Wait returned %v before the task finished", mb.id, err)
					}
				case !mb.cancelled(err):
					r.errorf("member %d: Wait on target %d = %v", mb.id, i, err)
				}
			}
		}
		for i := 0; i < 6; i++ {
			r.task(true, wait)
		}
		if cfg.goroutines {
			r.goroutine(false, wait)
			r.goroutine(false, wait)
		}
		r.startCanceller()
		return r.end()
	})
}

// awaitStress: tasks, some cancelled, Await short functions on a pool of
// two goroutines. An Await that returns nil returns after its function
// did; every function that starts runs to its end (a task cancelled
// before it calls Await starts none), and the scheduler counts no Await
// in flight once they have: a job lost on the way would stay counted.
func awaitStress(cfg stressConfig) error {
	return stressRounds(cfg, func() error {
		r := newStressRound(cfg, WithAwaitPool(2))
		var started, ran atomic.Int32
		body := func(mb *member) {
			for k := 0; k < 8; k++ {
				mb.maybeCancel()
				done := new(atomic.Bool)
				me := Current()
				err := Await(func() {
					started.Add(1)
					for i := rand.N(8); i > 0; i-- {
						runtime.Gosched()
					}
					r.cancelWaiter(Waker{t: me}, 3) // races with the Ready that follows
					done.Store(true)
					ran.Add(1)
				})
				switch {
				case err == nil:
					if !done.Load() {
						r.errorf("member %d: Await returned nil before its function returned", mb.id)
					}
				case !mb.cancelled(err):
					r.errorf("member %d: Await = %v, not cancelled", mb.id, err)
				}
			}
		}
		for i := 0; i < 6; i++ {
			r.task(true, body)
		}
		if cfg.goroutines {
			r.goroutine(true, body) // Await outside a task calls fn directly
		}
		r.startCanceller()
		if err := r.end(); err != nil {
			return err
		}
		deadline := time.Now().Add(stressHang)
		for ran.Load() != started.Load() || r.s.bridges.Load() != 0 {
			if time.Now().After(deadline) {
				return fmt.Errorf("%d of %d Await functions that started ran to their end, %d Awaits in flight, after %v",
					ran.Load(), started.Load(), r.s.bridges.Load(), stressHang)
			}
			time.Sleep(time.Millisecond)
		}
		return nil
	})
}

// A tokenPool is a primitive built on Park the way this package's are: a
// count of tokens and a FIFO of waiters under a mutex, a waiter granted
// under the mutex before it is readied. Its arm calls the park off when a
// token is free (taking it), and sometimes readies its own Waker instead.
type tokenPool struct {
	mu     sync.Mutex
	tokens int
	q      []*tokenWaiter
}

type tokenWaiter struct {
	w       Waker
	granted bool
}

// take takes a token, parking in one of the ways Park offers until one is
// given; it returns nil with the token, or a cancellation without it.
func (p *tokenPool) take(mb *member, r *stressRound) error {
	tw := new(tokenWaiter)
	calledOff := false
	arm := func(w Waker) bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.tokens > 0 {
			p.tokens--
			if rand.N(4) == 0 { // grant to ourselves, as a counterpart would
				tw.granted = true
				w.Ready()
				return true
			}
			calledOff = true
			return false
		}
		tw.w = w
		p.q = append(p.q, tw)
		return true
	}
	var err error
	switch rand.N(4) {
	case 0:
		err = ParkCtx(mb.ctx, "token", arm) // a task's own context: as nil
	case 1:
		err = ParkCtx(mb.op, "token", arm)
	case 2:
		if mb.inTask {
			err = Park("token", arm)
			break
		}
		fallthrough
	default:
		err = ParkCtx(nil, "token", arm)
	}
	if calledOff {
		if err != nil {
			r.errorf("member %d: arm called the park off, and Park = %v", mb.id, err)
		}
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err == nil {
		if !tw.granted {
			r.errorf("member %d: Park returned nil, not granted", mb.id)
		}
		return nil
	}
	if !mb.cancelled(err) {
		r.errorf("member %d: Park = %v, not cancelled", mb.id, err)
	}
	if tw.granted {
		return nil // granted as it was cancelled: keep it
	}
	for i, x := range p.q {
		if x == tw {
			p.q = append(p.q[:i], p.q[i+1:]...)
			break
		}
	}
	return err
}

// give gives a token back, to the first waiter if there is one.
func (p *tokenPool) give(r *stressRound) {
	p.mu.Lock()
	if len(p.q) > 0 {
		w := p.q[0].w
		p.mu.Unlock()
		r.cancelWaiter(w, 4)
		p.mu.Lock()
	}
	if len(p.q) == 0 {
		p.tokens++
		p.mu.Unlock()
		return
	}
	tw := p.q[0]
	p.q = p.q[1:]
	tw.granted = true
	p.mu.Unlock()
	tw.w.Ready()
}

// parkStress: members take and give back tokens of a tokenPool of 2,
// racing cancellations with the grants and with arm calling the park off.
// A park that arm called off returns nil whatever the cancellation; no
// more than 2 tokens are held at a time, and both are free after the
// round.
func parkStress(cfg stressConfig) error {
	const ntokens = 2
	p := &tokenPool{tokens: ntokens}
	var held atomic.Int32
	return stressRounds(cfg, func() error {
		r := newStressRound(cfg)
		body := func(mb *member) {
			for k := 0; k < 16; k++ {
				mb.maybeCancel()
				if p.take(mb, r) != nil {
					continue
				}
				if n := held.Add(1); n > ntokens {
					r.errorf("%d tokens held, of %d", n, ntokens)
				}
				if rand.N(2) == 0 {
					Yield()
				}
				held.Add(-1)
				p.give(r)
			}
		}
		for i := 0; i < 6; i++ {
			r.task(true, body)
		}
		if cfg.goroutines {
			for i := 0; i < 2; i++ {
				r.goroutine(true, body)
			}
		}
		r.startCanceller()
		if err := r.end(); err != nil {
			return err
		}
		if p.tokens != ntokens || len(p.q) != 0 {
			return fmt.Errorf("after the round: %d tokens free of %d, %d waiters", p.tokens, ntokens, len(p.q))
		}
		return nil
	})
}
