package sched

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stackslice/stackslice/slice"
)

// The harness of the cancel-versus-grant stress (cancelgrant_test.go): a
// round runs a few tasks and goroutines (members) on a fresh scheduler,
// cancels some of them at random moments while they use a primitive, and
// ends with Run and Close; the stress then checks what the round left.

// stressHang bounds how long a round may take to end; it only detects a
// hang (a round normally takes milliseconds).
const stressHang = 10 * time.Second

// A stressConfig says how a stress runs: on how many carriers, for how
// many rounds, and whether goroutines take part besides tasks.
type stressConfig struct {
	carriers   int
	rounds     int
	goroutines bool
}

func (c stressConfig) String() string {
	if c.goroutines {
		return fmt.Sprintf("carriers=%d", c.carriers)
	}
	return fmt.Sprintf("carriers=%d,tasks-only", c.carriers)
}

// A member is one task or goroutine of a round.
type member struct {
	id       int
	inTask   bool
	ctx      context.Context    // the task's context, or the goroutine's
	cancel   func()             // cancels ctx
	op       context.Context    // for the Ctx variants (SendCtx...): cancelled on its own
	cancelOp context.CancelFunc // cancels op
}

// maybeCancel cancels the member (or its op context) now and then, just
// before it uses the primitive: such a call finds the cancellation before
// it parks.
func (m *member) maybeCancel() {
	switch rand.N(24) {
	case 0:
		m.cancel()
	case 1:
		m.cancelOp()
	}
}

// cancelled reports whether err is a cancellation the member may see: one
// of its contexts is done.
func (m *member) cancelled(err error) bool {
	return errors.Is(err, context.Canceled) && (m.ctx.Err() != nil || m.op.Err() != nil)
}

// A stressRound is one round of a stress.
type stressRound struct {
	s       *Scheduler
	gwg     sync.WaitGroup
	goLive  atomic.Int32 // goroutines still running (members and the canceller)
	victims []func()     // cancels a member or its op context
	// cancelable maps the tasks among the victims to their members (the
	// round's other tasks, drainers and the like, must run to their end).
	cancelable sync.Map
	ids        int
	// gate holds the members back until startCanceller opens it, from a
	// task: readied by a task, they queue on its carrier and take turns
	// (tasks started from outside would run one after the other).
	gate WaitGroup
	// unstick, if set, releases goroutines that a broken primitive left
	// blocked where no context reaches (Mutex.Lock).
	unstick func()

	mu   sync.Mutex
	errs []string
}

func newStressRound(cfg stressConfig, opts ...Option) *stressRound {
	// Some targets panic on purpose: the handler keeps the program going.
	base := []Option{WithCarriers(cfg.carriers), WithPanicHandler(func(*Task, *slice.PanicError) {})}
	r := &stressRound{s: New(append(base, opts...)...)}
	r.gate.Add(1)
	return r
}

// errorf records a failure of the round.
func (r *stressRound) errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.errs) < 10 {
		r.errs = append(r.errs, fmt.Sprintf(format, args...))
	}
}

func (r *stressRound) newMember(inTask bool) *member {
	r.ids++
	m := &member{id: r.ids, inTask: inTask}
	m.op, m.cancelOp = context.WithCancel(context.Background())
	return m
}

// task starts fn as a task; cancelable makes it (and its op context) a
// victim of the canceller.
func (r *stressRound) task(cancelable bool, fn func(m *member)) *Task {
	m := r.newMember(true)
	t, err := r.s.Go(func(ctx context.Context) {
		m.ctx = ctx
		m.cancel = Current().Cancel
		r.gate.Wait() // an error (a cancellation) is for fn to see
		fn(m)
	})
	if err != nil {
		panic(err)
	}
	if cancelable {
		r.victims = append(r.victims, t.Cancel, m.cancelOp)
		r.cancelable.Store(t, m)
	}
	return t
}

// goroutine starts fn on a goroutine, with a context of its own; see task.
func (r *stressRound) goroutine(cancelable bool, fn func(m *member)) {
	m := r.newMember(false)
	m.ctx, m.cancel = context.WithCancel(context.Background())
	if cancelable {
		r.victims = append(r.victims, m.cancel, m.cancelOp)
	}
	r.spawn(func() {
		r.gate.Wait()
		fn(m)
	})
}

func (r *stressRound) spawn(fn func()) {
	r.gwg.Add(1)
	r.goLive.Add(1)
	go func() {
		defer r.gwg.Done()
		defer r.goLive.Add(-1)
		fn()
	}()
}

// cancelWaiter cancels the task w readies (or its op context, which it
// may be waiting with), if it is a cancelable member of the round, with
// probability 1/odds. A member calls it just before it grants w's waiter
// what it waits for, so that the cancellation and the grant race as
// closely as they can: the waiter is woken by the cancellation and
// granted before it runs again.
func (r *stressRound) cancelWaiter(w Waker, odds int) {
	if w.t == nil || rand.N(odds) != 0 {
		return
	}
	if m, ok := r.cancelable.Load(w.t); ok {
		if rand.N(2) == 0 {
			m.(*member).cancelOp()
		} else {
			w.t.Cancel()
		}
	}
}

// cancelHead is cancelWaiter for the first waiter of l, guarded by mu.
func (r *stressRound) cancelHead(mu *sync.Mutex, l *syncList, odds int) {
	mu.Lock()
	var w Waker
	if l.head != nil {
		w = l.head.w
	}
	mu.Unlock()
	r.cancelWaiter(w, odds)
}

// startCanceller lets the members go, and cancels about a third of the
// victims, one by one, at random moments: while their members park, are
// parked, or are being granted what they wait for.
func (r *stressRound) startCanceller() {
	if _, err := r.s.Go(func(context.Context) { r.gate.Done() }); err != nil {
		panic(err)
	}
	vs := append([]func(){}, r.victims...)
	rand.Shuffle(len(vs), func(i, j int) { vs[i], vs[j] = vs[j], vs[i] })
	vs = vs[:len(vs)/3]
	r.spawn(func() {
		for _, cancel := range vs {
			if rand.N(8) == 0 {
				time.Sleep(time.Duration(rand.N(200)) * time.Microsecond)
			}
			for i := rand.N(128); i > 0; i-- {
				runtime.Gosched()
			}
			cancel()
		}
	})
}

// end waits for the round's tasks (Run) and goroutines, closes the
// scheduler and returns the round's failures, nil if none. A hang (or a
// deadlock Run reports) is a failure; end then cancels everything to stop
// the round.
func (r *stressRound) end() error {
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	ran := make(chan error, 1)
	go func() { ran <- r.run(ctx) }()
	hang := time.NewTimer(stressHang)
	defer hang.Stop()
	select {
	case err := <-ran:
		if err != nil {
			r.errorf("Run: %v\n%s", err, r.dump())
			r.closeScheduler()
		}
	case <-hang.C:
		r.errorf("the round's tasks did not end in %v:\n%s", stressHang, r.dump())
		stop() // Run closes the scheduler, which cancels every task
		r.bounded("Run to return after its ctx ended", func() { <-ran })
	}
	if !r.bounded("the round's goroutines to end", r.gwg.Wait) {
		for _, cancel := range r.victims {
			cancel()
		}
		if r.unstick != nil {
			r.unstick()
		}
		r.bounded("the round's goroutines to end once cancelled", r.gwg.Wait)
	}
	r.closeScheduler()
	return r.err()
}

// run is Run, called again when it reports a deadlock while goroutines
// that may end it still run.
func (r *stressRound) run(ctx context.Context) error {
	for {
		err := r.s.Run(ctx)
		var dl *DeadlockError
		if errors.As(err, &dl) && r.goLive.Load() > 0 {
			time.Sleep(time.Millisecond)
			continue
		}
		return err
	}
}

// bounded waits for fn to return, for at most stressHang, and reports
// whether it did (a failure of the round if not).
func (r *stressRound) bounded(what string, fn func()) bool {
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	select {
	case <-done:
		return true
	case <-time.After(stressHang):
		r.errorf("waited %v for %s", stressHang, what)
		return false
	}
}

func (r *stressRound) closeScheduler() {
	r.bounded("Close", func() { r.s.Close() })
}

func (r *stressRound) dump() string {
	var b strings.Builder
	r.s.Dump(&b)
	return b.String()
}

func (r *stressRound) err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.errs) == 0 {
		return nil
	}
	return errors.New(strings.Join(r.errs, "\n"))
}

// stressRounds runs round cfg.rounds times, stopping at the first that
// fails.
func stressRounds(cfg stressConfig, round func() error) error {
	for i := 0; i < cfg.rounds; i++ {
		if err := round(); err != nil {
			return fmt.Errorf("round %d of %d (%v): %w", i+1, cfg.rounds, cfg, err)
		}
	}
	return nil
}
