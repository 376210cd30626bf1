//go:build linux || darwin || freebsd

package poll

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stackslice/stackslice/sched"
)

// swapLookups replaces the resolver's lookups (nil: keep) until cleanup.
func swapLookups(t *testing.T, ip func(ctx context.Context, network, host string) ([]netip.Addr, error),
	port func(ctx context.Context, network, service string) (int, error)) {
	oldIP, oldPort := lookupNetIP, lookupPort
	if ip != nil {
		lookupNetIP = ip
	}
	if port != nil {
		lookupPort = port
	}
	t.Cleanup(func() { lookupNetIP, lookupPort = oldIP, oldPort })
}

var loopback4 = netip.MustParseAddr("127.0.0.1")

// blockingLookup is a host lookup that blocks until released (or, if
// honourCtx, until its ctx is done) and then answers 127.0.0.1.
type blockingLookup struct {
	honourCtx bool
	entered   chan struct{} // closed when the first lookup starts
	release   chan struct{}
	calls     atomic.Int32
	once      sync.Once
}

func newBlockingLookup(t *testing.T, honourCtx bool) *blockingLookup {
	b := &blockingLookup{honourCtx: honourCtx, entered: make(chan struct{}), release: make(chan struct{})}
	swapLookups(t, b.lookup, nil)
	t.Cleanup(b.free)
	return b
}

func (b *blockingLookup) free() {
	b.once.Do(func() { close(b.release) })
}

func (b *blockingLookup) lookup(ctx context.Context, network, host string) ([]netip.Addr, error) {
	if b.calls.Add(1) == 1 {
		close(b.entered)
	}
	done := ctx.Done()
	if !b.honourCtx {
		done = nil
	}
	select {
	case <-b.release:
		return []netip.Addr{loopback4}, nil
	case <-done:
		return nil, ctx.Err()
	}
}

// stdListener listens on 127.0.0.1 with package net, accepting and
// closing every connection, until cleanup.
func stdListener(t *testing.T) net.Listener {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return ln
}

// TestLookupDoesNotBlockCarrier dials a host name from a task on a
// one-carrier scheduler while the lookup blocks: another task must run
// meanwhile, and the dialing task must be parked in Await.
func TestLookupDoesNotBlockCarrier(t *testing.T) {
	ln := stdListener(t)
	// Stand-ins off: a lookup that blocked the carrier would get one after
	// a few milliseconds, and the other task would run anyway.
	s := newScheduler(t, sched.WithCarriers(1), sched.WithStandIns(0))
	b := newBlockingLookup(t, false)
	var c *Conn
	var derr error
	dialer, err := s.Go(func(ctx context.Context) {
		c, derr = Dial(ctx, s, "tcp", "stub.invalid:"+port(ln.Addr()))
	})
	if err != nil {
		t.Fatal(err)
	}
	if !waitClosed(t, b.entered, "lookup started") {
		return
	}
	ran := make(chan struct{})
	if _, err := s.Go(func(context.Context) { close(ran) }); err != nil {
		t.Fatal(err)
	}
	if waitClosed(t, ran, "another task ran on the only carrier during the lookup") {
		parked := false
		for end := time.Now().Add(hangBound); !parked && time.Now().Before(end); time.Sleep(time.Millisecond) {
			parked = s.Stats().ParkedBy["await"] == 1
		}
		if !parked {
			t.Errorf("the dialing task is not parked in Await: %v", s.Stats().ParkedBy)
		}
	}
	b.free()
	if !waitClosed(t, dialer.Done(), "dial after the lookup") {
		return
	}
	if derr != nil {
		t.Fatal(derr)
	}
	defer c.Close()
	if c.RemoteAddr().String() != ln.Addr().String() {
		t.Errorf("connected to %v, want %v", c.RemoteAddr(), ln.Addr())
	}
}

// checkDNSContextError checks err is net's error for a dial whose lookup
// of host was ended by target (context.Canceled or DeadlineExceeded).
func checkDNSContextError(t *testing.T, err error, host string, target error) {
	t.Helper()
	var oe *net.OpError
	var de *net.DNSError
	if !errors.As(err, &oe) || oe.Op != "dial" || oe.Net != "tcp" || oe.Addr != nil || !errors.As(err, &de) || de.Name != host || !errors.Is(err, target) {
		t.Fatalf("got %#v (%v), want a dial *net.OpError with a *net.DNSError for %s matching %v", err, err, host, target)
	}
	want := "operation was canceled"
	if target == context.DeadlineExceeded {
		want = "i/o timeout"
		if !oe.Timeout() || !de.IsTimeout {
			t.Errorf("%v: not a timeout", err)
		}
	}
	if de.Err != want {
		t.Errorf("DNSError.Err %q, want %q as package net's", de.Err, want)
	}
}

// TestLookupCancel cancels a dial while its lookup runs: by its ctx, by a
// Dialer's Timeout, and by cancelling the task (with a lookup that ignores
// its ctx: the dial must return anyway).
func TestLookupCancel(t *testing.T) {
	ln := stdListener(t)
	addr := "stub.invalid:" + port(ln.Addr())
	t.Run("ctx", func(t *testing.T) {
		s := newScheduler(t, sched.WithCarriers(1))
		b := newBlockingLookup(t, true)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var derr error
		task, _ := s.Go(func(context.Context) { _, derr = Dial(ctx, s, "tcp", addr) })
		waitClosed(t, b.entered, "lookup started")
		cancel()
		if waitClosed(t, task.Done(), "cancelled dial") {
			checkDNSContextError(t, derr, "stub.invalid", context.Canceled)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		s := newScheduler(t, sched.WithCarriers(1))
		newBlockingLookup(t, true)
		var derr error
		task, _ := s.Go(func(ctx context.Context) {
			d := Dialer{Timeout: 20 * time.Millisecond}
			_, derr = d.DialContext(ctx, s, "tcp", addr)
		})
		if waitClosed(t, task.Done(), "timed-out dial") {
			checkDNSContextError(t, derr, "stub.invalid", context.DeadlineExceeded)
		}
	})
	t.Run("task", func(t *testing.T) {
		s := newScheduler(t, sched.WithCarriers(1))
		b := newBlockingLookup(t, false)
		var derr error
		task, _ := s.Go(func(context.Context) { _, derr = Dial(context.Background(), s, "tcp", addr) })
		waitClosed(t, b.entered, "lookup started")
		task.Cancel()
		if waitClosed(t, task.Done(), "dial of a cancelled task") {
			checkDNSContextError(t, derr, "stub.invalid", context.Canceled)
		}
		b.free()
	})
	t.Run("before", func(t *testing.T) {
		// Already cancelled: no lookup at all, inside a task or not.
		swapLookups(t, func(context.Context, string, string) ([]netip.Addr, error) {
			t.Error("lookup with a cancelled ctx")
			return nil, errors.New("no")
		}, nil)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		s := newScheduler(t)
		_, err := Dial(ctx, s, "tcp", addr)
		checkDNSContextError(t, err, "stub.invalid", context.Canceled)
		var terr error
		task, _ := s.Go(func(context.Context) { _, terr = Dial(ctx, s, "tcp", addr) })
		if waitClosed(t, task.Done(), "dial in a task") {
			checkDNSContextError(t, terr, "stub.invalid", context.Canceled)
		}
	})
}

// TestLiteralNoLookup checks that IP literals, numeric ports and no host
// are never looked up, inside a task or not.
func TestLiteralNoLookup(t *testing.T) {
	swapLookups(t,
		func(_ context.Context, _, host string) ([]netip.Addr, error) {
			t.Errorf("host %q looked up", host)
			return nil, errors.New("no")
		},
		func(_ context.Context, _, service string) (int, error) {
			t.Errorf("service %q looked up", service)
			return 0, errors.New("no")
		})
	s := newScheduler(t)
	run := func(t *testing.T) {
		for _, a := range []struct{ network, address string }{
			{"tcp", "127.0.0.1:0"}, {"tcp4", ":0"}, {"tcp", ":0"},
		} {
			ln, err := Listen(s, a.network, a.address)
			if err != nil {
				t.Errorf("listen %s %s: %v", a.network, a.address, err) // no Fatal: it may run in a task
				continue
			}
			p := port(ln.Addr())
			for _, d := range []string{"127.0.0.1:" + p, ":" + p, "[::ffff:127.0.0.1]:" + p} {
				c, err := Dial(context.Background(), s, "tcp", d)
				if err != nil {
					t.Errorf("dial %s: %v", d, err)
					continue
				}
				c.Close()
			}
			ln.Close()
		}
	}
	t.Run("goroutine", run)
	t.Run("task", func(t *testing.T) {
		task, _ := s.Go(func(context.Context) { run(t) })
		waitClosed(t, task.Done(), "task")
	})
}

// TestLookupLocalhost resolves "localhost" with the real resolver (from
// /etc/hosts), listening and dialing, inside a one-carrier task and not.
func TestLookupLocalhost(t *testing.T) {
	s := newScheduler(t, sched.WithCarriers(1))
	run := func(t *testing.T) { // no Fatal: it runs in a task too
		ln, err := Listen(s, "tcp", "localhost:0")
		if err != nil {
			t.Error(err)
			return
		}
		defer ln.Close()
		lc := ListenConfig{}
		if ln2, err := lc.Listen(context.Background(), s, "tcp", "localhost:0"); err != nil {
			t.Error(err)
		} else {
			ln2.Close()
		}
		c, err := Dial(context.Background(), s, "tcp", "localhost:"+port(ln.Addr()))
		if err != nil {
			t.Error(err)
			return
		}
		c.Close()
	}
	t.Run("goroutine", run)
	t.Run("task", func(t *testing.T) {
		task, _ := s.Go(func(context.Context) { run(t) })
		waitClosed(t, task.Done(), "task")
	})
}

// TestLookupChoice checks which address and port a lookup's answer gives.
func TestLookupChoice(t *testing.T) {
	ln := stdListener(t)
	p, _ := strconv.Atoi(port(ln.Addr()))
	answer := []netip.Addr{netip.MustParseAddr("::1"), netip.MustParseAddr("::ffff:127.0.0.1")}
	var services []string
	swapLookups(t,
		func(_ context.Context, network, host string) ([]netip.Addr, error) { return answer, nil },
		func(_ context.Context, network, service string) (int, error) {
			services = append(services, network+"/"+service)
			return p, nil
		})
	s := newScheduler(t)
	c, err := Dial(context.Background(), s, "tcp", "stub:echo")
	if err != nil {
		t.Fatal(err)
	}
	if c.RemoteAddr().String() != ln.Addr().String() {
		t.Errorf("tcp: connected to %v, want %v (IPv4 first)", c.RemoteAddr(), ln.Addr())
	}
	c.Close()
	if len(services) != 1 || services[0] != "tcp/echo" {
		t.Errorf("services looked up: %q", services)
	}
	answer = answer[:1] // ::1 only
	_, err = Dial(context.Background(), s, "tcp4", "stub:1")
	var ae *net.AddrError
	if !errors.As(err, &ae) || ae.Err != "no suitable address found" {
		t.Errorf("tcp4 to an IPv6-only name: %v", err)
	}
}
