//go:build linux || darwin || freebsd

package poll

import (
	"context"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/stackslice/stackslice/sched"
	"github.com/stackslice/stackslice/timers"
)

// Listen announces on the local address for network "tcp", "tcp4", "tcp6"
// or "unix", with connections served by s's poller. The returned
// *Listener's Accept parks the calling task. It listens as a zero
// ListenConfig does, with package net's defaults: SO_REUSEADDR on TCP
// sockets, the system's maximum backlog, and keep-alive on accepted TCP
// connections. A ListenConfig sets other options.
func Listen(s *sched.Scheduler, network, address string) (*Listener, error) {
	p, err := pollerFor(s)
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Err: err}
	}
	return listen(p, network, address)
}

// Listener is a stream listener served by a scheduler's poller. It
// implements net.Listener; AcceptConn returns the concrete *Conn. Serve
// and Server serve its connections with a task each.
type Listener struct {
	fd        *netFD
	network   string
	addr      net.Addr
	connAddrs *connAddrs          // local address of accepted connections, if fixed
	unlink    string              // unix socket path to remove on Close
	keepAlive net.KeepAliveConfig // for accepted TCP connections, if Enable

	closeOnce sync.Once
	closeErr  error

	sleepMu  sync.Mutex // guards the fields below
	sleeper  waker
	sleeping bool
	sleepT   timers.Timer
}

var _ net.Listener = (*Listener)(nil)

// listen is Listen on the poller p.
func listen(p *poller, network, address string) (*Listener, error) {
	var lc ListenConfig
	return lc.listen(background, p, network, address)
}

func (lc *ListenConfig) listen(ctx context.Context, p *poller, network, address string) (*Listener, error) {
	ep, err := resolve(ctx, network, address, true, netip.Addr{})
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Err: err}
	}
	l, err := lc.listenEndpoint(p, network, ep)
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Addr: netAddr(network, ep.sa), Err: err}
	}
	return l, nil
}

func (lc *ListenConfig) listenEndpoint(p *poller, network string, ep endpoint) (*Listener, error) {
	family, sa := ep.family, ep.sa
	dual := false
	if network == "tcp" && ep.wild {
		// A wildcard "tcp" listener takes IPv4 and IPv6, as package net's does.
		family, dual = unix.AF_INET6, true
		sa = &unix.SockaddrInet6{Port: int(ep.ap.Port())}
	}
	s, err := sysSocket(family, unix.SOCK_STREAM, 0)
	if err != nil && dual {
		family, dual = unix.AF_INET, false
		sa = &unix.SockaddrInet4{Port: int(ep.ap.Port())}
		s, err = sysSocket(family, unix.SOCK_STREAM, 0)
	}
	if err != nil {
		return nil, err
	}
	fail := func(name string, err error) (*Listener, error) {
		unix.Close(s)
		return nil, wrapSyscall(name, err)
	}
	if family != unix.AF_UNIX {
		if err := unix.SetsockoptInt(s, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
			return fail("setsockopt", err)
		}
	}
	if family == unix.AF_INET6 {
		if err := unix.SetsockoptInt(s, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, boolInt(network == "tcp6")); err != nil {
			return fail("setsockopt", err)
		}
	}
	if lc.ReusePort {
		if err := unix.SetsockoptInt(s, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
			return fail("setsockopt", err)
		}
	}
	if lc.Control != nil {
		if err := callControl(s, ctrlNetwork(network, family), ep.ctrlAddr(), lc.Control); err != nil {
			unix.Close(s)
			return nil, err
		}
	}
	if err := unix.Bind(s, sa); err != nil {
		return fail("bind", err)
	}
	backlog := lc.Backlog
	if backlog <= 0 {
		backlog = maxListenerBacklog()
	}
	if err := unix.Listen(s, backlog); err != nil {
		return fail("listen", err)
	}
	bound, err := unix.Getsockname(s)
	if err != nil {
		return fail("getsockname", err)
	}
	l := &Listener{network: network, addr: netAddr(network, bound)}
	if !dual && !ep.wild {
		l.connAddrs = &connAddrs{la: l.addr} // accepted connections share it
	}
	if family == unix.AF_UNIX {
		if name := sa.(*unix.SockaddrUnix).Name; name != "" && name[0] != '@' {
			l.unlink = name
		}
	} else {
		l.keepAlive = keepAliveFor(lc.KeepAlive, lc.KeepAliveConfig)
	}
	fd, err := newFD(p, s)
	if err != nil {
		unix.Close(s)
		return nil, err
	}
	l.fd = fd
	collectOnDrop(l, fd)
	return l, nil
}

// Addr returns the listener's network address.
func (l *Listener) Addr() net.Addr { return l.addr }

// Accept waits for and returns the next connection (a *Conn).
func (l *Listener) Accept() (net.Conn, error) {
	c, err := l.AcceptConn()
	if err != nil {
		return nil, err
	}
	return c, nil
}

// Accept backoff after EMFILE and similar: from acceptBackoffMin doubling
// up to acceptBackoffMax.
const (
	acceptBackoffMin = 5 * time.Millisecond
	acceptBackoffMax = time.Second
)

// AcceptConn waits for and returns the next connection. When the process
// or system is out of descriptors (or socket memory) it does not fail: it
// sleeps (5 ms, doubling up to 1 s) and tries again, counting each sleep in
// Stats.AcceptBackoffs, until a descriptor is free or the listener closes.
// Out of descriptors, it first closes the idle pipes that splicing copies
// keep for reuse, and tries again at once if there were any.
func (l *Listener) AcceptConn() (*Conn, error) {
	if !l.ok() {
		return nil, syscall.EINVAL
	}
	c, err := l.accept()
	if err != nil {
		return nil, &net.OpError{Op: "accept", Net: l.network, Addr: l.addr, Err: err}
	}
	return c, nil
}

func (l *Listener) accept() (*Conn, error) {
	fd := l.fd
	if err := fd.incref(); err != nil {
		return nil, err
	}
	defer fd.decref()
	if err := fd.lock(&fd.r.l); err != nil {
		return nil, err
	}
	defer fd.unlock(&fd.r.l)
	var backoff time.Duration
	for {
		if err := fd.check(&fd.r); err != nil {
			return nil, err
		}
		seq := fd.r.edges()
		ns, rsa, err := sysAccept(fd.sysfd())
		switch err {
		case nil:
			if l.keepAlive.Enable {
				setKeepAliveConfig(ns, l.keepAlive) // errors ignored, as package net does
			}
			return newConn(fd.p, ns, l.network, rsa, l.connAddrs)
		case unix.EAGAIN:
			if err := fd.wait(background, &fd.r, seq, "poll: accept"); err != nil {
				return nil, err
			}
		case unix.EINTR, unix.ECONNABORTED, unix.EPROTO:
			fd.p.acceptRetries.Add(1)
		case unix.EMFILE, unix.ENFILE, unix.ENOBUFS, unix.ENOMEM:
			if (err == unix.EMFILE || err == unix.ENFILE) && releaseIdlePipes() > 0 {
				continue // descriptors were freed: no need to wait
			}
			backoff = min(max(2*backoff, acceptBackoffMin), acceptBackoffMax)
			fd.p.acceptBackoffs.Add(1)
			if err := l.sleep(backoff); err != nil {
				return nil, err
			}
		default:
			return nil, os.NewSyscallError("accept", err)
		}
	}
}

// sleep parks for d or until the listener closes.
func (l *Listener) sleep(d time.Duration) error {
	err := park(background, "poll: accept backoff", func(w waker) bool {
		l.sleepMu.Lock()
		defer l.sleepMu.Unlock()
		if l.fd.closing() {
			return false
		}
		l.sleeper, l.sleeping = w, true
		l.sleepT = l.fd.p.wheel.Add(d, l.wakeSleeper)
		return true
	})
	if err != nil {
		l.wakeSleeper() // cancelled: drop the stale waker and its timer
		return err
	}
	if l.fd.closing() {
		return errClosed
	}
	return nil
}

func (l *Listener) wakeSleeper() {
	l.sleepMu.Lock()
	w, ok := l.sleeper, l.sleeping
	l.sleeper, l.sleeping = waker{}, false
	l.sleepT.Stop()
	l.sleepMu.Unlock()
	if ok {
		w.Ready()
	}
}

// Close stops listening; blocked Accepts return net.ErrClosed. A unix
// socket's file is removed.
func (l *Listener) Close() error {
	if !l.ok() {
		return syscall.EINVAL
	}
	l.closeOnce.Do(func() {
		l.closeErr = l.fd.Close()
		l.wakeSleeper()
		if l.unlink != "" {
			unix.Unlink(l.unlink)
		}
	})
	if l.closeErr == nil {
		return nil
	}
	return &net.OpError{Op: "close", Net: l.network, Addr: l.addr, Err: l.closeErr}
}

// SetDeadline sets the deadline for Accept (zero: none).
func (l *Listener) SetDeadline(t time.Time) error {
	if !l.ok() {
		return syscall.EINVAL
	}
	if err := l.fd.setDeadline(t, true, false); err != nil {
		return &net.OpError{Op: "set", Net: l.network, Addr: l.addr, Err: err}
	}
	return nil
}

var (
	backlogOnce sync.Once
	backlog     = 4096
)

// maxListenerBacklog reads the system's limit, as package net does.
func maxListenerBacklog() int {
	backlogOnce.Do(func() {
		b, err := os.ReadFile("/proc/sys/net/core/somaxconn")
		if err != nil {
			return
		}
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && n > 0 {
			backlog = min(n, 1<<16-1)
		}
	})
	return backlog
}

// Dial connects to address on network ("tcp", "tcp4", "tcp6" or "unix"),
// parking the calling task while a host name is looked up and the
// connection is established, until ctx is done. The connection is served by s's poller. It dials as a zero
// Dialer does: a TCP connection has keep-alive on, as package net's has.
func Dial(ctx context.Context, s *sched.Scheduler, network, address string) (*Conn, error) {
	var d Dialer
	return d.DialContext(ctx, s, network, address)
}

// dial is Dial on the poller p.
func dial(ctx context.Context, p *poller, network, address string) (*Conn, error) {
	var d Dialer
	return d.dial(ctx, p, network, address)
}

func (d *Dialer) dial(ctx context.Context, p *poller, network, address string) (*Conn, error) {
	if dl := d.deadline(ctx, time.Now()); !dl.IsZero() {
		if cd, ok := ctx.Deadline(); !ok || dl.Before(cd) {
			var cancel context.CancelFunc
			ctx, cancel = context.WithDeadline(ctx, dl)
			defer cancel()
		}
	}
	la, err := d.local(network)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	ep, err := resolve(ctx, network, address, false, la.ip)
	if err == nil && ep.family != unix.AF_UNIX && la.specific() && la.ip.Is4() != ep.ap.Addr().Is4() {
		err = &net.AddrError{Err: "no suitable address found", Addr: d.LocalAddr.String()}
	}
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	c, err := d.connect(ctx, p, network, ep, la.sockaddr(ep.family))
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Source: d.LocalAddr, Addr: netAddr(network, ep.sa), Err: mapCtxErr(err)}
	}
	if ep.family != unix.AF_UNIX {
		if ka := keepAliveFor(d.KeepAlive, d.KeepAliveConfig); ka.Enable {
			setKeepAliveConfig(c.fd.sysfd(), ka) // errors ignored, as package net does
		}
	}
	return c, nil
}

// connect makes a socket, lets the Control hook see it, binds it to lsa
// (if not nil) and connects it to ep.
func (d *Dialer) connect(ctx context.Context, p *poller, network string, ep endpoint, lsa unix.Sockaddr) (*Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s, err := sysSocket(ep.family, unix.SOCK_STREAM, 0)
	if err != nil {
		return nil, err
	}
	if ctrl := d.control(ctx); ctrl != nil {
		if err := callControl(s, ctrlNetwork(network, ep.family), ep.ctrlAddr(), ctrl); err != nil {
			unix.Close(s)
			return nil, err
		}
	}
	if lsa != nil {
		if err := unix.Bind(s, lsa); err != nil {
			unix.Close(s)
			return nil, os.NewSyscallError("bind", err)
		}
	}
	c, err := newConn(p, s, network, ep.sa, nil)
	if err != nil {
		return nil, err
	}
	fd := c.fd
	seq := fd.w.edges()
	for {
		err = unix.Connect(s, ep.sa)
		if err != unix.EINTR {
			break
		}
	}
	switch err {
	case nil, unix.EISCONN:
		return c, nil
	case unix.EINPROGRESS, unix.EALREADY:
	default:
		fd.Close()
		return nil, os.NewSyscallError("connect", err)
	}
	for {
		if err := fd.wait(ctx, &fd.w, seq, "poll: connect"); err != nil {
			fd.Close()
			return nil, err
		}
		seq = fd.w.edges()
		v, err := unix.GetsockoptInt(s, unix.SOL_SOCKET, unix.SO_ERROR)
		if err != nil {
			fd.Close()
			return nil, os.NewSyscallError("getsockopt", err)
		}
		switch e := unix.Errno(v); e {
		case 0, unix.EISCONN:
			if _, err := unix.Getpeername(s); err == nil {
				return c, nil
			}
			// Not connected yet after all: wait for the next edge.
		case unix.EINPROGRESS, unix.EALREADY, unix.EINTR:
		default:
			fd.Close()
			return nil, os.NewSyscallError("connect", e)
		}
	}
}
