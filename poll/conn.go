//go:build linux || darwin || freebsd

package poll

import (
	"context"
	"io"
	"net"
	"os"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Conn is a stream connection (TCP or unix) served by a scheduler's poller.
// It implements net.Conn the way *net.TCPConn does: Read and Write park the
// calling task (or block the calling goroutine) instead of failing with
// EAGAIN; Write writes everything or returns an error; deadlines fail with
// an error matching os.ErrDeadlineExceeded whose Timeout is true; Close,
// from anywhere, makes blocked and later calls fail with net.ErrClosed.
// Errors are *net.OpError, except io.EOF and the error of WaitRead's ctx.
// In a task, a call that waits also ends when the task is cancelled, with
// the task context's error. Methods are safe for concurrent use;
// concurrent Reads (or Writes) are serialised.
//
// A Conn dropped without Close is closed once the garbage collector finds
// it unreachable (counted in Stats.Collected), and every Conn of a
// scheduler is closed when the scheduler closes. The methods of a zero or
// nil *Conn return syscall.EINVAL, as a zero *net.TCPConn's do.
//
// An idle connection need hold no buffer: WaitRead waits without one, and
// ReadWith borrows a pooled buffer only while the data is processed.
type Conn struct {
	fd *netFD // never nil in a Conn made by this package
	// addrs holds the addresses once built (on first use, under fd.mu).
	// Connections accepted by one listener share its local address
	// through one connAddrs until a remote address is built: a pointer
	// costs an idle connection 8 bytes where two interfaces cost 32.
	// Never written through: replaced whole.
	addrs *connAddrs
}

// peer is what a netFD records of its connection when it is made: the
// network and, for TCP, the remote address if known, as the raw parts of
// a unix.SockaddrInet4 or 6 (fam 4 or 6), smaller than a netip.AddrPort;
// RemoteAddr builds the net.Addr on first use.
type peer struct {
	ip   [16]byte
	zone uint32
	port uint16
	fam  uint8
	netw uint8 // network: an index in networks
}

type connAddrs struct{ la, ra net.Addr }

var _ net.Conn = (*Conn)(nil)

// networks are the networks of Conns, indexed by Conn.netw.
var networks = [...]string{"tcp", "tcp4", "tcp6", "unix"}

func networkIndex(network string) uint8 {
	for i, n := range networks {
		if n == network {
			return uint8(i)
		}
	}
	panic("poll: unknown network " + network)
}

// network returns the connection's network ("tcp", "tcp4", "tcp6" or "unix").
func (c *Conn) network() string { return networks[c.fd.peer.netw&3] }

// ok reports whether c is a connection this package made: a zero or nil
// *Conn owns no descriptor, and its methods fail with syscall.EINVAL as a
// zero *net.TCPConn's do.
func (c *Conn) ok() bool { return c != nil && c.fd != nil }

// ok reports whether l is a listener this package made; the methods of a
// zero or nil *Listener fail with syscall.EINVAL, as a zero
// *net.TCPListener's do.
func (l *Listener) ok() bool { return l != nil && l.fd != nil }

// newConn wraps the connected socket s (ownership passes to the Conn, also
// on failure). rsa is the peer's address if known.
func newConn(p *poller, s int, network string, rsa unix.Sockaddr, addrs *connAddrs) (*Conn, error) {
	pr := peer{netw: networkIndex(network)}
	switch sa := rsa.(type) {
	case *unix.SockaddrInet4:
		copy(pr.ip[:], sa.Addr[:])
		pr.port, pr.fam = uint16(sa.Port), 4
	case *unix.SockaddrInet6:
		pr.ip, pr.zone = sa.Addr, sa.ZoneId
		pr.port, pr.fam = uint16(sa.Port), 6
	case nil:
	default:
		addrs = &connAddrs{la: addrs.local(), ra: netAddr(network, rsa)}
	}
	if network != "unix" {
		unix.SetsockoptInt(s, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1) // as package net does
	}
	fd, err := newFD(p, s)
	if err != nil {
		unix.Close(s)
		return nil, err
	}
	fd.peer = pr
	c := &Conn{fd: fd, addrs: addrs}
	collectOnDrop(c, fd)
	return c, nil
}

// remoteSockaddr rebuilds the remote address newConn recorded.
func (c *Conn) remoteSockaddr() unix.Sockaddr {
	pr := &c.fd.peer
	switch pr.fam {
	case 4:
		return &unix.SockaddrInet4{Port: int(pr.port), Addr: [4]byte(pr.ip[:4])}
	case 6:
		return &unix.SockaddrInet6{Port: int(pr.port), ZoneId: pr.zone, Addr: pr.ip}
	}
	return nil
}

// LocalAddr returns the local network address (nil for a zero Conn).
func (c *Conn) LocalAddr() net.Addr {
	if !c.ok() {
		return nil
	}
	c.fd.mu.Lock()
	defer c.fd.mu.Unlock()
	la := c.addrs.local()
	if la == nil && !c.fd.closing() {
		if sa, err := unix.Getsockname(c.fd.sysfd()); err == nil {
			la = netAddr(c.network(), sa)
			c.addrs = &connAddrs{la: la, ra: c.addrs.remote()}
		}
	}
	return la
}

// RemoteAddr returns the remote network address (nil for a zero Conn).
func (c *Conn) RemoteAddr() net.Addr {
	if !c.ok() {
		return nil
	}
	c.fd.mu.Lock()
	defer c.fd.mu.Unlock()
	ra := c.addrs.remote()
	if ra == nil {
		if c.fd.peer.fam != 0 {
			ra = netAddr(c.network(), c.remoteSockaddr())
		} else if !c.fd.closing() {
			if sa, err := unix.Getpeername(c.fd.sysfd()); err == nil {
				ra = netAddr(c.network(), sa)
			}
		}
		if ra != nil {
			c.addrs = &connAddrs{la: c.addrs.local(), ra: ra}
		}
	}
	return ra
}

func (a *connAddrs) local() net.Addr {
	if a == nil {
		return nil
	}
	return a.la
}

func (a *connAddrs) remote() net.Addr {
	if a == nil {
		return nil
	}
	return a.ra
}

func (c *Conn) opError(op string, err error) error {
	if err == nil || err == io.EOF {
		return err
	}
	return &net.OpError{Op: op, Net: c.network(), Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
}

// Read reads up to len(b) bytes, parking until some are available. It
// returns io.EOF at the end of the stream.
func (c *Conn) Read(b []byte) (int, error) {
	// Read, Write, WaitRead and ReadWith are written for a small parked
	// stack (its bytes are saved with every parked connection): each calls
	// park itself, with no defer, few locals and the arm closure on the
	// stack; the system calls, the error wrapping and the end of the wait
	// are in functions called before or after it. Across the park they
	// keep only c live, never c.fd apart (they load it again after): the
	// saved stack then points to one object per connection, the Conn
	// (which holds its netFD), so its pointer shadow has one entry for it,
	// not two.
	if !c.ok() {
		return 0, syscall.EINVAL
	}
	if err := c.fd.acquire(&c.fd.r.l); err != nil {
		return 0, c.readError(err)
	}
	for {
		n, seq, wait, err := c.fd.read(b)
		if wait {
			err = parkIO("poll: read", func(w waker) bool { return c.fd.arm(&c.fd.r, seq, w) })
			if err = c.fd.endWait(&c.fd.r, err); err == nil {
				continue
			}
		}
		c.fd.release(&c.fd.r.l)
		if err != nil && err != io.EOF {
			err = c.readError(err)
		}
		return n, err
	}
}

// readError wraps an error of a read as a *net.OpError.
//
//go:noinline
func (c *Conn) readError(err error) error { return c.opError("read", err) }

// read is one read system call (retried on EINTR) after check, with r.l
// held. If nothing is available it returns wait and the read side's
// readiness sequence number to wait on.
//
//go:noinline
func (fd *netFD) read(b []byte) (n int, seq uint32, wait bool, err error) {
	if len(b) == 0 {
		return 0, 0, false, nil
	}
	if len(b) > maxRW {
		b = b[:maxRW]
	}
	for {
		if err := fd.check(&fd.r); err != nil {
			return 0, 0, false, err
		}
		seq := fd.r.edges()
		n, err := readNB(fd.sysfd(), b)
		switch err {
		case nil:
			if n == 0 {
				return 0, 0, false, io.EOF
			}
			return n, 0, false, nil
		case unix.EINTR:
		case unix.EAGAIN:
			return 0, seq, true, nil
		default:
			return 0, 0, false, os.NewSyscallError("read", err)
		}
	}
}

// Write writes all of b, parking while the socket's buffer is full. It
// returns len(b) or an error.
func (c *Conn) Write(b []byte) (int, error) {
	if !c.ok() {
		return 0, syscall.EINVAL
	}
	if err := c.fd.acquire(&c.fd.w.l); err != nil {
		return 0, c.writeError(err)
	}
	nn := 0
	for {
		var seq uint32
		var wait bool
		var err error
		nn, seq, wait, err = c.fd.write(b, nn)
		if wait {
			err = parkIO("poll: write", func(w waker) bool { return c.fd.arm(&c.fd.w, seq, w) })
			if err = c.fd.endWait(&c.fd.w, err); err == nil {
				continue
			}
		}
		c.fd.release(&c.fd.w.l)
		if err != nil {
			err = c.writeError(err)
		}
		return nn, err
	}
}

// writeError wraps an error of a write as a *net.OpError.
//
//go:noinline
func (c *Conn) writeError(err error) error { return c.opError("write", err) }

// write writes b[nn:] with system calls (after check, with w.l held) until
// all of b is written, the socket's buffer is full or an error occurs. It
// returns the bytes of b written in all, and if the buffer is full, wait and
// the write side's readiness sequence number to wait on.
//
//go:noinline
func (fd *netFD) write(b []byte, nn int) (int, uint32, bool, error) {
	for {
		if err := fd.check(&fd.w); err != nil {
			return nn, 0, false, err
		}
		seq := fd.w.edges()
		chunk := b[nn:]
		if len(chunk) > maxRW {
			chunk = chunk[:maxRW]
		}
		n, err := writeNB(fd.sysfd(), chunk)
		if n > 0 {
			nn += n
		}
		if nn == len(b) && err == nil {
			return nn, 0, false, nil
		}
		switch err {
		case nil:
			if n == 0 {
				return nn, 0, false, io.ErrUnexpectedEOF
			}
		case unix.EINTR:
		case unix.EAGAIN:
			return nn, seq, true, nil
		default:
			return nn, 0, false, os.NewSyscallError("write", err)
		}
	}
}

// Close closes the connection. Reads and Writes blocked in other
// tasks or goroutines return net.ErrClosed at once.
func (c *Conn) Close() error {
	if !c.ok() {
		return syscall.EINVAL
	}
	c.LocalAddr() // cached now: errors after Close still name it
	return c.opError("close", c.fd.Close())
}

// CloseRead shuts down the reading side of the connection.
func (c *Conn) CloseRead() error { return c.shutdown(unix.SHUT_RD) }

// CloseWrite shuts down the writing side: the peer reads EOF.
func (c *Conn) CloseWrite() error { return c.shutdown(unix.SHUT_WR) }

func (c *Conn) shutdown(how int) error {
	if !c.ok() {
		return syscall.EINVAL
	}
	if err := c.fd.incref(); err != nil {
		return c.opError("close", err)
	}
	defer c.fd.decref()
	if err := unix.Shutdown(c.fd.sysfd(), how); err != nil {
		return c.opError("close", os.NewSyscallError("shutdown", err))
	}
	return nil
}

// SetDeadline sets the read and write deadlines (zero: none). An operation
// that reaches one fails with an error wrapping os.ErrDeadlineExceeded.
func (c *Conn) SetDeadline(t time.Time) error {
	if !c.ok() {
		return syscall.EINVAL
	}
	return c.opError("set", c.fd.setDeadline(t, true, true))
}

// SetReadDeadline sets the deadline for Read, WaitRead and ReadWith.
func (c *Conn) SetReadDeadline(t time.Time) error {
	if !c.ok() {
		return syscall.EINVAL
	}
	return c.opError("set", c.fd.setDeadline(t, true, false))
}

// SetWriteDeadline sets the deadline for Write.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	if !c.ok() {
		return syscall.EINVAL
	}
	return c.opError("set", c.fd.setDeadline(t, false, true))
}

// peekBuf receives MSG_PEEK bytes; its content is never read.
var peekBuf [1]byte

// peek asks, without waiting or taking anything, whether fd has data, an
// end of stream or an error pending: it returns EAGAIN if not. It makes
// the recvfrom call directly, as unix.Recvfrom would allocate the source
// address it returns (once per wait of every idle connection).
func peek(fd int) error {
	_, _, errno := unix.Syscall6(unix.SYS_RECVFROM, uintptr(fd), uintptr(unsafe.Pointer(&peekBuf[0])), 1,
		unix.MSG_PEEK|unix.MSG_DONTWAIT, 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

// WaitRead parks until the connection is readable (data, end of stream or
// an error is pending), ctx is done, the read deadline passes or the
// connection is closed. It holds no buffer while it waits. It returns nil
// once the connection is readable (a Read then returns what is pending),
// ctx's error as it is if ctx ends first, and otherwise a *net.OpError.
func (c *Conn) WaitRead(ctx context.Context) error {
	if !c.ok() {
		return syscall.EINVAL
	}
	if ctx != nil && ctx.Done() != nil {
		return c.waitReadCtx(ctx)
	}
	for {
		seq, wait, err := c.fd.startWaitRead()
		if wait {
			err = parkIO("poll: wait read", func(w waker) bool { return c.fd.arm(&c.fd.r, seq, w) })
			err = c.fd.endWaitRead(err)
			if err == nil && !brokenWaitReadRecheck {
				// An edge is not data: the poller may deliver late
				// the edge of bytes a Read has taken already. Look.
				continue
			}
		}
		if err != nil {
			return c.readError(err)
		}
		return nil
	}
}

// waitReadCtx is WaitRead with a context that can be done.
func (c *Conn) waitReadCtx(ctx context.Context) error {
	fd := c.fd
	for {
		seq, wait, err := fd.startWaitRead()
		if wait {
			err = fd.wait(ctx, &fd.r, seq, "poll: wait read")
			fd.release(&fd.r.l)
			if err != nil && err == ctx.Err() {
				return err
			}
			if err == nil && !brokenWaitReadRecheck {
				continue // an edge is not data: see WaitRead
			}
		}
		if err != nil {
			return c.readError(err)
		}
		return nil
	}
}

// startWaitRead takes a reference and r.l and checks whether the connection
// is readable. If not, it returns wait and the sequence number to wait on,
// holding both; endWaitRead then completes the wait and releases them.
// Otherwise it releases them and returns nil if data, the end of the
// stream or an error is pending (for a read to report), or check's error.
//
//go:noinline
func (fd *netFD) startWaitRead() (seq uint32, wait bool, err error) {
	if err := fd.acquire(&fd.r.l); err != nil {
		return 0, false, err
	}
	for {
		if err := fd.check(&fd.r); err != nil {
			fd.release(&fd.r.l)
			return 0, false, err
		}
		seq := fd.r.edges()
		err := peek(fd.sysfd())
		switch err {
		case unix.EINTR:
		case unix.EAGAIN:
			return seq, true, nil
		default:
			fd.release(&fd.r.l)
			return 0, false, nil
		}
	}
}

// endWaitRead completes a wait that startWaitRead began.
//
//go:noinline
func (fd *netFD) endWaitRead(err error) error {
	err = fd.endWait(&fd.r, err)
	fd.release(&fd.r.l)
	return err
}

// ReadWith waits until the connection is readable without holding a
// buffer (like WaitRead with a background context), then reads once into a
// buffer borrowed from pool (DefaultPool if nil) and calls fn with the bytes
// read; the buffer goes back to the pool when fn returns, so fn must not
// keep p. ReadWith returns io.EOF at the end of the stream, a read error, or
// fn's error.
func (c *Conn) ReadWith(pool *BufferPool, fn func(p []byte) error) error {
	if !c.ok() {
		return syscall.EINVAL
	}
	for {
		seq, wait, err := c.fd.startWaitRead()
		if wait {
			err = parkIO("poll: wait read", func(w waker) bool { return c.fd.arm(&c.fd.r, seq, w) })
			err = c.fd.endWaitRead(err)
		}
		if err != nil {
			return c.readError(err)
		}
		if err, again := c.readWith(pool, fn); !again {
			return err
		}
	}
}

// readWith is ReadWith's read and call of fn, once the connection is
// readable. again reports a spurious readiness: wait again.
//
//go:noinline
func (c *Conn) readWith(pool *BufferPool, fn func(p []byte) error) (err error, again bool) {
	if pool == nil {
		pool = DefaultPool
	}
	b := pool.Get()
	n, err := c.readOnce(b)
	if err == unix.EAGAIN {
		pool.Put(b) // spurious readiness: wait again, without the buffer
		return nil, true
	}
	if err != nil {
		pool.Put(b)
		if err != io.EOF {
			err = c.readError(err)
		}
		return err, false
	}
	err = fn(b[:n])
	pool.Put(b)
	return err, false
}

// readOnce is one non-blocking read: EAGAIN is returned, not waited on.
func (c *Conn) readOnce(b []byte) (int, error) {
	fd := c.fd
	if err := fd.incref(); err != nil {
		return 0, err
	}
	defer fd.decref()
	if err := fd.lock(&fd.r.l); err != nil {
		return 0, err
	}
	defer fd.unlock(&fd.r.l)
	if err := fd.check(&fd.r); err != nil {
		return 0, err
	}
	for {
		n, err := readNB(fd.sysfd(), b)
		switch err {
		case nil:
			if n == 0 && len(b) > 0 {
				return 0, io.EOF
			}
			return n, nil
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return 0, err
		default:
			return 0, os.NewSyscallError("read", err)
		}
	}
}

// SetNoDelay controls Nagle's algorithm (on by default: no delay).
func (c *Conn) SetNoDelay(noDelay bool) error {
	return c.setsockopt(unix.IPPROTO_TCP, unix.TCP_NODELAY, boolInt(noDelay))
}

// SetKeepAlive turns TCP keep-alive probes on or off.
func (c *Conn) SetKeepAlive(keepalive bool) error {
	return c.setsockopt(unix.SOL_SOCKET, unix.SO_KEEPALIVE, boolInt(keepalive))
}

// SetReadBuffer sets the size of the kernel's receive buffer.
func (c *Conn) SetReadBuffer(bytes int) error {
	return c.setsockopt(unix.SOL_SOCKET, unix.SO_RCVBUF, bytes)
}

// SetWriteBuffer sets the size of the kernel's send buffer.
func (c *Conn) SetWriteBuffer(bytes int) error {
	return c.setsockopt(unix.SOL_SOCKET, unix.SO_SNDBUF, bytes)
}

// SetLinger sets SO_LINGER as net.TCPConn.SetLinger does: sec < 0 restores
// the default, 0 makes Close discard unsent data and reset the connection.
func (c *Conn) SetLinger(sec int) error {
	if !c.ok() {
		return syscall.EINVAL
	}
	if err := c.fd.incref(); err != nil {
		return c.opError("set", err)
	}
	defer c.fd.decref()
	l := unix.Linger{Onoff: 1, Linger: int32(sec)}
	if sec < 0 {
		l = unix.Linger{}
	}
	if err := unix.SetsockoptLinger(c.fd.sysfd(), unix.SOL_SOCKET, unix.SO_LINGER, &l); err != nil {
		return c.opError("set", os.NewSyscallError("setsockopt", err))
	}
	return nil
}

func (c *Conn) setsockopt(level, opt, v int) error {
	if !c.ok() {
		return syscall.EINVAL
	}
	if err := c.fd.incref(); err != nil {
		return c.opError("set", err)
	}
	defer c.fd.decref()
	if err := unix.SetsockoptInt(c.fd.sysfd(), level, opt, v); err != nil {
		return c.opError("set", os.NewSyscallError("setsockopt", err))
	}
	return nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// SyscallConn returns a raw connection for socket options and custom I/O.
// Its Read and Write call f until it reports done, parking on EAGAIN.
func (c *Conn) SyscallConn() (syscall.RawConn, error) {
	if !c.ok() {
		return nil, syscall.EINVAL
	}
	return rawConn{c}, nil
}

type rawConn struct{ c *Conn }

func (r rawConn) Control(f func(fd uintptr)) error {
	fd := r.c.fd
	if err := fd.incref(); err != nil {
		return r.c.opError("raw-control", err)
	}
	defer fd.decref()
	f(uintptr(fd.sysfd()))
	return nil
}

func (r rawConn) Read(f func(fd uintptr) (done bool)) error {
	return r.rw("raw-read", &r.c.fd.r, &r.c.fd.r.l, f)
}

func (r rawConn) Write(f func(fd uintptr) (done bool)) error {
	return r.rw("raw-write", &r.c.fd.w, &r.c.fd.w.l, f)
}

func (r rawConn) rw(op string, d *ioDir, l *ioLock, f func(fd uintptr) bool) error {
	fd := r.c.fd
	if err := fd.incref(); err != nil {
		return r.c.opError(op, err)
	}
	defer fd.decref()
	if err := fd.lock(l); err != nil {
		return r.c.opError(op, err)
	}
	defer fd.unlock(l)
	for {
		if err := fd.check(d); err != nil {
			return r.c.opError(op, err)
		}
		seq := d.edges()
		if f(uintptr(fd.sysfd())) {
			return nil
		}
		if err := fd.wait(background, d, seq, "poll: "+op); err != nil {
			return r.c.opError(op, err)
		}
	}
}
