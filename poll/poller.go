//go:build linux || darwin || freebsd

package poll

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stackslice/stackslice/sched"
	"github.com/stackslice/stackslice/timers"
)

// poller is one scheduler's readiness engine: the OS readiness queue
// (pollImpl: epoll or kqueue), the table of the descriptors registered with
// it, and counters. It implements sched.Poller and io.Closer: the
// scheduler owns it and closes it (Close) once its carriers have stopped.
//
// Its own descriptors (the epoll instance and eventfd, or the kqueue) are
// used only between enter and exit, and Close closes them only once every
// such use has ended, so a number is never used after it was closed (and
// perhaps reused by somebody else).
type poller struct {
	pollImpl
	wheel *timers.Wheel
	s     *sched.Scheduler // the owner; nil for a test's poller
	tab   fdTable

	// users counts, in units of 2, the goroutines between enter and exit;
	// bit 0 is set once Close began. drained is closed by the exit that
	// leaves no user after Close began.
	users   atomic.Int64
	drained chan struct{}

	// wakePending says a Wake is asked for and no Poll has returned for it
	// yet; sleepers counts the goroutines that wait, or are about to, in
	// the OS queue (see beginWait). Wake writes the wake event only while
	// somebody sleeps: a Wake while nobody does (a carrier readying tasks
	// from its own Poll's events, the commonest case) costs no system call.
	wakePending atomic.Bool
	sleepers    atomic.Int32

	gen atomic.Uint32 // registration generations; 0 is never used

	inPoll   atomic.Int32 // scheduler carriers in Poll now
	lastPoll atomic.Int64 // nanotime of the scheduler's last Poll
	waiters  atomic.Int64 // parked or parking waiters
	helperOn atomic.Bool  // the helper goroutine runs

	fds            atomic.Int64
	helperRuns     atomic.Uint64
	polls          atomic.Uint64
	busyPolls      atomic.Uint64
	wakes          atomic.Uint64
	events         atomic.Uint64
	readied        atomic.Uint64
	acceptBackoffs atomic.Uint64
	acceptRetries  atomic.Uint64
	collected      atomic.Uint64
}

var _ sched.Poller = (*poller)(nil)

func newPoller(w *timers.Wheel) (*poller, error) {
	if w == nil {
		return nil, errors.New("poll: scheduler has no timing wheel")
	}
	p := &poller{wheel: w, drained: make(chan struct{})}
	// Never polled: a waiter on a scheduler that has not run must find it
	// silent and start the helper, even within helperAfter of start-up.
	p.lastPoll.Store(nanotime() - 2*int64(helperAfter))
	if err := p.init(); err != nil {
		return nil, err
	}
	return p, nil
}

const pollerClosed = 1 // the bit of poller.users set by Close

// enter begins a use of the poller's own descriptors; it reports false,
// and the caller must not use them, once Close began. Every true enter is
// followed by exit.
func (p *poller) enter() bool {
	for {
		u := p.users.Load()
		if u&pollerClosed != 0 {
			return false
		}
		if p.users.CompareAndSwap(u, u+2) {
			return true
		}
	}
}

func (p *poller) exit() {
	if p.users.Add(-2) == pollerClosed {
		close(p.drained) // the last user after Close began
	}
}

// isClosed reports whether Close began.
func (p *poller) isClosed() bool { return p.users.Load()&pollerClosed != 0 }

// Close closes the poller: the scheduler's Close calls it once its
// carriers have stopped. It closes every descriptor still registered
// (connections and listeners: their operations in progress and later fail
// with net.ErrClosed, as after their own Close), waits until no goroutine
// uses the poller's own descriptors (the helper polls for at most
// helperWait, and is woken), then closes them. Later Dials, Listens and
// Accepts fail with net.ErrClosed; Wake and Poll do nothing.
func (p *poller) Close() error {
	u := p.users.Or(pollerClosed)
	if u&pollerClosed != 0 {
		return nil // closed already
	}
	p.wake() // a Poll in progress (the helper's) returns
	if u != 0 {
		<-p.drained
	}
	// Nothing registers any more: the table only shrinks now.
	p.tab.each(func(fd *netFD) { fd.Close() })
	p.close()
	return nil
}

// nextGen returns a registration generation, never 0.
func (p *poller) nextGen() uint32 {
	for {
		if g := p.gen.Add(1); g != 0 {
			return g
		}
	}
}

// Wake makes a Poll in progress, or the next one, return at once. It
// writes the wake event only if a Poll sleeps, or is about to, in the OS
// queue; otherwise the flag it sets makes the next Poll return at once
// (beginWait).
func (p *poller) Wake() {
	if !p.wakePending.CompareAndSwap(false, true) {
		return // asked for already: the Poll that returns for it returns for this one
	}
	if p.sleepers.Load() == 0 {
		return // nobody sleeps: the next wait sees the flag
	}
	if p.enter() {
		p.wakes.Add(1)
		p.wake()
		p.exit()
	}
}

// beginWait is called by pollImpl.poll before it waits in the OS queue for
// up to timeout, and returns the timeout to wait for: 0, without sleeping,
// if a Wake is pending (which this Poll then consumes, returning for it).
// A wait that may sleep counts itself among the sleepers first and then
// looks at the flag, while Wake sets the flag first and then looks at the
// sleepers: of a Wake and a wait that race, one sees the other, so either
// the wait does not sleep or Wake writes the event that ends it. endWait
// is called when the wait returns, with what beginWait returned.
func (p *poller) beginWait(timeout time.Duration) time.Duration {
	if timeout == 0 {
		return 0
	}
	p.sleepers.Add(1)
	if p.wakePending.Load() && !brokenWakeCheck {
		p.sleepers.Add(-1)
		p.wakePending.Store(false)
		return 0
	}
	return timeout
}

// endWait ends a wait that beginWait began with timeout (its result).
func (p *poller) endWait(timeout time.Duration) {
	if timeout != 0 {
		p.sleepers.Add(-1)
	}
}

// Poll waits up to timeout for readiness and readies the waiters of the
// descriptors that became ready (see pollImpl.poll).
func (p *poller) Poll(timeout time.Duration) {
	if !p.enter() {
		return // closed
	}
	defer p.exit()
	p.polls.Add(1)
	p.inPoll.Add(1)
	p.lastPoll.Store(nanotime())
	p.poll(timeout, false)
	p.lastPoll.Store(nanotime())
	p.inPoll.Add(-1)
}

// consumeWake is called by pollImpl when it sees the wake event.
//
// The event is drained first and the flag cleared after, as the Go
// runtime's netpoll does with netpollWakeSig, so that the flag is not left
// clear with an event still to come from a Wake that set it. A Wake between
// the drain and the clear finds the flag set and does nothing: this Poll is
// returning, and its caller looks for work next. kqueue resets its user
// event when it reports it, which is the drain.
func (p *poller) consumeWake(helper bool) {
	p.drainWake()
	p.wakePending.Store(false)
	if helper && p.inPoll.Load() > 0 {
		p.Wake() // it was meant for the scheduler's Poll: pass it on
	}
}

// readyFD is called by pollImpl for an event on fd with registration gen.
func (p *poller) readyFD(fd int, gen uint32, read, write bool) {
	c := p.tab.get(fd)
	if c == nil || (gen != 0 && c.gen != gen) {
		return // closed, or fd reused by a newer registration
	}
	p.events.Add(1)
	if read && c.ready(&c.r) {
		p.readied.Add(1)
	}
	if write && c.ready(&c.w) {
		p.readied.Add(1)
	}
}

// pollerMu serialises the creation of pollers, so that two first uses of
// a scheduler do not both make one. The scheduler holds its poller
// (sched.Scheduler.Poller); nothing here keeps either alive.
var pollerMu sync.Mutex

// errSchedClosed is the error of a Listen or Dial on a scheduler that was
// closed before it had a poller: net.ErrClosed, and sched.ErrClosed too.
var errSchedClosed = fmt.Errorf("%w (%w)", net.ErrClosed, sched.ErrClosed)

// pollerFor returns s's poller, creating and installing it on first use.
// A closed scheduler's poller is closed: operations on it fail with
// net.ErrClosed.
func pollerFor(s *sched.Scheduler) (*poller, error) {
	if s == nil {
		return nil, errors.New("poll: nil scheduler")
	}
	if p, ok := s.Poller().(*poller); ok {
		return p, nil
	}
	pollerMu.Lock()
	defer pollerMu.Unlock()
	switch p := s.Poller().(type) {
	case *poller:
		return p, nil
	case nil:
	default:
		return nil, errors.New("poll: the scheduler has a poller of another package")
	}
	p, err := newPoller(s.Timers())
	if err != nil {
		return nil, err
	}
	p.s = s
	if err := s.SetPoller(p); err != nil {
		p.Close()
		if errors.Is(err, sched.ErrClosed) {
			err = errSchedClosed
		}
		return nil, err
	}
	return p, nil
}

// Stats are a poller's counters; see StatsFor.
type Stats struct {
	FDs            int64  // descriptors registered now (listeners and connections)
	Polls          uint64 // waits for readiness by an idle carrier
	BusyPolls      uint64 // looks for readiness by busy carriers, between tasks (Linux)
	Wakes          uint64 // wake-ups sent to a carrier waiting for readiness
	Events         uint64 // readiness events for registered descriptors
	Readied        uint64 // waiters readied by those events
	AcceptBackoffs uint64 // Accept sleeps after EMFILE/ENFILE/ENOBUFS/ENOMEM
	AcceptRetries  uint64 // Accept retries after ECONNABORTED and similar
	HelperRuns     uint64 // starts of a goroutine that polls while no carrier can (not started yet, or all busy)
	Collected      uint64 // Conns and Listeners closed by a cleanup: dropped without Close
}

// StatsFor returns the counters of s's poller (zero if s has none yet).
// They stay readable after s is closed.
func StatsFor(s *sched.Scheduler) Stats {
	if s == nil {
		return Stats{}
	}
	p, ok := s.Poller().(*poller)
	if !ok {
		return Stats{}
	}
	return p.stats()
}

func (p *poller) stats() Stats {
	return Stats{
		FDs:            p.fds.Load(),
		Polls:          p.polls.Load(),
		BusyPolls:      p.busyPolls.Load(),
		Wakes:          p.wakes.Load(),
		Events:         p.events.Load(),
		Readied:        p.readied.Load(),
		AcceptBackoffs: p.acceptBackoffs.Load(),
		AcceptRetries:  p.acceptRetries.Load(),
		HelperRuns:     p.helperRuns.Load(),
		Collected:      p.collected.Load(),
	}
}

// fdTable maps descriptor numbers to connections. Lookups (one per event)
// are lock-free: a two-level array of atomic pointers, grown under mu.
type fdTable struct {
	mu     sync.Mutex
	chunks atomic.Pointer[[]*fdChunk]
}

const fdChunkSize = 1024

type fdChunk [fdChunkSize]atomic.Pointer[netFD]

func (t *fdTable) get(fd int) *netFD {
	cs := t.chunks.Load()
	if cs == nil || fd < 0 || fd/fdChunkSize >= len(*cs) {
		return nil
	}
	ch := (*cs)[fd/fdChunkSize]
	if ch == nil {
		return nil
	}
	return ch[fd%fdChunkSize].Load()
}

func (t *fdTable) set(fd int, c *netFD) {
	i := fd / fdChunkSize
	cs := t.chunks.Load()
	if cs == nil || i >= len(*cs) || (*cs)[i] == nil {
		t.mu.Lock()
		cs = t.chunks.Load()
		var n []*fdChunk
		if cs != nil {
			n = *cs
		}
		if i >= len(n) {
			m := make([]*fdChunk, max(i+1, 2*len(n)))
			copy(m, n)
			n = m
		} else {
			n = append([]*fdChunk(nil), n...)
		}
		if n[i] == nil {
			n[i] = new(fdChunk)
		}
		t.chunks.Store(&n)
		cs = &n
		t.mu.Unlock()
	}
	(*cs)[i][fd%fdChunkSize].Store(c)
}

// each calls f for every netFD in the table.
func (t *fdTable) each(f func(*netFD)) {
	cs := t.chunks.Load()
	if cs == nil {
		return
	}
	for _, ch := range *cs {
		if ch == nil {
			continue
		}
		for i := range ch {
			if fd := ch[i].Load(); fd != nil {
				f(fd)
			}
		}
	}
}

func (t *fdTable) clear(fd int, c *netFD) {
	cs := t.chunks.Load()
	if cs == nil || fd/fdChunkSize >= len(*cs) {
		return
	}
	if ch := (*cs)[fd/fdChunkSize]; ch != nil {
		ch[fd%fdChunkSize].CompareAndSwap(c, nil)
	}
}
