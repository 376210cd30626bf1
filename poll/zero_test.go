//go:build linux || darwin || freebsd

package poll

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Issue 11, section 4: a zero-value (or nil) Conn or Listener owns no
// descriptor. Every method fails as a zero *net.TCPConn's or
// *net.TCPListener's does (syscall.EINVAL, unwrapped) and touches no
// descriptor: a zero Conn once read from descriptor 0.

// connOps are the methods a Conn shares with *net.TCPConn, called on a
// net.Conn-like value; each returns the method's error.
var connOps = []struct {
	name string
	poll func(c *Conn) error
	net  func(c *net.TCPConn) error
}{
	{"Read", func(c *Conn) error { _, err := c.Read(make([]byte, 8)); return err },
		func(c *net.TCPConn) error { _, err := c.Read(make([]byte, 8)); return err }},
	{"Write", func(c *Conn) error { _, err := c.Write([]byte("x")); return err },
		func(c *net.TCPConn) error { _, err := c.Write([]byte("x")); return err }},
	{"Close", (*Conn).Close, (*net.TCPConn).Close},
	{"CloseRead", (*Conn).CloseRead, (*net.TCPConn).CloseRead},
	{"CloseWrite", (*Conn).CloseWrite, (*net.TCPConn).CloseWrite},
	{"SetDeadline", func(c *Conn) error { return c.SetDeadline(time.Now()) },
		func(c *net.TCPConn) error { return c.SetDeadline(time.Now()) }},
	{"SetReadDeadline", func(c *Conn) error { return c.SetReadDeadline(time.Now()) },
		func(c *net.TCPConn) error { return c.SetReadDeadline(time.Now()) }},
	{"SetWriteDeadline", func(c *Conn) error { return c.SetWriteDeadline(time.Now()) },
		func(c *net.TCPConn) error { return c.SetWriteDeadline(time.Now()) }},
	{"SetNoDelay", func(c *Conn) error { return c.SetNoDelay(true) },
		func(c *net.TCPConn) error { return c.SetNoDelay(true) }},
	{"SetKeepAlive", func(c *Conn) error { return c.SetKeepAlive(true) },
		func(c *net.TCPConn) error { return c.SetKeepAlive(true) }},
	{"SetKeepAlivePeriod", func(c *Conn) error { return c.SetKeepAlivePeriod(time.Second) },
		func(c *net.TCPConn) error { return c.SetKeepAlivePeriod(time.Second) }},
	{"SetKeepAliveConfig", func(c *Conn) error { return c.SetKeepAliveConfig(net.KeepAliveConfig{Enable: true}) },
		func(c *net.TCPConn) error { return c.SetKeepAliveConfig(net.KeepAliveConfig{Enable: true}) }},
	{"SetReadBuffer", func(c *Conn) error { return c.SetReadBuffer(1 << 16) },
		func(c *net.TCPConn) error { return c.SetReadBuffer(1 << 16) }},
	{"SetWriteBuffer", func(c *Conn) error { return c.SetWriteBuffer(1 << 16) },
		func(c *net.TCPConn) error { return c.SetWriteBuffer(1 << 16) }},
	{"SetLinger", func(c *Conn) error { return c.SetLinger(0) },
		func(c *net.TCPConn) error { return c.SetLinger(0) }},
	{"SyscallConn", func(c *Conn) error { _, err := c.SyscallConn(); return err },
		func(c *net.TCPConn) error { _, err := c.SyscallConn(); return err }},
	{"ReadFrom", func(c *Conn) error { _, err := c.ReadFrom(strings.NewReader("x")); return err },
		func(c *net.TCPConn) error { _, err := c.ReadFrom(strings.NewReader("x")); return err }},
	{"WriteTo", func(c *Conn) error { _, err := c.WriteTo(io.Discard); return err },
		func(c *net.TCPConn) error { _, err := c.WriteTo(io.Discard); return err }},
	// Methods net has no counterpart of: EINVAL as well.
	{"WaitRead", func(c *Conn) error { return c.WaitRead(context.Background()) }, nil},
	{"WaitRead/ctx", func(c *Conn) error {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		return c.WaitRead(ctx)
	}, nil},
	{"ReadWith", func(c *Conn) error { return c.ReadWith(nil, func([]byte) error { return nil }) }, nil},
}

// sameError reports whether got is the error want is, in kind: both nil,
// or of the same type and both matching syscall.EINVAL.
func sameError(got, want error) bool {
	if got == nil || want == nil {
		return got == want
	}
	return fmt.Sprintf("%T", got) == fmt.Sprintf("%T", want) &&
		(got == syscall.EINVAL) == (want == syscall.EINVAL)
}

func TestZeroConn(t *testing.T) {
	for _, zero := range []struct {
		name string
		poll *Conn
		net  *net.TCPConn
	}{{"zero", new(Conn), new(net.TCPConn)}, {"nil", nil, nil}} {
		for _, op := range connOps {
			got := op.poll(zero.poll)
			want := error(syscall.EINVAL)
			if op.net != nil {
				var panicked bool
				want, panicked = callNet(func() error { return op.net(zero.net) })
				if panicked {
					// A nil *net.TCPConn panics (its embedded conn is
					// reached through the nil pointer); a nil *Conn fails
					// as a zero one does.
					want = syscall.EINVAL
				}
			}
			if !sameError(got, want) {
				t.Errorf("%s Conn %s: %T %v, want %T %v (as a %s *net.TCPConn)", zero.name, op.name, got, got, want, want, zero.name)
			}
		}
		if a := zero.poll.LocalAddr(); a != nil {
			t.Errorf("%s Conn LocalAddr: %v, want nil", zero.name, a)
		}
		if a := zero.poll.RemoteAddr(); a != nil {
			t.Errorf("%s Conn RemoteAddr: %v, want nil", zero.name, a)
		}
	}
	// A zero Conn as the source or destination of a copy.
	e := goroutineEnv(t)
	sc, _ := pair(t, e)
	if _, err := sc.ReadFrom(new(Conn)); !errorsIsEINVAL(err) {
		t.Errorf("ReadFrom(zero Conn): %v, want EINVAL", err)
	}
	if _, err := sc.ReadFrom((*Conn)(nil)); !errorsIsEINVAL(err) {
		t.Errorf("ReadFrom(nil Conn): %v, want EINVAL", err)
	}
	if _, err := new(Conn).WriteTo(sc); err != syscall.EINVAL {
		t.Errorf("zero Conn WriteTo: %v, want EINVAL", err)
	}
}

// callNet calls f, reporting whether it panicked.
func callNet(f func() error) (err error, panicked bool) {
	defer func() {
		if recover() != nil {
			panicked = true
		}
	}()
	return f(), false
}

func errorsIsEINVAL(err error) bool {
	for err != nil {
		if err == syscall.EINVAL {
			return true
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return false
		}
		err = u.Unwrap()
	}
	return false
}

func TestZeroListener(t *testing.T) {
	for _, zero := range []struct {
		name string
		poll *Listener
		net  *net.TCPListener
	}{{"zero", new(Listener), new(net.TCPListener)}, {"nil", nil, nil}} {
		for _, op := range []struct {
			name string
			poll func(l *Listener) error
			net  func(l *net.TCPListener) error
		}{
			{"Accept", func(l *Listener) error { _, err := l.Accept(); return err },
				func(l *net.TCPListener) error { _, err := l.Accept(); return err }},
			{"AcceptConn", func(l *Listener) error { _, err := l.AcceptConn(); return err },
				func(l *net.TCPListener) error { _, err := l.AcceptTCP(); return err }},
			{"Close", (*Listener).Close, (*net.TCPListener).Close},
			{"SetDeadline", func(l *Listener) error { return l.SetDeadline(time.Now()) },
				func(l *net.TCPListener) error { return l.SetDeadline(time.Now()) }},
		} {
			got := op.poll(zero.poll)
			want, panicked := callNet(func() error { return op.net(zero.net) })
			if panicked {
				want = syscall.EINVAL // as for a nil *Conn
			}
			if !sameError(got, want) {
				t.Errorf("%s Listener %s: %T %v, want %T %v (as a %s *net.TCPListener)", zero.name, op.name, got, got, want, want, zero.name)
			}
		}
	}
	if a := new(Listener).Addr(); a != nil {
		t.Errorf("zero Listener Addr: %v, want nil", a) // a zero *net.TCPListener's panics
	}
}

// TestZeroConnLeavesStdinAlone puts a pipe holding data at descriptor 0
// and calls every method of a zero Conn: the data must still be there, and
// descriptor 0 open.
func TestZeroConnLeavesStdinAlone(t *testing.T) {
	var p [2]int
	if err := unix.Pipe(p[:]); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(p[0])
	defer unix.Close(p[1])
	if _, err := unix.Write(p[1], []byte("secret")); err != nil {
		t.Fatal(err)
	}
	saved, err := unix.Dup(0)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		unix.Dup2(saved, 0)
		unix.Close(saved)
	}()
	unix.SetNonblock(p[0], true) // a Read that reached it would not block
	if err := unix.Dup2(p[0], 0); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, op := range connOps {
			op.poll(new(Conn))
		}
		new(Listener).Close()
	}()
	wait(t, done, "the methods of a zero Conn")
	if _, err := unix.FcntlInt(0, unix.F_GETFD, 0); err != nil {
		t.Fatalf("descriptor 0 was closed: %v", err)
	}
	buf := make([]byte, 16)
	n, err := unix.Read(p[0], buf)
	if string(buf[:max(n, 0)]) != "secret" {
		t.Fatalf("descriptor 0's data was consumed: read %q, %v", buf[:max(n, 0)], err)
	}
}
