//go:build linux || darwin || freebsd

package poll

import (
	"bufio"
	"context"
	"strings"
	"testing"

	"github.com/stackslice/stackslice/sched"
)

// TestDetachOutlivesHandler: a detached connection is not closed when its
// handler returns; its new owner (here the test's goroutine) reads and
// writes it, and closes it.
func TestDetachOutlivesHandler(t *testing.T) {
	handed := make(chan *Conn, 1)
	var srv *Server
	srv = &Server{Handler: func(ctx context.Context, c *Conn) {
		if err := srv.Detach(c); err != nil {
			t.Errorf("Detach: %v", err)
			c.Close()
			return
		}
		handed <- c
	}}
	e := newServeEnv(t, srv)
	cc := e.dial(t)
	sc := recv(t, handed, "the connection")
	// The handler has returned (it sent sc last): the Server has
	// finished with the task; sc is still open both ways.
	waitUntil(t, "the handler's task to end", func() bool { return e.s.Stats().Tasks <= 1 })
	if _, err := sc.Write([]byte("from the owner\n")); err != nil {
		t.Fatalf("write on the detached connection: %v", err)
	}
	br := bufio.NewReader(cc)
	if line, err := br.ReadString('\n'); line != "from the owner\n" {
		t.Fatalf("client read %q, %v", line, err)
	}
	cc.Write([]byte("x"))
	b := make([]byte, 1)
	if n, err := sc.Read(b); n != 1 || err != nil {
		t.Fatalf("read on the detached connection: %d, %v", n, err)
	}
	// Shutdown has nothing to wait for, and leaves sc alone.
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if err := e.serveResult(t); err != ErrServerClosed {
		t.Errorf("Serve: %v", err)
	}
	if _, err := sc.Write([]byte("after shutdown\n")); err != nil {
		t.Errorf("write after Shutdown: %v", err)
	}
	if line, _ := br.ReadString('\n'); line != "after shutdown\n" {
		t.Errorf("client read %q after Shutdown", line)
	}
	sc.Close()
	if s := serveReadAll(t, cc); s != "" {
		t.Errorf("after the owner's close, client read %q", s)
	}
}

// TestDetachServedInTask: the handler detaches its connection and goes on
// serving it in its own task (an echo); Shutdown does not wait for it and
// Close does not cancel it.
func TestDetachServedInTask(t *testing.T) {
	ended := make(chan error, 1)
	detached := make(chan struct{}, 1)
	var srv *Server
	srv = &Server{Handler: func(ctx context.Context, c *Conn) {
		if err := srv.Detach(c); err != nil {
			ended <- err
			return
		}
		defer c.Close()
		detached <- struct{}{}
		br := bufio.NewReader(c)
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				if ctx.Err() != nil {
					err = ctx.Err() // cancelled: the test fails on it
				}
				ended <- err
				return
			}
			c.Write([]byte("echo " + line))
		}
	}}
	e := newServeEnv(t, srv)
	cc := e.dial(t)
	recv(t, detached, "Detach")
	br := bufio.NewReader(cc)
	echo := func(what string) {
		t.Helper()
		cc.Write([]byte(what + "\n"))
		if line, err := br.ReadString('\n'); line != "echo "+what+"\n" {
			t.Fatalf("echo of %q: %q, %v", what, line, err)
		}
	}
	echo("one")
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if err := e.serveResult(t); err != ErrServerClosed {
		t.Errorf("Serve: %v", err)
	}
	echo("after shutdown")
	if err := srv.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	echo("after close")
	cc.Close()
	if err := recv(t, ended, "the handler's end"); err == nil || strings.Contains(err.Error(), "context") {
		t.Errorf("detached handler's end: %v, want the end of the stream", err)
	}
}

// TestDetachMisuse: Detach outside the connection's task, from another
// task, for another task's connection, and twice, returns an error.
func TestDetachMisuse(t *testing.T) {
	type order struct {
		c   *Conn // the connection to detach
		res chan<- error
	}
	// Each connection's task detaches what it is told to, in its task.
	type served struct {
		c      *Conn
		orders *sched.Chan[order]
	}
	handed := make(chan served, 2)
	var srv *Server
	srv = &Server{Handler: func(ctx context.Context, c *Conn) {
		orders := sched.NewChan[order](0)
		handed <- served{c, orders}
		for {
			o, err := orders.RecvCtx(ctx)
			if err != nil {
				return
			}
			o.res <- srv.Detach(o.c)
		}
	}}
	e := newServeEnv(t, srv)
	e.dial(t)
	s1 := recv(t, handed, "the first connection")
	e.dial(t)
	s2 := recv(t, handed, "the second connection")
	detachIn := func(s served, c *Conn) error {
		res := make(chan error, 1)
		ctx, cancel := context.WithTimeout(context.Background(), serveHang)
		defer cancel()
		if err := s.orders.SendCtx(ctx, order{c, res}); err != nil {
			t.Fatalf("the connection's task takes no order: %v", err)
		}
		return recv(t, res, "Detach's result")
	}

	if err := srv.Detach(s1.c); err == nil || !strings.Contains(err.Error(), "outside the task") {
		t.Errorf("Detach from a goroutine: %v, want an error saying it is outside the task", err)
	}
	other := make(chan error, 1)
	if _, err := e.s.Go(func(context.Context) { other <- srv.Detach(s1.c) }); err != nil {
		t.Fatal(err)
	}
	if err := recv(t, other, "Detach from another task"); err == nil || !strings.Contains(err.Error(), "outside the task") {
		t.Errorf("Detach from a task the Server did not start: %v", err)
	}
	if err := detachIn(s2, s1.c); err == nil || !strings.Contains(err.Error(), "outside the task") {
		t.Errorf("Detach of another connection's task: %v", err)
	}
	if err := detachIn(s1, s1.c); err != nil {
		t.Errorf("Detach in the connection's task: %v", err)
	}
	if err := detachIn(s1, s1.c); err == nil || !strings.Contains(err.Error(), "already detached") {
		t.Errorf("second Detach: %v, want an error saying it is already detached", err)
	}
	// The first task is still the owner's: Close leaves it running.
	if err := srv.Close(); err != nil {
		t.Error(err)
	}
	if err := e.serveResult(t); err != ErrServerClosed {
		t.Errorf("Serve: %v", err)
	}
	if err := detachIn(s1, s1.c); err == nil {
		t.Error("Detach after Close, of a connection already detached: no error")
	}
	s1.c.Close()
}
