package poll

import (
	"io"
	"runtime"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/stackslice/stackslice/sched"
)

// Linux moves the bytes of a Conn-to-Conn copy (ReadFrom, WriteTo) with
// splice(2), as package net does for *net.TCPConn: from the source socket
// into a pipe, then from the pipe into the destination socket, so that
// they never enter user space. Each splice is non-blocking (the sockets are
// O_NONBLOCK, SPLICE_F_NONBLOCK covers the pipe); on EAGAIN the copy waits
// the way Read and Write do (park, arm, endWait), with the source's read
// lock held while it waits to read and the destination's write lock held
// while it waits to write. The pipe is always drained into the destination
// before more is read from the source, so a source splice that fails with
// EAGAIN found the socket empty, not the pipe full.
//
// Pipes come from a small cache of idle ones. A copy gives its pipe back
// whenever the pipe is empty and it must wait for the source, so an idle
// relay holds none (as an idle connection holds no buffer); a pipe with
// bytes left in it (the copy failed while writing) is closed, not cached.
//
// The cache is not a sync.Pool: a Pool may drop an item at any time (one
// Put in four under the race detector, and everything it holds after two
// collections), and a dropped pipe keeps its two descriptors until a
// garbage collection runs its cleanup. A server at its descriptor limit
// allocates little while it waits, so that collection may never come, and
// Accept would back off forever while idle pipes hold the descriptors it
// needs. The cache instead holds at most maxIdlePipes and closes every pipe
// it does not keep at once, and Accept empties it (releaseIdlePipes) when
// the process or system is out of descriptors. A pipe's cleanup only
// covers a copy abandoned without finishing.

const (
	// spliceFlags: never block on the pipe; move pages rather than copy
	// them where the kernel can.
	spliceFlags = unix.SPLICE_F_NONBLOCK | unix.SPLICE_F_MOVE

	// maxSpliceSize caps one splice into the pipe, and is the pipe's size
	// (as package net: 1 MiB, /proc/sys/fs/pipe-max-size by default). If
	// the kernel refuses the size the pipe keeps its default (64 KiB),
	// and a splice then moves less.
	maxSpliceSize = 1 << 20
)

// splicePipe is a pipe for splicing (both ends non-blocking, close-on-exec).
type splicePipe struct {
	pipeFDs
	cleanup runtime.Cleanup
}

type pipeFDs struct{ rfd, wfd int }

func (f pipeFDs) close() {
	unix.Close(f.rfd)
	unix.Close(f.wfd)
}

// destroy closes p's descriptors now.
func (p *splicePipe) destroy() {
	p.cleanup.Stop()
	p.close()
}

// maxIdlePipes bounds the idle pipes cached (two descriptors each): two
// per GOMAXPROCS, at least 8, since every running carrier may want one.
var maxIdlePipes = max(8, 2*runtime.GOMAXPROCS(0))

// pipeCache holds the idle pipes, all empty, for getPipe.
var pipeCache struct {
	mu   sync.Mutex
	idle []*splicePipe
}

// newPipe makes a pipe (tests replace it).
var newPipe = makePipe

// makePipe makes a pipe, or returns nil if it cannot (no descriptors): the
// copy then falls back to a buffer.
func makePipe() *splicePipe {
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		return nil
	}
	unix.FcntlInt(uintptr(fds[0]), unix.F_SETPIPE_SZ, maxSpliceSize) // best effort
	p := &splicePipe{pipeFDs: pipeFDs{rfd: fds[0], wfd: fds[1]}}
	p.cleanup = runtime.AddCleanup(p, pipeFDs.close, p.pipeFDs)
	return p
}

// getPipe borrows a pipe, a cached one if any, or returns nil if none can
// be made.
func getPipe() *splicePipe {
	pipeCache.mu.Lock()
	if n := len(pipeCache.idle); n > 0 {
		p := pipeCache.idle[n-1]
		pipeCache.idle[n-1] = nil
		pipeCache.idle = pipeCache.idle[:n-1]
		pipeCache.mu.Unlock()
		return p
	}
	pipeCache.mu.Unlock()
	return newPipe()
}

// putPipe caches p if it is empty (inPipe is the number of bytes still in
// it) and the cache has room, and closes it otherwise.
func putPipe(p *splicePipe, inPipe int) {
	if inPipe == 0 {
		pipeCache.mu.Lock()
		if len(pipeCache.idle) < maxIdlePipes {
			pipeCache.idle = append(pipeCache.idle, p)
			pipeCache.mu.Unlock()
			return
		}
		pipeCache.mu.Unlock()
	}
	p.destroy()
}

// releaseIdlePipes closes the cached idle pipes, giving their descriptors
// back, and returns how many it closed.
func releaseIdlePipes() int {
	pipeCache.mu.Lock()
	idle := pipeCache.idle
	pipeCache.idle = nil
	pipeCache.mu.Unlock()
	for _, p := range idle {
		p.destroy()
	}
	return len(idle)
}

// splicer is the state of one splice copy from src to dst. It lives in the
// frame of spliceCopy, which parks.
type splicer struct {
	dst, src *Conn
	p        *splicePipe // nil while none is borrowed
	held     *ioLock     // src's read lock or dst's write lock, or nil
	inPipe   int         // bytes in p, still to move into dst
	remain   int64       // bytes still to take from src
	written  int64       // bytes moved into dst
	fallback bool        // stop splicing: copy the rest with a buffer
}

// spliceCopy moves up to remain bytes from src to dst with splice until
// src's end of stream, the limit, or an error, parking whenever a splice
// would block. It returns the bytes written to dst and the error (nil at
// the end of the stream or the limit; net.ErrClosed, a deadline or a
// system call error otherwise; not yet wrapped as a *net.OpError). If
// fallback, splicing is not possible (no pipe available, or the kernel
// does not splice these sockets): src has given up exactly the written
// bytes, err is nil, and the caller copies the rest another way.
//
// Like Read and Write, it parks in its own frame, with the system calls in
// step and the release of the pipe, locks and references in finish.
func spliceCopy(dst, src *Conn, remain int64) (written int64, fallback bool, err error) {
	s := splicer{dst: dst, src: src, remain: remain}
	if err := s.start(); err != nil {
		return 0, false, err
	}
	for {
		fd, d, seq, reason, wait, err := s.step()
		if wait {
			if err = fd.endWait(d, parkIO(reason, func(w waker) bool { return fd.arm(d, seq, w) })); err == nil {
				continue
			}
		}
		s.finish()
		return s.written, s.fallback, err
	}
}

// start takes a reference on both connections, held until finish.
//
//go:noinline
func (s *splicer) start() error {
	if err := s.dst.fd.incref(); err != nil {
		return err
	}
	if err := s.src.fd.incref(); err != nil {
		s.dst.fd.decref()
		return err
	}
	return nil
}

// finish releases what the copy still holds: the lock, the pipe (closed if
// bytes remain in it) and the references.
//
//go:noinline
func (s *splicer) finish() {
	s.unlock()
	if s.p != nil {
		putPipe(s.p, s.inPipe)
		s.p = nil
	}
	s.src.fd.decref()
	s.dst.fd.decref()
}

// lock makes l (of fd) the lock held, releasing any other first: the copy
// holds one lock at a time, so two copies in opposite directions between
// the same connections cannot deadlock.
func (s *splicer) lock(fd *netFD, l *ioLock) error {
	if s.held == l {
		return nil
	}
	s.unlock()
	if err := fd.lock(l); err != nil {
		return err
	}
	s.held = l
	return nil
}

func (s *splicer) unlock() {
	switch s.held {
	case nil:
		return
	case &s.src.fd.r.l:
		s.src.fd.unlock(s.held)
	default:
		s.dst.fd.unlock(s.held)
	}
	s.held = nil
}

// step splices until the copy is done (wait false; err nil at the end of
// the stream or the limit, or when falling back) or a splice would block:
// then it returns wait, the netFD and direction to wait on, the readiness
// sequence number loaded before that splice, and the park reason, with the
// direction's lock held.
//
//go:noinline
func (s *splicer) step() (fd *netFD, d *ioDir, seq uint32, reason string, wait bool, err error) {
	for {
		if s.inPipe > 0 {
			fd = s.dst.fd
			if err = s.lock(fd, &fd.w.l); err != nil {
				return
			}
			if seq, wait, err = s.pump(); wait || err != nil {
				return fd, &fd.w, seq, "poll: splice write", wait, wrapSyscall("splice", err)
			}
			// A copy whose source never runs dry never parks: yield
			// between chunks, holding no lock, so that the carrier's
			// other tasks (the relays queued behind this one) each get a
			// chunk in turn. Yielding only when the time slice ran out
			// (sched.Checkpoint) kept the carrier up to a slice at a time
			// while the other relays' data waited (examples/proxy -bench
			// measures the difference). A chunk is tens of microseconds
			// to milliseconds of system calls; a switch, well under one.
			s.unlock()
			yieldChunk()
			continue
		}
		if s.remain <= 0 {
			return
		}
		fd = s.src.fd
		if err = s.lock(fd, &fd.r.l); err != nil {
			return
		}
		if s.p == nil {
			if s.p = getPipe(); s.p == nil {
				s.fallback = true
				return
			}
		}
		var n int
		n, seq, wait, err = s.fill()
		switch {
		case wait:
			// Wait for src without the pipe: it is empty.
			putPipe(s.p, 0)
			s.p = nil
			return fd, &fd.r, seq, "poll: splice read", true, nil
		case err == unix.EINVAL:
			// The kernel does not splice from this socket; nothing was
			// consumed, so a buffered copy can take over.
			s.fallback = true
			return fd, nil, 0, "", false, nil
		case err != nil:
			return fd, nil, 0, "", false, wrapSyscall("splice", err)
		case n == 0:
			return // end of stream
		}
		s.inPipe = n
	}
}

// yieldChunk yields the calling task between two chunks of a copy (see
// step). Outside a task it does nothing: the Go scheduler preempts
// goroutines by itself, and package net's copy does not yield either.
func yieldChunk() {
	if sched.Current() != nil {
		sched.Yield()
	}
}

// fill splices from src into the empty pipe, with src's read lock held.
// n == 0 with no error is src's end of stream.
func (s *splicer) fill() (n int, seq uint32, wait bool, err error) {
	fd := s.src.fd
	max := int64(maxSpliceSize)
	if s.remain < max {
		max = s.remain
	}
	for {
		if err := fd.check(&fd.r); err != nil {
			return 0, 0, false, err
		}
		seq := fd.r.edges()
		n, err := spliceNB(fd.sysfd(), s.p.wfd, int(max))
		switch err {
		case nil:
			return int(n), 0, false, nil
		case unix.EINTR:
		case unix.EAGAIN:
			return 0, seq, true, nil
		default:
			return 0, 0, false, err
		}
	}
}

// pump splices everything in the pipe into dst, with dst's write lock
// held, or until dst's buffer is full (wait) or an error.
func (s *splicer) pump() (seq uint32, wait bool, err error) {
	fd := s.dst.fd
	for s.inPipe > 0 {
		if err := fd.check(&fd.w); err != nil {
			return 0, false, err
		}
		seq := fd.w.edges()
		n, err := spliceNB(s.p.rfd, fd.sysfd(), s.inPipe)
		if n > 0 {
			s.inPipe -= int(n)
			s.written += int64(n) // n is an int on 32-bit platforms
			s.remain -= int64(n)
			continue
		}
		switch err {
		case nil:
			return 0, false, io.ErrUnexpectedEOF // cannot happen: the pipe holds inPipe bytes
		case unix.EINTR:
		case unix.EAGAIN:
			return seq, true, nil
		default:
			return 0, false, err
		}
	}
	return 0, false, nil
}
