//go:build linux || darwin || freebsd

package poll

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stackslice/stackslice/sched"
	"github.com/stackslice/stackslice/slice"
)

// serveHang bounds every wait of these tests: only a hang reaches it.
const serveHang = 10 * time.Second

// serveEnv is a scheduler, a loopback listener and a Server serving it
// from a task; Serve's result arrives on served.
type serveEnv struct {
	s      *sched.Scheduler
	ln     *Listener
	srv    *Server
	served chan error
}

func newServeEnv(t *testing.T, srv *Server, opts ...sched.Option) *serveEnv {
	t.Helper()
	s := sched.New(opts...)
	t.Cleanup(func() { s.Close() })
	ln, err := Listen(s, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e := &serveEnv{s: s, ln: ln, srv: srv, served: make(chan error, 1)}
	if _, err := s.Go(func(context.Context) { e.served <- srv.Serve(ln) }); err != nil {
		t.Fatal(err)
	}
	return e
}

// dial connects a std net client to e's listener, with a deadline that
// turns a hang into a failure.
func (e *serveEnv) dial(t *testing.T) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", e.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(serveHang))
	return c
}

// serveResult waits for Serve to return.
func (e *serveEnv) serveResult(t *testing.T) error {
	t.Helper()
	select {
	case err := <-e.served:
		return err
	case <-time.After(serveHang):
		t.Fatal("Serve did not return")
		return nil
	}
}

// serveReadAll reads c to its end: what the server wrote before it closed c.
func serveReadAll(t *testing.T, c net.Conn) string {
	t.Helper()
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("reading until the server closes the connection: %v", err)
	}
	return string(b)
}

func serveWait(t *testing.T, what string, ch <-chan struct{}) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(serveHang):
		t.Fatalf("%s: hung", what)
	}
}

// TestServeEcho: every connection is served in its own task, and closed by
// the server when its handler returns.
func TestServeEcho(t *testing.T) {
	var handled atomic.Int32
	srv := &Server{Handler: func(ctx context.Context, c *Conn) {
		if sched.TaskOf(ctx) == nil || sched.Current() != sched.TaskOf(ctx) {
			t.Error("Handler does not run in its connection's task, or ctx is not that task's")
		}
		handled.Add(1)
		buf := make([]byte, 64)
		n, err := c.Read(buf)
		if err != nil {
			t.Error(err)
			return
		}
		c.Write(buf[:n]) // and return without closing c: the Server closes it
	}}
	e := newServeEnv(t, srv)
	const conns = 20
	var wg sync.WaitGroup
	for i := range conns {
		c := e.dial(t)
		wg.Add(1)
		go func() {
			defer wg.Done()
			msg := "hello " + string(rune('a'+i))
			if _, err := c.Write([]byte(msg)); err != nil {
				t.Error(err)
				return
			}
			b, err := io.ReadAll(c) // ends only when the server closes c
			if err != nil || string(b) != msg {
				t.Errorf("got %q, %v; want %q and the end of the stream", b, err, msg)
			}
		}()
	}
	wg.Wait()
	if n := handled.Load(); n != conns {
		t.Errorf("%d connections handled, want %d", n, conns)
	}
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if err := e.serveResult(t); err != ErrServerClosed {
		t.Errorf("Serve returned %v after Shutdown, want ErrServerClosed", err)
	}
}

// TestServeFunc: the function form serves like a zero Server and returns
// Accept's error when the listener is closed.
func TestServeFunc(t *testing.T) {
	s := sched.New()
	defer s.Close()
	ln, err := Listen(s, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { // from a goroutine: Accept blocks it
		served <- Serve(ln, func(ctx context.Context, c *Conn) { c.Write([]byte("hi")) })
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(serveHang))
	if got := serveReadAll(t, c); got != "hi" {
		t.Errorf("read %q, want %q", got, "hi")
	}
	ln.Close()
	select {
	case err := <-served:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("Serve returned %v after its listener closed, want net.ErrClosed", err)
		}
	case <-time.After(serveHang):
		t.Fatal("Serve did not return after its listener closed")
	}
}

// TestServeNilHandler: a Server without a Handler is a mistake, named.
func TestServeNilHandler(t *testing.T) {
	defer func() {
		if r, _ := recover().(string); r == "" {
			t.Error("Serve with a nil Handler did not panic with a message")
		}
	}()
	var srv Server
	srv.Serve(&Listener{})
}

// TestServeZeroListener: Serve of a listener this package did not make
// fails as the listener's methods do.
func TestServeZeroListener(t *testing.T) {
	err := Serve(nil, func(context.Context, *Conn) {})
	if !errors.Is(err, syscall.EINVAL) {
		t.Errorf("Serve(nil) returned %v, want EINVAL", err)
	}
}

// TestServeAfterShutdown: a Server that was shut down or closed serves
// nothing more: Serve returns ErrServerClosed and closes its listener.
func TestServeAfterShutdown(t *testing.T) {
	for _, stop := range []string{"Shutdown", "Close"} {
		t.Run(stop, func(t *testing.T) {
			s := sched.New()
			defer s.Close()
			ln, err := Listen(s, "tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			srv := &Server{Handler: func(context.Context, *Conn) { t.Error("handler called") }}
			if stop == "Shutdown" {
				err = srv.Shutdown(context.Background())
			} else {
				err = srv.Close()
			}
			if err != nil {
				t.Fatalf("%s of an idle Server: %v", stop, err)
			}
			if err := srv.Serve(ln); err != ErrServerClosed {
				t.Errorf("Serve after %s returned %v, want ErrServerClosed", stop, err)
			}
			ln.SetDeadline(time.Now().Add(serveHang)) // an open listener times out
			if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
				t.Errorf("Accept after Serve returned: %v, want net.ErrClosed (Serve closes its listener)", err)
			}
		})
	}
}

// TestShutdownWaitsForHandler: Shutdown stops accepting at once, lets an
// active handler finish undisturbed, and returns nil once it has.
func TestShutdownWaitsForHandler(t *testing.T) {
	release := sched.NewChan[struct{}](0)
	started := make(chan struct{})
	var finished atomic.Bool
	srv := &Server{Handler: func(ctx context.Context, c *Conn) {
		close(started)
		if _, err := release.Recv(); err != sched.ErrChanClosed {
			t.Errorf("the handler's wait ended with %v: cancelled during a graceful shutdown", err)
		}
		c.Write([]byte("bye"))
		finished.Store(true)
	}}
	e := newServeEnv(t, srv)
	c := e.dial(t)
	serveWait(t, "handler start", started)

	shut := make(chan error, 1)
	go func() { shut <- srv.Shutdown(context.Background()) }()
	if err := e.serveResult(t); err != ErrServerClosed {
		t.Errorf("Serve returned %v during Shutdown, want ErrServerClosed", err)
	}
	if _, err := net.Dial("tcp", e.ln.Addr().String()); err == nil {
		t.Error("a connection was accepted after Shutdown began")
	}
	time.Sleep(50 * time.Millisecond) // time for a Shutdown that does not wait to return
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned %v while a handler was running", err)
	default:
	}
	release.Close()
	select {
	case err := <-shut:
		if err != nil {
			t.Errorf("Shutdown returned %v, want nil", err)
		}
		if !finished.Load() {
			t.Error("Shutdown returned before the handler did")
		}
	case <-time.After(serveHang):
		t.Fatal("Shutdown did not return after the handler did")
	}
	if got := serveReadAll(t, c); got != "bye" {
		t.Errorf("the client read %q, want %q and the end of the stream", got, "bye")
	}
}

// TestShutdownContextEnds: when Shutdown's context ends, the handlers
// still running are cancelled (a Read, a Sleep), Shutdown waits for them
// and returns the context's error, and their connections are closed.
func TestShutdownContextEnds(t *testing.T) {
	var errs [2]error
	var n, ended atomic.Int32
	srv := &Server{Handler: func(ctx context.Context, c *Conn) {
		defer ended.Add(1)
		i := n.Add(1) - 1
		if i == 0 {
			_, errs[i] = c.Read(make([]byte, 1)) // the client sends nothing
		} else {
			errs[i] = sched.Sleep(time.Hour)
		}
	}}
	e := newServeEnv(t, srv)
	c0, c1 := e.dial(t), e.dial(t)
	for n.Load() < 2 {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	shut := make(chan error, 1)
	go func() { shut <- srv.Shutdown(ctx) }()
	select {
	case err := <-shut:
		if err != context.DeadlineExceeded {
			t.Errorf("Shutdown returned %v, want context.DeadlineExceeded", err)
		}
	case <-time.After(serveHang):
		t.Fatal("Shutdown did not return after its context ended")
	}
	if ended.Load() != 2 {
		t.Fatal("Shutdown returned before the cancelled handlers did")
	}
	for i, err := range errs {
		if !errors.Is(err, context.Canceled) {
			t.Errorf("handler %d's wait ended with %v, want context.Canceled", i, err)
		}
	}
	for _, c := range []net.Conn{c0, c1} {
		if got := serveReadAll(t, c); got != "" {
			t.Errorf("read %q", got)
		}
	}
	if err := e.serveResult(t); err != ErrServerClosed {
		t.Errorf("Serve returned %v, want ErrServerClosed", err)
	}
}

// TestServerClose: Close stops accepting and cancels every handler at once,
// without waiting for them; each connection is closed as its handler
// returns.
func TestServerClose(t *testing.T) {
	const conns = 10
	var wg sync.WaitGroup
	wg.Add(conns)
	var started atomic.Int32
	srv := &Server{Handler: func(ctx context.Context, c *Conn) {
		defer wg.Done()
		started.Add(1)
		c.Read(make([]byte, 1))
	}}
	e := newServeEnv(t, srv)
	cs := make([]net.Conn, conns)
	for i := range cs {
		cs[i] = e.dial(t)
	}
	for started.Load() < conns {
		time.Sleep(time.Millisecond)
	}
	if err := srv.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	serveWait(t, "cancelled handlers", done)
	for _, c := range cs {
		serveReadAll(t, c)
	}
	if err := e.serveResult(t); err != ErrServerClosed {
		t.Errorf("Serve returned %v after Close, want ErrServerClosed", err)
	}
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Errorf("Shutdown after Close: %v", err)
	}
}

// TestServePanicServesOn: with a panic handler on the scheduler, a panic
// in Handler ends that connection (closed), and the Server serves on.
func TestServePanicServesOn(t *testing.T) {
	var panics atomic.Int32
	srv := &Server{Handler: func(ctx context.Context, c *Conn) {
		b := make([]byte, 5)
		if _, err := io.ReadFull(c, b); err != nil {
			return
		}
		if string(b) == "panic" {
			panic("handler panics")
		}
		c.Write(b)
	}}
	e := newServeEnv(t, srv, sched.WithPanicHandler(func(*sched.Task, *slice.PanicError) { panics.Add(1) }))
	c := e.dial(t)
	c.Write([]byte("panic"))
	if got := serveReadAll(t, c); got != "" {
		t.Errorf("read %q from the connection whose handler panicked", got)
	}
	// The panic handler runs after the task's deferred calls (which closed
	// the connection): wait for it.
	for deadline := time.Now().Add(serveHang); panics.Load() == 0 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	if panics.Load() != 1 {
		t.Errorf("%d panics reported, want 1", panics.Load())
	}
	c = e.dial(t)
	c.Write([]byte("hello"))
	if got := serveReadAll(t, c); got != "hello" {
		t.Errorf("after a panic, read %q, want %q", got, "hello")
	}
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

// serveFDs counts the process's open descriptors.
func serveFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd:", err)
	}
	return len(ents)
}

// goFailServe makes a scheduler's Go fail while its poller still serves a
// listener: a task blocks outside the scheduler (on a Go channel), so that
// Close, in a goroutine, waits for it with the scheduler closing. Serve,
// from a goroutine, then accepts a client's connection and cannot start
// its task. It returns Serve's error and the descriptors still open when
// Serve returned beyond those open before the client connected; the
// client's end is closed before counting.
func goFailServe(t *testing.T) (error, int) {
	debug.SetGCPercent(-1) // no cleanup closes a leaked connection meanwhile
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	s := sched.New()
	ln, err := Listen(s, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	block, blocking := make(chan struct{}), make(chan struct{})
	if _, err := s.Go(func(context.Context) { close(blocking); <-block }); err != nil {
		t.Fatal(err)
	}
	<-blocking
	closed := make(chan struct{})
	go func() { s.Close(); close(closed) }()
	for { // Close has begun once Go fails
		task, err := s.Go(func(context.Context) {})
		if err != nil {
			break
		}
		task.Wait()
		time.Sleep(time.Millisecond)
	}
	defer func() { close(block); <-closed }()

	before := serveFDs(t)
	served := make(chan error, 1)
	go func() { served <- Serve(ln, func(context.Context, *Conn) { t.Error("handler ran") }) }()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	select {
	case serr = <-served:
	case <-time.After(serveHang):
		t.Fatal("Serve did not return when Go failed")
	}
	c.Close()
	// Serve closed its listener on return: that descriptor is gone too.
	return serr, serveFDs(t) - (before - 1)
}

// TestServeGoFailClosesConn: when a connection's task cannot be started
// (the scheduler is closing), Serve closes the connection, leaks no
// descriptor, and returns Go's error.
func TestServeGoFailClosesConn(t *testing.T) {
	err, leaked := goFailServe(t)
	if !errors.Is(err, sched.ErrClosed) {
		t.Errorf("Serve returned %v, want sched.ErrClosed", err)
	}
	if leaked != 0 {
		t.Errorf("%d descriptors leaked", leaked)
	}
}

// TestServeNoFDLeak: serving and shutting down leaves no descriptor open,
// the listener's included.
func TestServeNoFDLeak(t *testing.T) {
	before := serveFDs(t)
	srv := &Server{Handler: func(ctx context.Context, c *Conn) {
		b := make([]byte, 1) // not io.Copy: its splice pipes are kept for reuse
		for {
			if _, err := c.Read(b); err != nil {
				return
			}
			c.Write(b)
		}
	}}
	e := newServeEnv(t, srv)
	for range 10 {
		c := e.dial(t)
		c.Write([]byte("x"))
		c.Read(make([]byte, 1))
		c.Close()
	}
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.serveResult(t)
	// The poller's own descriptors (epoll, eventfd) stay until the
	// scheduler closes.
	e.s.Close()
	if after := serveFDs(t); after != before {
		t.Errorf("%d descriptors open before, %d after", before, after)
	}
}

// TestConnTasks: the table finds every task, also when a descriptor number
// is reused while the task of its earlier connection still runs.
func TestConnTasks(t *testing.T) {
	var ct connTasks
	ts := make([]*sched.Task, 4)
	for i := range ts {
		ts[i] = new(sched.Task)
	}
	ct.add(3, ts[0])
	ct.add(3, ts[1]) // number 3 reused
	ct.add(5000, ts[2])
	ct.add(0, ts[3])
	count := func() map[*sched.Task]int {
		m := map[*sched.Task]int{}
		ct.each(func(t *sched.Task) { m[t]++ })
		return m
	}
	if m := count(); len(m) != 4 || m[ts[0]] != 1 || m[ts[1]] != 1 {
		t.Fatalf("each visits %v, want each of 4 tasks once", m)
	}
	ct.remove(3, ts[0]) // the earlier task ends first
	ct.remove(5000, ts[2])
	if m := count(); len(m) != 2 || m[ts[1]] != 1 || m[ts[3]] != 1 {
		t.Fatalf("after two removals each visits %v", m)
	}
	ct.remove(3, ts[1])
	ct.remove(0, ts[3])
	if m := count(); len(m) != 0 {
		t.Fatalf("after every removal each visits %v", m)
	}
}

// TestServeRecordsEmpty: once every connection has ended, the Server keeps
// no record of any (tasks, early endings, the count): its records do not
// grow with the connections it served. The handlers return at once, and
// Serve runs in a goroutine, so that some tasks may end before Serve has
// recorded them (TestServeTaskEndsBeforeRecord makes sure of that case).
func TestServeRecordsEmpty(t *testing.T) {
	s := sched.New()
	defer s.Close()
	ln, err := Listen(s, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var handled atomic.Int32
	srv := &Server{Handler: func(context.Context, *Conn) { handled.Add(1) }}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }() // a goroutine: it races the tasks it starts
	const conns = 200
	for range conns {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(serveHang))
		serveReadAll(t, c)
		c.Close()
	}
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	<-served
	srv.mu.Lock()
	defer srv.mu.Unlock()
	left := 0
	srv.tasks.each(func(*sched.Task) { left++ })
	if left != 0 || len(srv.ended) != 0 || srv.active != 0 {
		t.Errorf("after %d connections, all ended: %d tasks recorded, %d in ended, %d active; want none",
			handled.Load(), left, len(srv.ended), srv.active)
	}
}

// serveConnPair returns the server's end of a loopback connection served
// by s's poller, and the client's end.
func serveConnPair(t *testing.T, s *sched.Scheduler) (*Conn, net.Conn) {
	t.Helper()
	ln, err := Listen(s, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	cc.SetDeadline(time.Now().Add(serveHang))
	sc, err := ln.AcceptConn()
	if err != nil {
		t.Fatal(err)
	}
	return sc, cc
}

// TestServeTaskEndsBeforeRecord: a connection's task that ends before
// Serve records it is not recorded: it would stay in the records for good.
func TestServeTaskEndsBeforeRecord(t *testing.T) {
	s := sched.New()
	defer s.Close()
	c, cc := serveConnPair(t, s)
	srv := &Server{Handler: func(context.Context, *Conn) {}}
	if !srv.begin() {
		t.Fatal("begin refused on an open Server")
	}
	task, err := s.Go(func(ctx context.Context) { srv.endConn(c) }) // as the task ends
	if err != nil {
		t.Fatal(err)
	}
	task.Wait()
	if err := srv.record(task, c, nil); err != nil {
		t.Fatal(err)
	}
	left := 0
	srv.tasks.each(func(*sched.Task) { left++ })
	if left != 0 || len(srv.ended) != 0 || srv.active != 0 {
		t.Errorf("%d tasks recorded, %d in ended, %d active; want none", left, len(srv.ended), srv.active)
	}
	serveReadAll(t, cc) // and the connection was closed
}

// TestServeCloseBeforeRecord: Close between the start of a connection's
// task and its record still cancels the task.
func TestServeCloseBeforeRecord(t *testing.T) {
	s := sched.New()
	defer s.Close()
	c, _ := serveConnPair(t, s)
	srv := &Server{Handler: func(context.Context, *Conn) {}}
	srv.begin()
	readErr := make(chan error, 1)
	task, err := s.Go(func(ctx context.Context) {
		defer srv.endConn(c)
		_, err := c.Read(make([]byte, 1)) // the client sends nothing
		readErr <- err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	srv.record(task, c, nil)
	select {
	case err := <-readErr:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("the task's Read ended with %v, want context.Canceled", err)
		}
	case <-time.After(serveHang):
		t.Fatal("a task started before Close and recorded after it was not cancelled")
	}
}

// TestShutdownTaskCancelled: Shutdown called from a task that is cancelled
// while it waits cancels the handlers and returns the task's error.
func TestShutdownTaskCancelled(t *testing.T) {
	handlerErr := make(chan error, 1)
	started := make(chan struct{})
	srv := &Server{Handler: func(ctx context.Context, c *Conn) {
		close(started)
		_, err := c.Read(make([]byte, 1)) // the client sends nothing
		handlerErr <- err
	}}
	e := newServeEnv(t, srv)
	e.dial(t)
	serveWait(t, "handler start", started)
	shut := make(chan error, 1)
	waiter, err := e.s.Go(func(ctx context.Context) { shut <- srv.Shutdown(context.Background()) })
	if err != nil {
		t.Fatal(err)
	}
	if err := e.serveResult(t); err != ErrServerClosed { // Shutdown has begun
		t.Errorf("Serve returned %v, want ErrServerClosed", err)
	}
	waiter.Cancel()
	select {
	case err := <-shut:
		if err != context.Canceled {
			t.Errorf("Shutdown in a cancelled task returned %v, want context.Canceled", err)
		}
	case <-time.After(serveHang):
		t.Fatal("Shutdown in a cancelled task did not return")
	}
	select {
	case err := <-handlerErr:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("the handler's Read ended with %v, want context.Canceled", err)
		}
	case <-time.After(serveHang):
		t.Fatal("the handler was not cancelled")
	}
}
