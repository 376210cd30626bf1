//go:build linux || darwin || freebsd

package poll

import (
	"context"
	"math"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/stackslice/stackslice/timers"
)

// netFD is a non-blocking socket registered with a poller: the part of a
// Conn or Listener that waits, and the only part the poller's table holds.
// It never points back to its Conn or Listener, so that one dropped without
// Close becomes unreachable, and a cleanup then closes the netFD (see
// collectFD).
//
// Waiting (see arm and ready): each direction (ioDir) keeps the readiness
// edges it has seen and its flags in one atomic word. An operation reads
// the edge count, tries its system call and, on EAGAIN, parks with an arm
// function that stores the waker under mu and sets waitingBit with one Or,
// which returns the word as it was: if an edge came after the system call
// (the count moved), the fd is closing or the deadline has passed, arm
// takes the waker back and calls the park off. The poller adds an edge
// with one Add, which returns the word with the flags: it takes mu and
// readies the waker only if waitingBit was set. Both operations act on the
// one word, so whichever comes second sees the first: no edge is lost, and
// the poller locks only a direction somebody waits on.
//
// Lifetime: state counts references (in units of 2) and has bit 0 set once
// Close started. Every operation holds a reference for its whole duration,
// including while parked; Close sets the bit, readies every waiter (which
// then fail with net.ErrClosed) and drops the reference taken at creation.
// The descriptor is closed when the last reference goes, so a number is
// never closed, and reused, under an operation still using it, and a netFD
// closes its number at most once, however many of Close, the cleanup of
// its owner and the poller's Close ask.
type netFD struct {
	p   *poller
	num int32  // the descriptor (see sysfd)
	gen uint32 // registration generation (epoll data)

	state atomic.Int32

	// rt is the read deadline's timer while one is set (see deadline.go),
	// kept here because idle connections with an idle timeout all have
	// one; the write deadline's is in dl. Guarded by mu.
	rt timers.Ref

	mu   sync.Mutex // guards the wk fields, rt, dl and Conn.addrs
	r, w ioDir
	dl   *fdExtra // allocated on first use: the write deadline, lock waiters

	// peer holds a connection's facts fixed when it was made. It lives
	// here rather than in the Conn so that both allocations fill their
	// size classes: 112 bytes for the netFD and 16 for the Conn, the 128
	// the Conn took alone when it embedded its netFD.
	peer peer
}

// ioDir is one direction of a netFD. A netFD is part of the memory of
// every idle connection, so the direction's readiness edges and its two
// flags share one word, which also lets the poller bump the edges and see
// whether a waiter is parked in one atomic operation.
type ioDir struct {
	// state is edges*edgeUnit | staleBit | expiredBit | waitingBit: the
	// readiness edges seen (modulo 2^29), whether the deadline's timer
	// callback in flight is stale, whether the deadline has passed, and
	// whether wk holds a parked waiter.
	state atomic.Uint32
	l     ioLock // serialises this direction's operations
	wk    waker
}

const (
	waitingBit = 1
	expiredBit = 2
	staleBit   = 4 // a deadline timer's callback in flight is stale (deadline.go)
	flagBits   = waitingBit | expiredBit | staleBit
	edgeUnit   = 8
)

// edges returns the readiness edges seen so far (modulo 2^29), the value a
// wait compares to see whether an edge came after its system call.
func (d *ioDir) edges() uint32 { return d.state.Load() &^ flagBits }

func (d *ioDir) expired() bool { return d.state.Load()&expiredBit != 0 }

func (d *ioDir) setExpired(on bool) {
	if on {
		d.state.Or(expiredBit)
	} else {
		d.state.And(^uint32(expiredBit))
	}
}

const closingBit = 1

var errClosed = net.ErrClosed

// newFD registers sysfd with p and returns its netFD. On failure the
// caller still owns sysfd; the error is net.ErrClosed once p is closed.
func newFD(p *poller, sysfd int) (*netFD, error) {
	if !p.enter() {
		return nil, errClosed
	}
	defer p.exit()
	if sysfd < 0 || sysfd > math.MaxInt32 { // kept in 32 bits (netFD.num)
		return nil, os.NewSyscallError("socket", unix.EBADF)
	}
	fd := &netFD{p: p, num: int32(sysfd), gen: p.nextGen()}
	fd.state.Store(2)
	p.tab.set(sysfd, fd)
	if err := p.register(sysfd, fd.gen); err != nil {
		p.tab.clear(sysfd, fd)
		return nil, err
	}
	p.fds.Add(1)
	return fd, nil
}

// collectOnDrop arranges for fd to be closed once owner (its Conn or
// Listener) is unreachable: the user dropped it without Close, as package
// net's finalizers close a dropped *net.TCPConn or *os.File. The cleanup
// holds fd, never owner. Close does not cancel it: fd then closes nothing
// more (a netFD closes its number once), and keeping no runtime.Cleanup
// handle saves every connection 16 bytes.
func collectOnDrop[T any](owner *T, fd *netFD) {
	if !brokenCollect { // negative control (test builds only): no cleanup
		runtime.AddCleanup(owner, collectFD, fd)
	}
}

// collectFD is the cleanup of a netFD's owner: it closes fd, counting it
// in Stats.Collected unless fd was closed already. It runs on the
// runtime's cleanup goroutine and does not block.
func collectFD(fd *netFD) {
	if fd.Close() == nil {
		fd.p.collected.Add(1)
	}
}

// sysfd returns the descriptor number.
func (fd *netFD) sysfd() int { return int(fd.num) }

func (fd *netFD) incref() error {
	for {
		s := fd.state.Load()
		if s&closingBit != 0 {
			return errClosed
		}
		if fd.state.CompareAndSwap(s, s+2) {
			return nil
		}
	}
}

func (fd *netFD) decref() {
	if fd.state.Add(-2) == closingBit {
		fd.destroy()
	}
}

// Close starts closing: operations in progress and later ones fail with
// net.ErrClosed; the descriptor is closed when the last one has returned.
func (fd *netFD) Close() error {
	for {
		s := fd.state.Load()
		if s&closingBit != 0 {
			return errClosed
		}
		if fd.state.CompareAndSwap(s, s|closingBit) {
			break
		}
	}
	fd.wakeAll()
	fd.decref()
	return nil
}

func (fd *netFD) closing() bool { return fd.state.Load()&closingBit != 0 }

// wakeAll readies every waiter, after closingBit is set.
func (fd *netFD) wakeAll() {
	fd.mu.Lock()
	rw, rok := fd.r.take()
	ww, wok := fd.w.take()
	fd.stopDeadlines()
	var lq []*lockWaiter
	if fd.dl != nil {
		lq, fd.dl.lq = fd.dl.lq, nil // not granted: they fail with ErrClosed
	}
	fd.mu.Unlock()
	if rok {
		rw.Ready()
	}
	if wok {
		ww.Ready()
	}
	for _, lw := range lq {
		lw.w.Ready()
	}
}

func (fd *netFD) destroy() {
	fd.mu.Lock()
	fd.stopDeadlines()
	fd.mu.Unlock()
	fd.p.tab.clear(fd.sysfd(), fd)
	fd.p.fds.Add(-1)
	unix.Close(fd.sysfd())
}

// take removes and returns the parked waiter, if any. fd.mu must be held.
func (d *ioDir) take() (waker, bool) {
	if d.state.Load()&waitingBit == 0 {
		return waker{}, false
	}
	w := d.wk
	d.wk = waker{}
	d.state.And(^uint32(waitingBit))
	return w, true
}

// ready records a readiness edge for d and readies its waiter. It reports
// whether a waiter was readied.
func (fd *netFD) ready(d *ioDir) bool {
	if d.state.Add(edgeUnit)&waitingBit == 0 {
		return false
	}
	fd.mu.Lock()
	w, ok := d.take()
	fd.mu.Unlock()
	return ok && w.Ready()
}

// check returns the error an operation in direction d must fail with now.
func (fd *netFD) check(d *ioDir) error {
	if fd.closing() {
		return errClosed
	}
	if d.expired() {
		return os.ErrDeadlineExceeded
	}
	return nil
}

var background = context.Background()

// wait parks until d sees an edge after seq, the fd is closing, d's
// deadline expires, ctx is done or the calling task is cancelled; it
// returns check's verdict, or the park's error (ctx's or the task's).
func (fd *netFD) wait(ctx context.Context, d *ioDir, seq uint32, reason string) error {
	return fd.endWait(d, park(ctx, reason, func(w waker) bool { return fd.arm(d, seq, w) }))
}

// arm is the arm function of a wait on d: it stores w in d, or calls the
// park off if d saw an edge after seq, the fd is closing or d's deadline
// has passed. Every wait calls endWait after it.
func (fd *netFD) arm(d *ioDir, seq uint32, w waker) bool {
	fd.p.waitBegin()
	fd.mu.Lock()
	d.wk = w
	if old := d.state.Or(waitingBit); old&^flagBits != seq || fd.closing() || old&expiredBit != 0 {
		d.take()
		fd.mu.Unlock()
		return false
	}
	fd.mu.Unlock()
	return true
}

// endWait completes a wait on d that park ended with err.
func (fd *netFD) endWait(d *ioDir, err error) error {
	fd.p.waitEnd()
	if err != nil {
		fd.mu.Lock()
		d.take() // stale now; drop it so the poller does not keep it
		fd.mu.Unlock()
		return err
	}
	return fd.check(d)
}

// acquire takes a reference and the lock l; release gives both back.
func (fd *netFD) acquire(l *ioLock) error {
	if err := fd.incref(); err != nil {
		return err
	}
	if err := fd.lock(l); err != nil {
		fd.decref()
		return err
	}
	return nil
}

func (fd *netFD) release(l *ioLock) {
	fd.unlock(l)
	fd.decref()
}

// ioLock serialises the operations of one direction (like net's fdMutex),
// parking the coroutine, not the carrier, when contended. state: 0 free,
// 1 held, 2 held with waiters queued in netFD.dl.lq.
//
// A waiter is granted the lock under fd.mu before it is readied (unlock
// hands it over directly, no barging), so a cancellation that races with
// the grant loses: the waiter sees granted and keeps the lock. Close
// readies every waiter without granting: they fail with net.ErrClosed.
type ioLock struct{ state atomic.Uint32 }

type lockWaiter struct {
	l       *ioLock
	w       waker
	granted bool // the lock was handed to this waiter; under fd.mu
}

// lock takes l, parking while another operation holds it. It fails when
// the fd is closing (net.ErrClosed) or the calling task is cancelled while
// it waits; either way it does not hold l then.
func (fd *netFD) lock(l *ioLock) error {
	if l.state.CompareAndSwap(0, 1) {
		return nil
	}
	lw := &lockWaiter{l: l}
	err := park(background, "poll: conn busy", func(w waker) bool {
		fd.mu.Lock()
		defer fd.mu.Unlock()
		for {
			s := l.state.Load()
			if s == 0 && l.state.CompareAndSwap(0, 1) {
				lw.granted = true
				return false // free after all: taken, no park
			}
			if s == 2 || (s == 1 && l.state.CompareAndSwap(1, 2)) {
				break
			}
		}
		if fd.closing() { // Close has readied the waiters already
			return false
		}
		lw.w = w
		x := fd.extra()
		x.lq = append(x.lq, lw)
		return true
	})
	fd.mu.Lock()
	defer fd.mu.Unlock()
	if lw.granted && (err == nil || !brokenLockGrant) {
		// A grant wins over a cancellation that came later. (The negative
		// control drops it instead, as the I/O lock once did.)
		return nil
	}
	if x := fd.dl; x != nil {
		x.removeWaiter(lw)
	}
	if err == nil {
		err = errClosed // readied by Close, not granted
	}
	return err
}

// removeWaiter drops lw from the lock queue, if it is there. fd.mu is held.
func (dl *fdExtra) removeWaiter(lw *lockWaiter) {
	for i, x := range dl.lq {
		if x == lw {
			dl.lq = append(dl.lq[:i], dl.lq[i+1:]...)
			break
		}
	}
	if len(dl.lq) == 0 {
		dl.lq = nil
	}
}

// unlock releases l, handing it to the first operation waiting for it.
func (fd *netFD) unlock(l *ioLock) {
	if l.state.CompareAndSwap(1, 0) {
		return
	}
	fd.mu.Lock()
	var next *lockWaiter
	more := false
	if fd.dl != nil {
		for _, lw := range fd.dl.lq {
			if lw.l != l {
				continue
			}
			if next != nil {
				more = true
				break
			}
			next = lw
		}
	}
	switch {
	case next == nil:
		l.state.Store(0)
	case !more:
		l.state.Store(1) // handed over, no one else waiting
	} // else stays 2: handed over with waiters remaining
	if next != nil {
		fd.dl.removeWaiter(next)
		next.granted = true
	}
	fd.mu.Unlock()
	if next != nil {
		next.w.Ready() // if it lost to a cancellation, the waiter still sees granted
	}
}

// fdExtra is the rarely used part of a netFD, allocated on first use
// (extra): the write deadline's timer and the lock waiters.
type fdExtra struct {
	wt timers.Ref    // the write deadline's timer (see deadline.go)
	lq []*lockWaiter // operations waiting for an ioLock
}

// extra returns fd.dl, allocating it on first use. fd.mu must be held.
func (fd *netFD) extra() *fdExtra {
	if fd.dl == nil {
		fd.dl = &fdExtra{}
	}
	return fd.dl
}

// maxRW caps one read or write system call, as package net does.
const maxRW = 1 << 30

func wrapSyscall(name string, err error) error {
	if errno, ok := err.(unix.Errno); ok {
		return os.NewSyscallError(name, errno)
	}
	return err
}
