package sched

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stackslice/stackslice/slice"
	"github.com/stackslice/stackslice/timers"
)

// ErrClosed is returned by Go on a scheduler that is closed or closing.
var ErrClosed = errors.New("sched: scheduler is closed")

// A Scheduler runs tasks (coroutines) on a fixed set of carrier goroutines.
// Create one with New; it starts its carriers with the first Go and stops
// them in Close. All methods are safe for concurrent use.
type Scheduler struct {
	name     string
	slice    time.Duration // time slice
	awaitMax int           // Await pool size
	// policy says how and when tasks are packed (WithCompression; see
	// compact.go).
	policy    CompressionPolicy
	ncarriers int
	carriers  []*carrier // fixed once started
	wheel     *timers.Wheel

	startOnce sync.Once
	started   atomic.Bool
	closed    atomic.Bool // no more Go
	stopping  atomic.Bool // carriers exit
	closeMu   sync.Mutex  // serializes Close
	carrierWG sync.WaitGroup

	// The groups of fields below are written by carriers and by goroutines
	// that start or ready tasks, all the time: each has cache lines of its
	// own, so that writes to one do not slow down the others, or the
	// read-mostly fields above.
	_ cacheLinePad

	// nrun counts stealable queued tasks (local queues and the global
	// queue) per priority; carriers look for work only where it is non-zero.
	nrun [numPrio]atomic.Int32
	_    cacheLinePad

	gmu    sync.Mutex
	global [numPrio]queue
	_      cacheLinePad

	// Idle carriers. One idle carrier is the watcher: it sleeps until the
	// next timer, in the poller if there is one; the others sleep until
	// woken.
	idleMu   sync.Mutex
	idleList []*carrier
	watcher  *carrier
	nidle    atomic.Int32
	poller   atomic.Pointer[Poller]
	timerRun atomic.Bool // one goroutine advances the wheel at a time
	_        cacheLinePad

	// Tasks. nextID is written by whoever starts tasks, ntasks also by
	// the carriers that finish them.
	nextID atomic.Uint64
	_      cacheLinePad
	ntasks atomic.Int64
	_      cacheLinePad
	shards [nshards]shard
	// event is closed and replaced (by poke) when the last task finishes
	// or all carriers go idle, while Run or Close wait for that.
	event   atomic.Pointer[chan struct{}]
	waiting atomic.Int32

	monWake     chan struct{}
	monSleeping atomic.Bool
	monDone     chan struct{}
	// sweepStop and sweepDone stop the sweeper and tell it has stopped
	// (see compact.go); nil if the scheduler has none.
	sweepStop, sweepDone chan struct{}

	handoffs atomic.Uint64
	idles    atomic.Uint64 // carriers' turns idle (see Stats.Idles)
	// Stand-ins (standin.go): workers detached from their carriers while
	// their tasks block, and the count of resumes of retired workers.
	maxStandIns     int
	standIns        atomic.Int32
	standInsStarted atomic.Uint64
	retiredSwitches atomic.Uint64
	standMu         sync.Mutex
	detached        map[*worker]struct{}
	workers         workerTable // every worker alive, by index
	// panicHandler handles task panics (WithPanicHandler); nil: crash.
	panicHandler func(*Task, *slice.PanicError)
	// coarse is nanotime as of the last monitor tick or carrier wake-up:
	// cheap to read, good enough for how long a task has been parked.
	coarse  atomic.Int64
	bridges atomic.Int32 // Await calls and signal bridges in flight
	await   awaitPool
	sigs    sigState
}

const nshards = 16

// cacheLinePad keeps the fields around it on separate cache lines.
type cacheLinePad [64]byte

// shard is one part of the registry of live tasks (for Close, Stats, Dump
// and deadlock reports): intrusive lists, so registering allocates nothing.
// A task is on one of two lists: swept once the sweeper has dealt with it
// in its current park (it has flagSwept), live otherwise; the sweeper
// walks only the live one (see compact.go). Both change under mu only.
type shard struct {
	mu    sync.Mutex
	live  *Task
	swept *Task
	_     [64 - 24]byte // keep shards on separate cache lines
}

// list returns the head of the list t is on. The caller holds sh.mu.
func (sh *shard) list(t *Task) **Task {
	if t.flags.Load()&flagSwept != 0 {
		return &sh.swept
	}
	return &sh.live
}

// link puts t at the head of the list whose head is *head. The caller
// holds sh.mu.
func link(head **Task, t *Task) {
	t.prev, t.next = nil, *head
	if *head != nil {
		(*head).prev = t
	}
	*head = t
}

// unlink takes t off the list whose head is *head. The caller holds sh.mu.
func unlink(head **Task, t *Task) {
	if t.prev != nil {
		t.prev.next = t.next
	} else {
		*head = t.next
	}
	if t.next != nil {
		t.next.prev = t.prev
	}
	t.prev, t.next = nil, nil
}

// An Option configures New.
type Option func(*Scheduler)

// WithCarriers sets the number of carrier goroutines (default GOMAXPROCS).
func WithCarriers(n int) Option {
	return func(s *Scheduler) {
		if n < 1 {
			panic("sched: WithCarriers needs at least 1")
		}
		s.ncarriers = n
	}
}

// WithTimeSlice sets how long a task may run before Checkpoint yields and
// the monitor hands its carrier's other tasks away, and, if the task still
// runs a moment later, gives its carrier a stand-in (default 10ms).
func WithTimeSlice(d time.Duration) Option {
	return func(s *Scheduler) {
		if d <= 0 {
			panic("sched: WithTimeSlice needs a positive duration")
		}
		s.slice = d
	}
}

// WithAwaitPool sets the number of goroutines Await may use at once
// (default 64).
func WithAwaitPool(n int) Option {
	return func(s *Scheduler) {
		if n < 1 {
			panic("sched: WithAwaitPool needs at least 1")
		}
		s.awaitMax = n
	}
}

// A CompressionPolicy says how and when a scheduler packs its parked tasks
// (see WithCompression). A packed task is unpacked transparently when it
// next runs.
type CompressionPolicy struct {
	// Mode is how: see slice.Compression. With slice.CompressNone the
	// scheduler packs nothing, and its tasks follow slice's global mode
	// (slice.SetCompression), off unless set.
	Mode slice.Compression
	// After is when: a task parked this long is packed, between After and
	// 1.5*After after it parked. Zero packs a task each time it switches
	// out, before its carrier goes on. Negative means
	// DefaultCompression.After.
	After time.Duration
}

// DefaultCompression is the compression policy of a scheduler's tasks
// unless WithCompression says otherwise: a task parked (say at a
// connection's Read) for a second is packed against a template shared by
// the tasks parked at the same place (see package slice).
//
// Why this mode: of slice's modes it packs smallest, to nothing at all for
// a task that differs from its template only in the objects it points to
// (an idle connection's buffers and state are on the heap, not its stack),
// and it is the cheapest to pack and unpack. Why a second: a connection
// idle that long tends to stay idle (keep-alive, long polls), and the
// unpack on its next wake-up (a few hundred nanoseconds) is nothing beside
// a second; a task busier than that is never packed, and costs nothing for
// it.
var DefaultCompression = CompressionPolicy{Mode: slice.CompressTemplate, After: time.Second}

// WithCompression sets how and when the scheduler packs its parked tasks
// (default DefaultCompression). Unless its Mode is slice.CompressNone, the
// scheduler's policy overrides slice's global mode for its tasks.
func WithCompression(p CompressionPolicy) Option {
	if p.Mode > slice.CompressTemplate {
		panic("sched: WithCompression with an unknown slice.Compression mode")
	}
	if p.After < 0 {
		p.After = DefaultCompression.After
	}
	return func(s *Scheduler) { s.policy = p }
}

// WithName names the scheduler in expvar (default "sched<N>").
func WithName(name string) Option { return func(s *Scheduler) { s.name = name } }

var schedSeq atomic.Int64

// New returns a scheduler. It starts no goroutine until the first Go.
func New(opts ...Option) *Scheduler {
	s := &Scheduler{
		slice:     10 * time.Millisecond,
		awaitMax:  64,
		policy:    DefaultCompression,
		ncarriers: runtime.GOMAXPROCS(0),
		wheel:     timers.New(),
		monWake:   make(chan struct{}, 1),
		monDone:   make(chan struct{}),

		maxStandIns: DefaultStandIns,
		detached:    map[*worker]struct{}{},
	}
	for _, o := range opts {
		o(s)
	}
	if s.name == "" {
		s.name = fmt.Sprintf("sched%d", schedSeq.Add(1))
	}
	s.carriers = make([]*carrier, s.ncarriers)
	for i := range s.carriers {
		s.carriers[i] = newCarrier(s, i)
	}
	ch := make(chan struct{})
	s.event.Store(&ch)
	publish(s)
	return s
}

// Carriers returns the number of carriers.
func (s *Scheduler) Carriers() int { return s.ncarriers }

func (s *Scheduler) start() {
	s.startOnce.Do(func() {
		s.started.Store(true)
		s.carrierWG.Add(len(s.carriers))
		for _, c := range s.carriers {
			go c.w.Load().loop()
		}
		go s.monitor()
		if s.sweeps() {
			s.sweepStop, s.sweepDone = make(chan struct{}), make(chan struct{})
			go s.sweeper()
		}
	})
}

// A GoOption configures one task.
type GoOption func(*goOpts)

type goOpts struct {
	prio   Priority
	pin    int32
	name   string
	parent context.Context
	wg     *WaitGroup
}

// WithPriority sets the task's priority (default Normal).
func WithPriority(p Priority) GoOption {
	if !p.valid() {
		panic("sched: WithPriority with an invalid priority; use High, Normal, Low or Idle")
	}
	return func(o *goOpts) { o.prio = p }
}

// WithPin keeps the task on carrier i (0 <= i < Carriers()): it is never
// stolen or handed off. Go panics if i is out of range.
func WithPin(i int) GoOption { return func(o *goOpts) { o.pin = int32(i) + 1 } }

// WithWaitGroup counts the task in wg: Go adds one to wg before the task
// starts (nothing if Go fails), and the task's end (return, panic or
// Goexit) is wg.Done. It is the scheduler's form of sync.WaitGroup.Go:
// sched's WaitGroup cannot start a task by itself, since it belongs to no
// scheduler.
func WithWaitGroup(wg *WaitGroup) GoOption { return func(o *goOpts) { o.wg = wg } }

// WithTaskName names the task in Dump.
func WithTaskName(name string) GoOption { return func(o *goOpts) { o.name = name } }

// WithContext makes ctx the parent of the task's context: its values and
// deadline are visible, and its cancellation cancels the task.
func WithContext(ctx context.Context) GoOption { return func(o *goOpts) { o.parent = ctx } }

// Go starts fn as a new task and returns it. It may be called from any
// goroutine or task. fn receives the task's context, cancelled by
// Task.Cancel, by the parent given with WithContext, and by Close. Go
// returns ErrClosed once the scheduler is closing.
//
// If fn panics, the program ends, as it does for a panic in a goroutine,
// with the task's stack in the message, unless the scheduler was created
// with a panic handler (WithPanicHandler; LogPanic logs and goes on): the
// handler gets the panic, and Task.Wait returns it as a *slice.PanicError.
func (s *Scheduler) Go(fn func(ctx context.Context), opts ...GoOption) (*Task, error) {
	if fn == nil {
		panic("sched: Go called with a nil function")
	}
	if s.closed.Load() {
		return nil, ErrClosed
	}
	o := goOpts{prio: Normal}
	if len(opts) > 0 {
		o = applyGoOpts(opts) // o would escape if its address went to the options
	}
	if o.pin < 0 || int(o.pin) > s.ncarriers || o.pin >= 1<<(32-pinShift) {
		panic(fmt.Sprintf("sched: WithPin(%d) out of range: the scheduler has %d carriers", o.pin-1, s.ncarriers))
	}
	t := &Task{s: s, fn: fn}
	t.flags.Store(uint32(o.prio)<<prioShift | uint32(o.pin)<<pinShift)
	t.co = slice.New(taskMain)
	s.setTaskPolicy(t)
	if o.name != "" || o.parent != nil || o.wg != nil {
		x := t.ext_()
		x.name = o.name
		x.parent = o.parent
		x.wg = o.wg
	}
	if o.wg != nil {
		o.wg.Add(1)
	}
	s.register(t)
	if s.closed.Load() { // Close may have swept the registry already
		s.unregister(t)
		if o.wg != nil {
			o.wg.Done()
		}
		return nil, ErrClosed
	}
	if o.parent != nil && o.parent.Done() != nil {
		stop := context.AfterFunc(o.parent, func() { t.cancel(o.parent.Err()) })
		t.mu.Lock()
		t.ext.stopParent = stop
		t.mu.Unlock()
	}
	s.start()
	t.state.Store(stQueued)
	if w := s.currentWorker(); w == nil {
		s.readyOutside(t)
	} else if o.pin == 0 {
		w.c.pushLocal(t)
	} else {
		w.pushNext(t) // as ready does
	}
	return t, nil
}

// applyGoOpts returns the options of a Go call that has some.
func applyGoOpts(opts []GoOption) goOpts {
	o := goOpts{prio: Normal}
	for _, f := range opts {
		f(&o)
	}
	return o
}

// taskMain is every task's coroutine function. It is a top-level
// function, so slice.New needs no closure for it (a method value t.body
// would cost every task 16 bytes): it finds its task through the worker
// that resumes it (slice.Owner), which records the task before resuming.
func taskMain() {
	t := currentTask()
	t.fn((*taskCtx)(t))
}

// shard returns the registry shard t is on.
func (s *Scheduler) shard(t *Task) *shard { return &s.shards[t.id%nshards] }

func (s *Scheduler) register(t *Task) {
	t.id = s.nextID.Add(1)
	s.ntasks.Add(1)
	sh := s.shard(t)
	sh.mu.Lock()
	link(&sh.live, t)
	sh.mu.Unlock()
}

func (s *Scheduler) unregister(t *Task) {
	sh := s.shard(t)
	sh.mu.Lock()
	unlink(sh.list(t), t)
	sh.mu.Unlock()
	if s.ntasks.Add(-1) == 0 {
		s.pokeRun()
	}
}

// tasks returns the live tasks.
func (s *Scheduler) tasks() []*Task {
	var ts []*Task
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		for _, head := range [...]*Task{sh.live, sh.swept} {
			for t := head; t != nil; t = t.next {
				ts = append(ts, t)
			}
		}
		sh.mu.Unlock()
	}
	return ts
}

// pokeRun wakes Run and Close if they wait.
func (s *Scheduler) pokeRun() {
	if s.waiting.Load() == 0 {
		return
	}
	ch := make(chan struct{})
	close(*s.event.Swap(&ch))
}

// waitEvent returns a channel closed at the next pokeRun. The caller
// checks its condition after taking it, then waits, so no poke is lost.
func (s *Scheduler) waitEvent() <-chan struct{} { return *s.event.Load() }

// Run runs until every task has finished (it returns nil), ctx is done (it
// closes the scheduler and returns ctx's error), or the tasks deadlock: all
// are parked in this package's primitives with no timer, poller, Await or
// blocked goroutine that could wake one (it returns a *DeadlockError
// listing them, and leaves the scheduler open for Dump and Close).
func (s *Scheduler) Run(ctx context.Context) error {
	if s.ntasks.Load() > 0 {
		s.start()
	}
	s.waiting.Add(1)
	defer s.waiting.Add(-1)
	var grace <-chan time.Time
	var suspect uint64
	for {
		ev := s.waitEvent()
		if s.ntasks.Load() == 0 {
			return nil
		}
		if s.idleNow() && grace == nil {
			// Everything may be stuck: look again after a moment, to give
			// goroutines outside the scheduler the benefit of the doubt.
			suspect = s.switches()
			grace = time.After(20 * time.Millisecond)
		}
		select {
		case <-ev:
		case <-ctx.Done():
			s.Close()
			return ctx.Err()
		case <-grace:
			grace = nil
			if s.switches() == suspect {
				if err := s.deadlock(); err != nil {
					return err
				}
			}
		}
	}
}

// Close cancels every task, waits for them to return, and stops the
// carriers; a task blocked outside the scheduler (in a Go channel, say)
// returns only when its wait ends. Go fails from then on. Close must not
// be called from one of the scheduler's own tasks (it returns an error
// then).
func (s *Scheduler) Close() error {
	if t := currentTask(); t != nil && t.s == s {
		return errors.New("sched: Close called from a task of the same scheduler; call it from outside, or cancel the tasks")
	}
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	if s.stopping.Load() {
		return nil
	}
	s.closed.Store(true)
	for _, t := range s.tasks() {
		t.cancel(nil)
	}
	s.waiting.Add(1)
	for {
		ev := s.waitEvent()
		if s.ntasks.Load() == 0 {
			break
		}
		<-ev
	}
	s.waiting.Add(-1)
	s.stopSignals()
	s.stopping.Store(true)
	s.startOnce.Do(func() {}) // never start after this
	s.idleMu.Lock()
	s.wakeAllLocked()
	s.idleMu.Unlock()
	s.carrierWG.Wait()
	if s.started.Load() {
		s.wakeMonitor()
		<-s.monDone
		if s.sweepStop != nil {
			close(s.sweepStop)
			<-s.sweepDone
		}
	}
	s.closePoller()
	unpublish(s)
	return nil
}
