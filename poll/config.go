//go:build linux || darwin || freebsd

package poll

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/stackslice/stackslice/sched"
)

// ListenConfig contains options for listening, as net.ListenConfig does.
// Its zero value listens as Listen does.
type ListenConfig struct {
	// If Control is not nil, it is called after the socket is created and
	// before it is bound, with network "tcp4", "tcp6" or "unix" (a "tcp"
	// listener's family decides) and the address to bind. An error
	// aborts Listen, which closes the socket and returns the error in a
	// *net.OpError. The RawConn is valid only while Control runs.
	Control func(network, address string, c syscall.RawConn) error

	// KeepAlive is the keep-alive period of accepted TCP connections: zero
	// for the default (currently 15 seconds), negative to leave keep-alive
	// off. It is ignored if KeepAliveConfig.Enable is true.
	KeepAlive time.Duration

	// KeepAliveConfig, if Enable is true, sets keep-alive on accepted TCP
	// connections as Conn.SetKeepAliveConfig does.
	KeepAliveConfig net.KeepAliveConfig

	// ReusePort sets SO_REUSEPORT, as the ReusePort option does.
	ReusePort bool

	// Backlog is the listen backlog; zero or negative for the system's
	// maximum, as package net uses.
	Backlog int
}

// Listen announces on the local address for network "tcp", "tcp4", "tcp6"
// or "unix", with connections served by s's poller, as the package-level
// Listen does with lc's options. ctx bounds the lookup of a host name (in
// a task it parks the task, not its carrier); it does not affect the
// returned Listener.
func (lc *ListenConfig) Listen(ctx context.Context, s *sched.Scheduler, network, address string) (*Listener, error) {
	if ctx == nil {
		panic("poll: ListenConfig.Listen with a nil context; pass context.Background()")
	}
	p, err := pollerFor(s)
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Err: err}
	}
	return lc.listen(ctx, p, network, address)
}

// Dialer contains options for connecting, as net.Dialer does. Its zero
// value dials as Dial does. Its methods are safe for concurrent use.
type Dialer struct {
	// Timeout is the most a dial waits, name lookup included (zero: no
	// limit). If Deadline is also set, the earlier one applies.
	Timeout time.Duration

	// Deadline is the time after which dials fail (zero: none).
	Deadline time.Time

	// LocalAddr, if not nil, is the local address to bind to: a
	// *net.TCPAddr for TCP networks, a *net.UnixAddr for "unix". A host
	// name's addresses of its family are used.
	LocalAddr net.Addr

	// KeepAlive is the keep-alive period of the TCP connection: zero for
	// the default (currently 15 seconds), negative to leave keep-alive
	// off. It is ignored if KeepAliveConfig.Enable is true.
	KeepAlive time.Duration

	// KeepAliveConfig, if Enable is true, sets keep-alive on the TCP
	// connection as Conn.SetKeepAliveConfig does.
	KeepAliveConfig net.KeepAliveConfig

	// If Control is not nil, it is called after the socket is created and
	// before it is bound or connected, with network "tcp4", "tcp6" or
	// "unix" and the address to connect to. An error aborts the dial,
	// which closes the socket and returns the error in a *net.OpError.
	// The RawConn is valid only while Control runs. Control is ignored if
	// ControlContext is not nil.
	Control func(network, address string, c syscall.RawConn) error

	// ControlContext is Control with the dial's context.
	ControlContext func(ctx context.Context, network, address string, c syscall.RawConn) error
}

// DialContext connects to address on network ("tcp", "tcp4", "tcp6" or
// "unix") with d's options, as Dial does: in a task it parks the task
// while a host name is looked up and while the connection is established,
// never its carrier. If ctx is done (or the Timeout or
// Deadline passes) first, it fails with a *net.OpError as net.Dialer's
// DialContext does: errors.Is matches context.Canceled or
// context.DeadlineExceeded. Once connected, ctx no longer matters.
func (d *Dialer) DialContext(ctx context.Context, s *sched.Scheduler, network, address string) (*Conn, error) {
	if ctx == nil {
		panic("poll: Dial with a nil context; pass context.Background()")
	}
	p, err := pollerFor(s)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	return d.dial(ctx, p, network, address)
}

// deadline returns the earliest of now+Timeout, Deadline and ctx's
// deadline, or zero for none (as net.Dialer's deadline).
func (d *Dialer) deadline(ctx context.Context, now time.Time) time.Time {
	var earliest time.Time
	if d.Timeout != 0 { // negative too, as package net does
		earliest = now.Add(d.Timeout)
	}
	if dl, ok := ctx.Deadline(); ok {
		earliest = minNonzeroTime(earliest, dl)
	}
	return minNonzeroTime(earliest, d.Deadline)
}

func minNonzeroTime(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

// localAddr is a Dialer's LocalAddr, checked against the network.
type localAddr struct {
	set  bool
	ip   netip.Addr // TCP: invalid or unspecified to bind the port only
	port int
	path string // unix
}

// local checks LocalAddr against network, as package net does.
func (d *Dialer) local(network string) (localAddr, error) {
	if d.LocalAddr == nil {
		return localAddr{}, nil
	}
	mismatch := &net.AddrError{Err: "mismatched local address type", Addr: d.LocalAddr.String()}
	switch la := d.LocalAddr.(type) {
	case *net.TCPAddr:
		if network == "unix" {
			return localAddr{}, mismatch
		}
		ip, _ := netip.AddrFromSlice(la.IP)
		return localAddr{set: true, ip: ip.WithZone(la.Zone).Unmap(), port: la.Port}, nil
	case *net.UnixAddr:
		if network != "unix" {
			return localAddr{}, mismatch
		}
		return localAddr{set: true, path: la.Name}, nil
	}
	return localAddr{}, mismatch
}

// specific reports whether la names an IP, which decides the family.
func (la localAddr) specific() bool { return la.ip.IsValid() && !la.ip.IsUnspecified() }

// sockaddr returns the address to bind a socket of family to (nil: none).
// An unspecified IP is the family's, as in package net.
func (la localAddr) sockaddr(family int) unix.Sockaddr {
	switch {
	case !la.set:
		return nil
	case family == unix.AF_UNIX:
		return &unix.SockaddrUnix{Name: la.path}
	case la.specific():
		ep, _ := endpointOf("tcp", "", netip.AddrPortFrom(la.ip, uint16(la.port)), false)
		return ep.sa
	case family == unix.AF_INET6:
		return &unix.SockaddrInet6{Port: la.port}
	}
	return &unix.SockaddrInet4{Port: la.port}
}

// control returns the Control hook to call, if any.
func (d *Dialer) control(ctx context.Context) func(network, address string, c syscall.RawConn) error {
	switch {
	case d.ControlContext != nil:
		return func(network, address string, c syscall.RawConn) error {
			return d.ControlContext(ctx, network, address, c)
		}
	case d.Control != nil:
		return d.Control
	}
	return nil
}

// callControl calls a Control hook for socket s.
func callControl(s int, network, address string, fn func(network, address string, c syscall.RawConn) error) error {
	c := &ctrlConn{}
	c.fd.Store(int64(s))
	defer c.fd.Store(-1) // the socket is the listener's or the Conn's now
	return fn(network, address, c)
}

// ctrlNetwork is the network a Control hook is told: package net's
// ctrlNetwork, "tcp" made "tcp4" or "tcp6" by the socket's family.
func ctrlNetwork(network string, family int) string {
	switch {
	case network != "tcp":
		return network
	case family == unix.AF_INET:
		return "tcp4"
	}
	return "tcp6"
}

// ctrlAddr is the address a Control hook is told: the address's String
// as package net resolves it (no IP for no host).
func (ep endpoint) ctrlAddr() string {
	switch sa := ep.sa.(type) {
	case *unix.SockaddrUnix:
		return sa.Name
	}
	if ep.noHost {
		return ":" + strconv.Itoa(int(ep.ap.Port()))
	}
	return tcpAddr(ep.ap).String()
}

// ctrlConn is the syscall.RawConn of a Control hook: the bare socket,
// before bind or connect and before the poller serves it. Read and Write
// call f once: nothing can wait for readiness yet.
type ctrlConn struct {
	fd atomic.Int64 // -1 once the hook returned
}

var errCtrlWait = errors.New("poll: RawConn of a Control hook cannot wait for readiness")

func (c *ctrlConn) Control(f func(fd uintptr)) error {
	fd := c.fd.Load()
	if fd < 0 {
		return syscall.EINVAL
	}
	f(uintptr(fd))
	return nil
}

func (c *ctrlConn) Read(f func(fd uintptr) (done bool)) error  { return c.once(f) }
func (c *ctrlConn) Write(f func(fd uintptr) (done bool)) error { return c.once(f) }

func (c *ctrlConn) once(f func(fd uintptr) bool) error {
	fd := c.fd.Load()
	if fd < 0 {
		return syscall.EINVAL
	}
	if !f(uintptr(fd)) {
		return errCtrlWait
	}
	return nil
}
