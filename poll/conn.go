//go:build linux || darwin || freebsd

package poll

import (
	"context"
	"io"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Conn is a stream connection (TCP or unix) served by a scheduler's poller.
// It implements net.Conn the way *net.TCPConn does: Read and Write park the
// calling coroutine (or block the calling goroutine) instead of failing with
// EAGAIN; Write writes everything or returns an error; deadlines fail with
// an error matching os.ErrDeadlineExceeded whose Timeout is true; Close, from
// anywhere, makes blocked and later calls fail with net.ErrClosed; every
// error is a *net.OpError. Methods are safe for concurrent use; concurrent
// Reads (or Writes) are serialised.
//
// An idle connection holds no buffer: WaitRead parks without one, and
// ReadWith lends a pooled buffer only while the data is processed.
type Conn struct {
	fd      netFD
	network string
	rap     netip.AddrPort // remote address of a TCP connection
	la, ra  net.Addr       // built on first use, under fd.mu
}

var _ net.Conn = (*Conn)(nil)

// newConn wraps the connected socket s (ownership passes to the Conn, also
// on failure). rsa is the peer's address if known.
func newConn(p *poller, s int, network string, rsa unix.Sockaddr, la net.Addr) (*Conn, error) {
	c := &Conn{network: network, la: la}
	if ap, ok := addrPortOf(rsa); ok {
		c.rap = ap
	} else if rsa != nil {
		c.ra = netAddr(network, rsa)
	}
	if network != "unix" {
		unix.SetsockoptInt(s, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1) // as package net does
	}
	if err := c.fd.init(p, s); err != nil {
		unix.Close(s)
		return nil, err
	}
	return c, nil
}

// LocalAddr returns the local network address.
func (c *Conn) LocalAddr() net.Addr {
	c.fd.mu.Lock()
	defer c.fd.mu.Unlock()
	if c.la == nil && !c.fd.closing() {
		if sa, err := unix.Getsockname(c.fd.sysfd); err == nil {
			c.la = netAddr(c.network, sa)
		}
	}
	return c.la
}

// RemoteAddr returns the remote network address.
func (c *Conn) RemoteAddr() net.Addr {
	c.fd.mu.Lock()
	defer c.fd.mu.Unlock()
	if c.ra == nil {
		if c.rap.IsValid() {
			c.ra = tcpAddr(c.rap)
		} else if !c.fd.closing() {
			if sa, err := unix.Getpeername(c.fd.sysfd); err == nil {
				c.ra = netAddr(c.network, sa)
			}
		}
	}
	return c.ra
}

func (c *Conn) opError(op string, err error) error {
	if err == nil || err == io.EOF {
		return err
	}
	return &net.OpError{Op: op, Net: c.network, Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
}

// Read reads up to len(b) bytes, parking until some are available. It
// returns io.EOF at the end of the stream.
func (c *Conn) Read(b []byte) (int, error) {
	n, err := c.read(b)
	if err != nil && err != io.EOF {
		err = c.opError("read", err)
	}
	return n, err
}

func (c *Conn) read(b []byte) (int, error) {
	fd := &c.fd
	if err := fd.incref(); err != nil {
		return 0, err
	}
	defer fd.decref()
	if err := fd.lock(&fd.rl); err != nil {
		return 0, err
	}
	defer fd.unlock(&fd.rl)
	if len(b) == 0 {
		return 0, nil
	}
	if len(b) > maxRW {
		b = b[:maxRW]
	}
	for {
		if err := fd.check(&fd.r); err != nil {
			return 0, err
		}
		seq := fd.r.seq.Load()
		n, err := unix.Read(fd.sysfd, b)
		switch err {
		case nil:
			if n == 0 {
				return 0, io.EOF
			}
			return n, nil
		case unix.EINTR:
		case unix.EAGAIN:
			if err := fd.wait(background, &fd.r, seq, "poll: read"); err != nil {
				return 0, err
			}
		default:
			return 0, os.NewSyscallError("read", err)
		}
	}
}

// Write writes all of b, parking while the socket's buffer is full. It
// returns len(b) or an error.
func (c *Conn) Write(b []byte) (int, error) {
	n, err := c.write(b)
	if err != nil {
		err = c.opError("write", err)
	}
	return n, err
}

func (c *Conn) write(b []byte) (int, error) {
	fd := &c.fd
	if err := fd.incref(); err != nil {
		return 0, err
	}
	defer fd.decref()
	if err := fd.lock(&fd.wl); err != nil {
		return 0, err
	}
	defer fd.unlock(&fd.wl)
	nn := 0
	for {
		if err := fd.check(&fd.w); err != nil {
			return nn, err
		}
		seq := fd.w.seq.Load()
		chunk := b[nn:]
		if len(chunk) > maxRW {
			chunk = chunk[:maxRW]
		}
		n, err := unix.Write(fd.sysfd, chunk)
		if n > 0 {
			nn += n
		}
		if nn == len(b) && err == nil {
			return nn, nil
		}
		switch err {
		case nil:
			if n == 0 {
				return nn, io.ErrUnexpectedEOF
			}
		case unix.EINTR:
		case unix.EAGAIN:
			if err := fd.wait(background, &fd.w, seq, "poll: write"); err != nil {
				return nn, err
			}
		default:
			return nn, os.NewSyscallError("write", err)
		}
	}
}

// Close closes the connection. Reads and Writes blocked in other
// coroutines or goroutines return net.ErrClosed at once.
func (c *Conn) Close() error {
	c.LocalAddr() // cached now: errors after Close still name it
	return c.opError("close", c.fd.Close())
}

// CloseRead shuts down the reading side of the connection.
func (c *Conn) CloseRead() error { return c.shutdown(unix.SHUT_RD) }

// CloseWrite shuts down the writing side: the peer reads EOF.
func (c *Conn) CloseWrite() error { return c.shutdown(unix.SHUT_WR) }

func (c *Conn) shutdown(how int) error {
	if err := c.fd.incref(); err != nil {
		return c.opError("close", err)
	}
	defer c.fd.decref()
	if err := unix.Shutdown(c.fd.sysfd, how); err != nil {
		return c.opError("close", os.NewSyscallError("shutdown", err))
	}
	return nil
}

// SetDeadline sets the read and write deadlines (zero: none). An operation
// that reaches one fails with an error wrapping os.ErrDeadlineExceeded.
func (c *Conn) SetDeadline(t time.Time) error {
	return c.opError("set", c.fd.setDeadline(t, true, true))
}

// SetReadDeadline sets the deadline for Read, WaitRead and ReadWith.
func (c *Conn) SetReadDeadline(t time.Time) error {
	return c.opError("set", c.fd.setDeadline(t, true, false))
}

// SetWriteDeadline sets the deadline for Write.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	return c.opError("set", c.fd.setDeadline(t, false, true))
}

// peekBuf receives MSG_PEEK bytes; its content is never read.
var peekBuf [1]byte

// WaitRead parks until the connection is readable (data, end of stream or
// an error is pending), ctx is done, the read deadline passes or the
// connection is closed. It holds no buffer while it waits.
func (c *Conn) WaitRead(ctx context.Context) error {
	fd := &c.fd
	if err := fd.incref(); err != nil {
		return c.opError("read", err)
	}
	defer fd.decref()
	if err := fd.lock(&fd.rl); err != nil {
		return c.opError("read", err)
	}
	defer fd.unlock(&fd.rl)
	for {
		if err := fd.check(&fd.r); err != nil {
			return c.opError("read", err)
		}
		seq := fd.r.seq.Load()
		_, _, err := unix.Recvfrom(fd.sysfd, peekBuf[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		switch err {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
		default:
			return nil // data, EOF or an error for Read to report
		}
		if err := fd.wait(ctx, &fd.r, seq, "poll: wait read"); err != nil {
			if err == ctx.Err() {
				return err
			}
			return c.opError("read", err)
		}
		return nil
	}
}

// ReadWith waits until the connection is readable without holding a
// buffer (like WaitRead with a background context), then reads once into a
// buffer borrowed from pool (DefaultPool if nil) and calls fn with the bytes
// read; the buffer goes back to the pool when fn returns, so fn must not
// keep p. ReadWith returns io.EOF at the end of the stream, a read error, or
// fn's error.
func (c *Conn) ReadWith(pool *BufferPool, fn func(p []byte) error) error {
	if pool == nil {
		pool = DefaultPool
	}
	for {
		if err := c.WaitRead(background); err != nil {
			return err
		}
		bp := pool.Get()
		n, err := c.readOnce(*bp)
		if err == unix.EAGAIN {
			pool.Put(bp) // spurious readiness: wait again, without the buffer
			continue
		}
		if err != nil {
			pool.Put(bp)
			if err != io.EOF {
				err = c.opError("read", err)
			}
			return err
		}
		err = fn((*bp)[:n])
		pool.Put(bp)
		return err
	}
}

// readOnce is one non-blocking read: EAGAIN is returned, not waited on.
func (c *Conn) readOnce(b []byte) (int, error) {
	fd := &c.fd
	if err := fd.incref(); err != nil {
		return 0, err
	}
	defer fd.decref()
	if err := fd.lock(&fd.rl); err != nil {
		return 0, err
	}
	defer fd.unlock(&fd.rl)
	if err := fd.check(&fd.r); err != nil {
		return 0, err
	}
	for {
		n, err := unix.Read(fd.sysfd, b)
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
	if err := c.fd.incref(); err != nil {
		return c.opError("set", err)
	}
	defer c.fd.decref()
	l := unix.Linger{Onoff: 1, Linger: int32(sec)}
	if sec < 0 {
		l = unix.Linger{}
	}
	if err := unix.SetsockoptLinger(c.fd.sysfd, unix.SOL_SOCKET, unix.SO_LINGER, &l); err != nil {
		return c.opError("set", os.NewSyscallError("setsockopt", err))
	}
	return nil
}

func (c *Conn) setsockopt(level, opt, v int) error {
	if err := c.fd.incref(); err != nil {
		return c.opError("set", err)
	}
	defer c.fd.decref()
	if err := unix.SetsockoptInt(c.fd.sysfd, level, opt, v); err != nil {
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
	return rawConn{c}, nil
}

type rawConn struct{ c *Conn }

func (r rawConn) Control(f func(fd uintptr)) error {
	fd := &r.c.fd
	if err := fd.incref(); err != nil {
		return r.c.opError("raw-control", err)
	}
	defer fd.decref()
	f(uintptr(fd.sysfd))
	return nil
}

func (r rawConn) Read(f func(fd uintptr) (done bool)) error {
	return r.rw("raw-read", &r.c.fd.r, &r.c.fd.rl, f)
}

func (r rawConn) Write(f func(fd uintptr) (done bool)) error {
	return r.rw("raw-write", &r.c.fd.w, &r.c.fd.wl, f)
}

func (r rawConn) rw(op string, d *ioDir, l *ioLock, f func(fd uintptr) bool) error {
	fd := &r.c.fd
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
		seq := d.seq.Load()
		if f(uintptr(fd.sysfd)) {
			return nil
		}
		if err := fd.wait(background, d, seq, "poll: "+op); err != nil {
			return r.c.opError(op, err)
		}
	}
}
