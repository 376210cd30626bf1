//go:build linux || darwin || freebsd

package poll

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/stackslice/stackslice/sched"
)

// newScheduler returns a scheduler closed at cleanup, its carriers
// started, so that its idle watcher polls for the test's goroutines too.
// (Goroutines waiting on a scheduler that never ran rely on the poller's
// helper, which does not start within helperAfter of the package's init:
// a separate issue, not what these tests are about.)
func newScheduler(t testing.TB, opts ...sched.Option) *sched.Scheduler {
	t.Helper()
	s := sched.New(opts...)
	t.Cleanup(func() { s.Close() })
	if _, err := s.Go(func(context.Context) {}); err != nil {
		t.Fatal(err)
	}
	return s
}

// keepAlive is a socket's keep-alive settings as getsockopt reads them.
type keepAlive struct{ on, idle, intvl, cnt int }

func readKeepAlive(t *testing.T, fd int) keepAlive {
	t.Helper()
	get := func(level, opt int) int {
		v, err := unix.GetsockoptInt(fd, level, opt)
		if err != nil {
			t.Fatalf("getsockopt(%d, %d): %v", level, opt, err)
		}
		return v
	}
	return keepAlive{
		on:    get(unix.SOL_SOCKET, unix.SO_KEEPALIVE),
		idle:  get(unix.IPPROTO_TCP, tcpKeepIdle),
		intvl: get(unix.IPPROTO_TCP, unix.TCP_KEEPINTVL),
		cnt:   get(unix.IPPROTO_TCP, unix.TCP_KEEPCNT),
	}
}

// connKeepAlive reads c's settings through its SyscallConn.
func connKeepAlive(t *testing.T, c syscall.Conn) keepAlive {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var ka keepAlive
	if err := rc.Control(func(fd uintptr) { ka = readKeepAlive(t, int(fd)) }); err != nil {
		t.Fatal(err)
	}
	return ka
}

// systemKeepAlive is what a new TCP socket has: what negative fields leave.
func systemKeepAlive(t *testing.T) keepAlive {
	s, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(s)
	return readKeepAlive(t, s)
}

// keepAliveCases are the settings of a config and what they set, as
// package net sets them.
func keepAliveCases(t *testing.T) []struct {
	name string
	d    time.Duration
	cfg  net.KeepAliveConfig
	want keepAlive
} {
	sys := systemKeepAlive(t)
	return []struct {
		name string
		d    time.Duration
		cfg  net.KeepAliveConfig
		want keepAlive
	}{
		{"zero", 0, net.KeepAliveConfig{}, keepAlive{1, 15, 15, 9}},
		{"period", 30 * time.Second, net.KeepAliveConfig{}, keepAlive{1, 30, 15, 9}},
		{"rounded up", 1500 * time.Millisecond, net.KeepAliveConfig{}, keepAlive{1, 2, 15, 9}},
		{"disabled", -1, net.KeepAliveConfig{}, sys},
		{"config", -1, net.KeepAliveConfig{Enable: true, Idle: 5 * time.Second, Interval: 3 * time.Second, Count: 4}, keepAlive{1, 5, 3, 4}},
		{"config defaults", 30 * time.Second, net.KeepAliveConfig{Enable: true}, keepAlive{1, 15, 15, 9}},
		{"config unchanged", 0, net.KeepAliveConfig{Enable: true, Idle: -1, Interval: 7 * time.Second, Count: -1}, keepAlive{1, sys.idle, 7, sys.cnt}},
	}
}

// TestKeepAliveAccepted checks the keep-alive settings of accepted
// connections for each ListenConfig setting, and Listen's default.
func TestKeepAliveAccepted(t *testing.T) {
	s := newScheduler(t)
	ctx := context.Background()
	check := func(t *testing.T, ln *Listener, want keepAlive) {
		t.Helper()
		defer ln.Close()
		nc, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		c, err := ln.AcceptConn()
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if got := connKeepAlive(t, c); got != want {
			t.Errorf("accepted connection: keep-alive %+v, want %+v", got, want)
		}
	}
	for _, tc := range keepAliveCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			lc := ListenConfig{KeepAlive: tc.d, KeepAliveConfig: tc.cfg}
			ln, err := lc.Listen(ctx, s, "tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			check(t, ln, tc.want)
		})
	}
	t.Run("Listen", func(t *testing.T) {
		ln, err := Listen(s, "tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		check(t, ln, keepAlive{1, 15, 15, 9})
	})
}

// TestKeepAliveDialed checks the keep-alive settings of dialed
// connections for each Dialer setting, and Dial's default.
func TestKeepAliveDialed(t *testing.T) {
	s := newScheduler(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() { // accept and drop
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	ctx := context.Background()
	check := func(t *testing.T, c *Conn, err error, want keepAlive) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if got := connKeepAlive(t, c); got != want {
			t.Errorf("dialed connection: keep-alive %+v, want %+v", got, want)
		}
	}
	for _, tc := range keepAliveCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			d := Dialer{KeepAlive: tc.d, KeepAliveConfig: tc.cfg}
			c, err := d.DialContext(ctx, s, "tcp", ln.Addr().String())
			check(t, c, err, tc.want)
		})
	}
	t.Run("Dial", func(t *testing.T) {
		c, err := Dial(ctx, s, "tcp", ln.Addr().String())
		check(t, c, err, keepAlive{1, 15, 15, 9})
	})
}

// TestSetKeepAliveConfig checks Conn's keep-alive setters against what
// net.TCPConn's set on the same kind of socket.
func TestSetKeepAliveConfig(t *testing.T) {
	forEachEnv(t, func(t *testing.T, e env) {
		sc, nc := pair(t, e)
		ncTCP := nc.(*net.TCPConn)
		for _, cfg := range []net.KeepAliveConfig{
			{Enable: true, Idle: 4 * time.Second, Interval: 2 * time.Second, Count: 3},
			{Enable: true},
			{Enable: false, Idle: -1, Interval: -1, Count: -1},
			{Enable: true, Idle: 1100 * time.Millisecond, Interval: -1, Count: 0},
		} {
			if err := sc.SetKeepAliveConfig(cfg); err != nil {
				t.Fatal(err)
			}
			if err := ncTCP.SetKeepAliveConfig(cfg); err != nil {
				t.Fatal(err)
			}
			if got, want := connKeepAlive(t, sc), connKeepAlive(t, ncTCP); got != want {
				t.Errorf("SetKeepAliveConfig(%+v): %+v, package net sets %+v", cfg, got, want)
			}
		}
		if err := sc.SetKeepAlivePeriod(42 * time.Second); err != nil {
			t.Fatal(err)
		}
		if got := connKeepAlive(t, sc); got.idle != 42 {
			t.Errorf("SetKeepAlivePeriod(42s): idle %d", got.idle)
		}
		sc.Close()
		err := sc.SetKeepAliveConfig(net.KeepAliveConfig{Enable: true})
		var oe *net.OpError
		if !errors.As(err, &oe) || oe.Op != "set" || !errors.Is(err, net.ErrClosed) {
			t.Errorf("SetKeepAliveConfig after Close: %v", err)
		}
	})
}

// socketOpen reports whether the process has a descriptor open on the
// socket whose inode is ino (Linux: /proc/self/fd).
func socketOpen(t *testing.T, ino uint64) bool {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	want := fmt.Sprintf("socket:[%d]", ino)
	for _, e := range ents {
		if l, _ := os.Readlink("/proc/self/fd/" + e.Name()); l == want {
			return true
		}
	}
	return false
}

// hook is a Control hook that records its calls and the socket it saw.
type hook struct {
	t        *testing.T
	calls    int
	network  string
	address  string
	fd       int
	ino      uint64
	rc       syscall.RawConn
	err      error                  // to return
	sockname func(sa unix.Sockaddr) // checks the socket's state, if set
	peer     bool                   // whether getpeername should succeed
}

func (h *hook) control(network, address string, c syscall.RawConn) error {
	h.calls++
	h.network, h.address, h.rc = network, address, c
	cerr := c.Control(func(fd uintptr) {
		h.fd = int(fd)
		var st unix.Stat_t
		if err := unix.Fstat(h.fd, &st); err != nil {
			h.t.Errorf("Control: fstat: %v", err)
		}
		h.ino = st.Ino
		if typ, err := unix.GetsockoptInt(h.fd, unix.SOL_SOCKET, unix.SO_TYPE); err != nil || typ != unix.SOCK_STREAM {
			h.t.Errorf("Control: SO_TYPE = %d, %v", typ, err)
		}
		if sa, err := unix.Getsockname(h.fd); err == nil && h.sockname != nil {
			h.sockname(sa)
		}
		if _, err := unix.Getpeername(h.fd); err == nil {
			h.t.Error("Control: the socket is connected already")
		}
	})
	if cerr != nil {
		h.t.Errorf("RawConn.Control in the hook: %v", cerr)
	}
	if err := c.Read(func(uintptr) bool { return true }); err != nil {
		h.t.Errorf("RawConn.Read in the hook: %v", err)
	}
	if err := c.Write(func(uintptr) bool { return false }); err == nil {
		h.t.Error("RawConn.Write in the hook waited for readiness")
	}
	return h.err
}

// checkAfter checks the hook's RawConn is dead once the hook returned.
func (h *hook) checkAfter() {
	if err := h.rc.Control(func(uintptr) { h.t.Error("RawConn.Control ran f after the hook returned") }); err == nil {
		h.t.Error("RawConn.Control after the hook returned: no error")
	}
}

func unbound(t *testing.T) func(sa unix.Sockaddr) {
	return func(sa unix.Sockaddr) {
		if ap, ok := addrPortOf(sa); ok && ap.Port() != 0 {
			t.Errorf("Control: socket bound already to %v", ap)
		}
	}
}

func TestListenConfigControl(t *testing.T) {
	s := newScheduler(t)
	ctx := context.Background()
	path := t.TempDir() + "/s"
	for _, tc := range []struct{ network, address, ctrlNet, ctrlAddr string }{
		{"tcp", "127.0.0.1:0", "tcp4", "127.0.0.1:0"},
		{"tcp4", "127.0.0.1:0", "tcp4", "127.0.0.1:0"},
		{"tcp", ":0", "tcp6", ":0"},
		{"tcp", "[::1]:0", "tcp6", "[::1]:0"},
		{"unix", path, "unix", path},
	} {
		name := tc.network + " " + tc.address
		h := &hook{t: t, sockname: unbound(t)}
		lc := ListenConfig{Control: h.control}
		ln, err := lc.Listen(ctx, s, tc.network, tc.address)
		if err != nil && strings.Contains(tc.address, "::") {
			t.Logf("%s: no IPv6: %v", name, err)
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if h.calls != 1 || h.network != tc.ctrlNet || h.address != tc.ctrlAddr {
			t.Errorf("%s: Control called %d times, last with (%q, %q), want once with (%q, %q)",
				name, h.calls, h.network, h.address, tc.ctrlNet, tc.ctrlAddr)
		}
		// The hook saw the listener's own socket.
		sa, err := unix.Getsockname(h.fd)
		if err != nil || netAddr(tc.network, sa).String() != ln.Addr().String() {
			t.Errorf("%s: the hook's descriptor is bound to %v (%v), the listener to %v", name, sa, err, ln.Addr())
		}
		h.checkAfter()
		ln.Close()
	}

	// An error aborts Listen and closes the socket.
	errHook := errors.New("hook says no")
	for _, network := range []string{"tcp", "unix"} {
		h := &hook{t: t, err: errHook}
		lc := ListenConfig{Control: h.control}
		address := "127.0.0.1:0"
		if network == "unix" {
			address = t.TempDir() + "/s"
		}
		ln, err := lc.Listen(ctx, s, network, address)
		var oe *net.OpError
		if ln != nil || !errors.As(err, &oe) || oe.Op != "listen" || oe.Net != network || oe.Addr == nil || !errors.Is(err, errHook) {
			t.Errorf("%s: Listen with a failing hook: %v, %#v", network, ln, err)
		}
		if h.calls != 1 {
			t.Errorf("%s: Control called %d times", network, h.calls)
		}
		if socketOpen(t, h.ino) {
			t.Errorf("%s: the socket the hook refused is still open", network)
		}
		if network == "unix" {
			if _, err := os.Stat(address); !os.IsNotExist(err) {
				t.Errorf("unix socket file left behind: %v", err)
			}
		}
	}
}

func TestDialerControl(t *testing.T) {
	s := newScheduler(t)
	ln, err := Listen(s, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx := context.Background()
	addr := ln.Addr().String()
	cases := []struct{ network, address, ctrlNet, ctrlAddr string }{
		{"tcp", addr, "tcp4", addr},
		{"tcp4", addr, "tcp4", addr},
		{"tcp", "localhost:" + port(ln.Addr()), "tcp4", addr},
	}
	if uln, err := Listen(s, "unix", t.TempDir()+"/s"); err == nil {
		defer uln.Close()
		ua := uln.Addr().String()
		cases = append(cases, struct{ network, address, ctrlNet, ctrlAddr string }{"unix", ua, "unix", ua})
	}
	for _, tc := range cases {
		name := tc.network + " " + tc.address
		h := &hook{t: t}
		d := Dialer{Control: h.control}
		c, err := d.DialContext(ctx, s, tc.network, tc.address)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if h.calls != 1 || h.network != tc.ctrlNet || h.address != tc.ctrlAddr {
			t.Errorf("%s: Control called %d times, last with (%q, %q), want once with (%q, %q)",
				name, h.calls, h.network, h.address, tc.ctrlNet, tc.ctrlAddr)
		}
		if sa, err := unix.Getpeername(h.fd); err != nil || netAddr(tc.network, sa).String() != c.RemoteAddr().String() {
			t.Errorf("%s: the hook's descriptor is connected to %v (%v), the Conn to %v", name, sa, err, c.RemoteAddr())
		}
		h.checkAfter()
		c.Close()
	}

	// ControlContext gets the dial's context and wins over Control.
	type key struct{}
	cctx := context.WithValue(ctx, key{}, "v")
	h := &hook{t: t}
	var gotCtx context.Context
	d := Dialer{
		Control: func(string, string, syscall.RawConn) error {
			t.Error("Control called with ControlContext set")
			return nil
		},
		ControlContext: func(ctx context.Context, network, address string, c syscall.RawConn) error {
			gotCtx = ctx
			return h.control(network, address, c)
		},
	}
	c, err := d.DialContext(cctx, s, "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if h.calls != 1 || gotCtx == nil || gotCtx.Value(key{}) != "v" {
		t.Errorf("ControlContext: %d calls, ctx %v", h.calls, gotCtx)
	}

	// An error aborts the dial and closes the socket.
	errHook := errors.New("hook says no")
	h = &hook{t: t, err: errHook}
	d = Dialer{Control: h.control}
	c, err = d.DialContext(ctx, s, "tcp", addr)
	var oe *net.OpError
	if c != nil || !errors.As(err, &oe) || oe.Op != "dial" || oe.Net != "tcp" || oe.Addr == nil || oe.Addr.String() != addr || !errors.Is(err, errHook) {
		t.Errorf("Dial with a failing hook: %v, %#v", c, err)
	}
	if h.calls != 1 {
		t.Errorf("Control called %d times", h.calls)
	}
	if socketOpen(t, h.ino) {
		t.Error("the socket the hook refused is still open")
	}
}

// TestListenConfigOptions checks ReusePort and Backlog.
func TestListenConfigOptions(t *testing.T) {
	s := newScheduler(t)
	ctx := context.Background()
	var fd int
	lc := ListenConfig{ReusePort: true, Backlog: 3, Control: func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(f uintptr) { fd = int(f) })
	}}
	ln, err := lc.Listen(ctx, s, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if v, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT); err != nil || v == 0 {
		t.Errorf("SO_REUSEPORT = %d, %v", v, err)
	}
	// A second listener on the same port is allowed only with ReusePort.
	ln2, err := lc.Listen(ctx, s, "tcp", ln.Addr().String())
	if err != nil {
		t.Errorf("second ReusePort listener: %v", err)
	} else {
		ln2.Close()
	}
	if ln3, err := Listen(s, "tcp", ln.Addr().String()); err == nil {
		ln3.Close()
		t.Error("a listener without ReusePort took a ReusePort listener's port")
	}
	// Backlog: zero means the system's maximum.
	for _, n := range []int{3, 0} {
		h := &hook{t: t}
		lc := ListenConfig{Backlog: n, Control: h.control}
		ln, err := lc.Listen(ctx, s, "tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		want := n
		if n == 0 {
			want = maxListenerBacklog()
		}
		if got := listenBacklog(t, unix.AF_INET, h.ino); got != want {
			t.Errorf("Backlog %d: the kernel reports %d, want %d", n, got, want)
		}
		ln.Close()
	}
}

// TestDialerOptions checks Timeout, Deadline and LocalAddr, and errors
// shaped as package net's.
func TestDialerOptions(t *testing.T) {
	s := newScheduler(t)
	ln, err := Listen(s, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := ln.Addr().String()
	ctx := context.Background()

	// An expired Timeout or Deadline fails as net's: a timeout.
	for _, d := range []Dialer{{Timeout: -1}, {Deadline: time.Now().Add(-time.Second)}} {
		c, err := d.DialContext(ctx, s, "tcp", addr)
		var oe *net.OpError
		if c != nil || !errors.As(err, &oe) || oe.Op != "dial" || !oe.Timeout() || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%+v: %v, %v", d, c, err)
		}
		if err != nil && err.Error() != "dial tcp "+addr+": i/o timeout" {
			t.Errorf("%+v: %q, want net's message", d, err)
		}
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	var d Dialer
	if _, err := d.DialContext(cctx, s, "tcp", addr); err == nil || err.Error() != "dial tcp "+addr+": operation was canceled" {
		t.Errorf("cancelled dial: %v, want net's message", err)
	}

	// LocalAddr: bound before connecting.
	for _, la := range []*net.TCPAddr{{IP: net.IPv4(127, 0, 0, 2)}, {IP: net.IPv4zero}, {}} {
		d := Dialer{LocalAddr: la}
		c, err := d.DialContext(ctx, s, "tcp", addr)
		if err != nil {
			t.Errorf("LocalAddr %v: %v", la, err)
			continue
		}
		got := c.LocalAddr().(*net.TCPAddr)
		if la.IP != nil && !la.IP.IsUnspecified() && !got.IP.Equal(la.IP) {
			t.Errorf("LocalAddr %v: bound to %v", la, got)
		}
		c.Close()
	}
	for _, tc := range []struct {
		la      net.Addr
		network string
		want    string
	}{
		{&net.UnixAddr{Name: "x", Net: "unix"}, "tcp", "mismatched local address type"},
		{&net.TCPAddr{IP: net.IPv6loopback}, "tcp", "no suitable address found"},
		{&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}, "unix", "mismatched local address type"},
	} {
		d := Dialer{LocalAddr: tc.la}
		a := addr
		if tc.network == "unix" {
			a = t.TempDir() + "/none"
		}
		c, err := d.DialContext(ctx, s, tc.network, a)
		var ae *net.AddrError
		var oe *net.OpError
		if c != nil || !errors.As(err, &oe) || oe.Op != "dial" || !errors.As(err, &ae) || ae.Err != tc.want {
			t.Errorf("LocalAddr %v on %s: %v, want %q", tc.la, tc.network, err, tc.want)
		}
	}
}
