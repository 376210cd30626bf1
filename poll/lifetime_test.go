//go:build linux

package poll

import (
	"context"
	"errors"
	"io"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"
	"unsafe"
	"weak"

	"github.com/stackslice/stackslice/sched"
	"github.com/stackslice/stackslice/timers"
)

// Issue 11, section 4: nothing leaks. A Conn or Listener dropped without
// Close is closed by a cleanup; a scheduler's Close releases its poller.

// TestConnSizes guards the memory of an idle connection: a Conn and its
// netFD are two allocations that fill the 16- and 112-byte size classes,
// the 128 bytes the Conn took alone when it embedded its netFD.
func TestConnSizes(t *testing.T) {
	if unsafe.Sizeof(uintptr(0)) != 8 {
		t.Skip("sizes are for 64-bit systems")
	}
	if c, fd := unsafe.Sizeof(Conn{}), unsafe.Sizeof(netFD{}); c > 16 || fd > 112 {
		t.Errorf("Conn %d bytes (want <= 16), netFD %d (want <= 112): an idle connection grows by a size class", c, fd)
	}
}

// settleGC collects garbage a few times, giving cleanups time to run.
func settleGC() {
	for range 5 {
		runtime.GC()
		time.Sleep(20 * time.Millisecond)
	}
}

// gcUntil runs the garbage collector (and gives cleanups time to run)
// until ok reports true, for at most about 10 seconds (a hang bound).
func gcUntil(ok func() bool) bool {
	for i := 0; i < 200; i++ {
		if ok() {
			return true
		}
		runtime.GC()
		time.Sleep(time.Duration(min(i+1, 50)) * time.Millisecond)
	}
	return ok()
}

// TestDroppedConnsCollected opens 1,000 connections in a scheduler (both
// ends poll Conns) and drops them without Close: a cleanup must close
// every descriptor, counted in Stats.Collected.
func TestDroppedConnsCollected(t *testing.T) {
	n := 1000
	if testing.Short() {
		n = 200
	}
	s := sched.New()
	defer s.Close()
	ln, err := Listen(s, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	settleGC() // earlier tests' garbage
	fds0, st0 := openFDs(t), StatsFor(s)
	addr := ln.Addr().String()
	errs := make(chan error, 2*n)
	var wg sync.WaitGroup
	wg.Add(1)
	s.Go(func(context.Context) {
		defer wg.Done()
		for range n {
			c, err := ln.AcceptConn()
			if err != nil {
				errs <- err
				return
			}
			if _, err := c.Write([]byte("x")); err != nil { // used, then dropped
				errs <- err
			}
		}
	})
	for range n {
		wg.Add(1)
		s.Go(func(context.Context) {
			defer wg.Done()
			c, err := Dial(context.Background(), s, "tcp", addr)
			if err != nil {
				errs <- err
				return
			}
			var b [1]byte
			if _, err := io.ReadFull(c, b[:]); err != nil { // used, then dropped
				errs <- err
			}
		})
	}
	go s.Run(context.Background())
	waitGroup(t, &wg, "the connections")
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	ok := gcUntil(func() bool { return openFDs(t) <= fds0 && StatsFor(s).FDs == st0.FDs })
	st := StatsFor(s)
	t.Logf("descriptors %d before, %d now; stats %+v", fds0, openFDs(t), st)
	if !ok {
		t.Fatalf("dropped connections not closed: %d descriptors open (were %d), poller holds %d (held %d)",
			openFDs(t), fds0, st.FDs, st0.FDs)
	}
	if got := st.Collected - st0.Collected; got != uint64(2*n) {
		t.Errorf("Stats.Collected grew by %d, want %d", got, 2*n)
	}
}

// TestDroppedListenerCollected: a Listener dropped without Close is
// closed too.
func TestDroppedListenerCollected(t *testing.T) {
	forEachEnv(t, func(t *testing.T, e env) {
		if !droppedListenerClosed(t, e) {
			t.Fatal("a dropped listener was not closed")
		}
	})
}

// droppedListenerClosed drops a new listener and reports whether the
// garbage collector closed it (counted in Stats, out of the table).
func droppedListenerClosed(t *testing.T, e env) bool {
	ln, err := e.listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fd := ln.fd // does not keep ln alive
	collected := fd.p.collected.Load()
	ln = nil
	defer fd.Close() // if not collected
	return gcUntil(func() bool { return fd.p.collected.Load() > collected }) &&
		fd.closing() && fd.p.tab.get(fd.sysfd()) != fd
}

// TestClosedConnNotClosedAgain: a Conn closed with Close and then dropped
// closes nothing more when it is collected, even though its descriptor
// number now belongs to another connection, and is not counted.
func TestClosedConnNotClosedAgain(t *testing.T) {
	forEachEnv(t, func(t *testing.T, e env) {
		ln, err := e.listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		echoServer(e, ln)
		dial := func() *Conn {
			var c *Conn
			var err error
			wait(t, e.spawn(func() { c, err = e.dial(context.Background(), "tcp", ln.Addr().String()) }), "dial")
			if err != nil {
				t.Fatal(err)
			}
			return c
		}
		a := dial()
		p, num := a.fd.p, a.fd.sysfd()
		collected := p.collected.Load()
		a.Close()
		// Take a's number for b: keep dialing (and closing the misses)
		// until a connection gets it.
		var b *Conn
		for range 20 {
			c := dial()
			if c.fd.sysfd() == num {
				b = c
				break
			}
			defer c.Close()
		}
		if b == nil {
			t.Skip("descriptor number not reused")
		}
		defer b.Close()
		w := weak.Make(a)
		a = nil
		if !gcUntil(func() bool { return w.Value() == nil }) {
			t.Fatal("the closed, dropped Conn was not collected")
		}
		// Its cleanup is queued now; give it time to run, then use b.
		for range 5 {
			runtime.GC()
			time.Sleep(10 * time.Millisecond)
		}
		msg := []byte("still mine")
		var werr, rerr error
		got := make([]byte, len(msg))
		wait(t, e.spawn(func() {
			b.SetDeadline(time.Now().Add(10 * time.Second)) // a hang bound
			_, werr = b.Write(msg)
			_, rerr = io.ReadFull(b, got)
		}), "echo on the reused number")
		if werr != nil || rerr != nil || string(got) != string(msg) {
			t.Fatalf("the connection that reused a collected Conn's number broke: write %v, read %v, %q", werr, rerr, got)
		}
		if c := p.collected.Load(); c != collected {
			t.Errorf("Stats.Collected counted %d for a Conn closed with Close", c-collected)
		}
	})
}

// TestParkedConnNotCollected: a Conn that only a parked Read refers to is
// reachable (the parked frame holds it): the Read gets its data later.
func TestParkedConnNotCollected(t *testing.T) {
	forEachEnv(t, func(t *testing.T, e env) {
		ln, err := e.listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		p := ln.fd.p
		collected := p.collected.Load()
		accepted := make(chan *Conn, 1)
		e.spawn(func() {
			c, err := ln.AcceptConn()
			if err != nil {
				t.Error(err)
			}
			accepted <- c
		})
		cc, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer cc.Close()
		// The Conn goes to the reader through a channel (filled before the
		// reader starts: a task must not block on it), and the reader does
		// not use it after Read, so that only Read's own frame refers to
		// it while it is parked (the scheduler, or the poller's table,
		// which hold the parked task or goroutine, reach that frame).
		conns := make(chan *Conn, 1)
		select {
		case c := <-accepted:
			conns <- c
		case <-time.After(10 * time.Second):
			t.Fatal("accept did not return")
		}
		got := make(chan string, 1)
		e.spawn(func() {
			buf := make([]byte, 16)
			n, err := (<-conns).Read(buf)
			if err != nil {
				got <- err.Error()
				return
			}
			got <- string(buf[:n])
		})
		time.Sleep(20 * time.Millisecond) // let the Read park (not needed for correctness)
		settleGC()
		if c := p.collected.Load(); c != collected {
			t.Fatalf("a Conn with a Read parked on it was collected")
		}
		cc.Write([]byte("late"))
		select {
		case s := <-got:
			if s != "late" {
				t.Fatalf("parked Read: %s", s)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("parked Read did not return")
		}
	})
}

// TestSchedulerCloseReleasesPoller creates and closes 1,000 schedulers
// that each Listen, Dial and echo one message: the descriptors and the
// heap come back to their baseline (the poller, its two descriptors and
// the scheduler are released).
func TestSchedulerCloseReleasesPoller(t *testing.T) {
	n := 1000
	if testing.Short() {
		n = 200
	}
	round := func() error {
		s := sched.New(sched.WithCarriers(1))
		ln, err := Listen(s, "tcp", "127.0.0.1:0")
		if err != nil {
			s.Close()
			return err
		}
		var serr, cerr error
		s.Go(func(context.Context) {
			c, err := ln.AcceptConn()
			if err != nil {
				serr = err
				return
			}
			defer c.Close()
			buf := make([]byte, 5)
			if _, err := io.ReadFull(c, buf); err != nil {
				serr = err
				return
			}
			_, serr = c.Write(buf)
		})
		s.Go(func(context.Context) {
			c, err := Dial(context.Background(), s, "tcp", ln.Addr().String())
			if err != nil {
				cerr = err
				return
			}
			defer c.Close()
			if _, err := c.Write([]byte("hello")); err != nil {
				cerr = err
				return
			}
			buf := make([]byte, 5)
			_, cerr = io.ReadFull(c, buf)
		})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second) // a hang bound
		err = s.Run(ctx)
		cancel()
		ln.Close()
		s.Close()
		return errors.Join(err, serr, cerr)
	}
	for range 20 { // warm-up: pools, templates, code paths
		if err := round(); err != nil {
			t.Fatal(err)
		}
	}
	settle := func() (fds int, heap uint64) {
		var ms runtime.MemStats
		settleGC()
		runtime.ReadMemStats(&ms)
		return openFDs(t), ms.HeapInuse
	}
	fds0, heap0 := settle()
	for i := range n {
		if err := round(); err != nil {
			t.Fatalf("round %d: %v", i, err)
		}
	}
	var fds1 int
	var heap1 uint64
	const slack = 1 << 20 // a leaked scheduler holds its 8 KiB fd table chunk alone
	gcUntil(func() bool {
		fds1, heap1 = settle()
		return fds1 <= fds0 && heap1 <= heap0+slack
	})
	t.Logf("%d schedulers: descriptors %d -> %d, heap in use %d -> %d KiB", n, fds0, fds1, heap0>>10, heap1>>10)
	if fds1 > fds0 {
		t.Errorf("%d descriptors open after %d schedulers closed, %d before", fds1, n, fds0)
	}
	if heap1 > heap0+slack {
		t.Errorf("heap in use %d KiB after %d schedulers closed, %d KiB before: %d bytes per scheduler kept",
			heap1>>10, n, heap0>>10, (heap1-heap0)/uint64(n))
	}
}

// TestSchedulerCloseClosesConns: connections and listeners still open when
// their scheduler closes are closed with it; goroutines blocked on them
// return net.ErrClosed, later calls fail with it, and Listen and Dial on
// the closed scheduler fail with net.ErrClosed. StatsFor still answers.
func TestSchedulerCloseClosesConns(t *testing.T) {
	s := sched.New()
	ln, err := Listen(s, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	sc, err := ln.AcceptConn() // from this goroutine: the helper polls
	if err != nil {
		t.Fatal(err)
	}
	fds0 := openFDs(t)
	readErr := make(chan error, 1)
	go func() {
		_, err := sc.Read(make([]byte, 1))
		readErr <- err
	}()
	acceptErr := make(chan error, 1)
	go func() {
		_, err := ln.Accept()
		acceptErr <- err
	}()
	time.Sleep(10 * time.Millisecond) // let them block (not needed for correctness)
	s.Close()
	for what, ch := range map[string]chan error{"Read": readErr, "Accept": acceptErr} {
		select {
		case err := <-ch:
			if !errors.Is(err, net.ErrClosed) {
				t.Errorf("%s blocked when the scheduler closed: %v, want net.ErrClosed", what, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s blocked when the scheduler closed did not return", what)
		}
	}
	if _, err := sc.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Write after the scheduler closed: %v", err)
	}
	if err := sc.Close(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Close after the scheduler closed: %v", err)
	}
	if err := ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		t.Errorf("Listener.Close after the scheduler closed: %v", err)
	}
	if _, err := Listen(s, "tcp", "127.0.0.1:0"); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Listen on a closed scheduler: %v", err)
	}
	if _, err := Dial(context.Background(), s, "tcp", ln.Addr().String()); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Dial on a closed scheduler: %v", err)
	}
	// The connection, the listener, the epoll instance and the eventfd.
	if got := openFDs(t); got > fds0-4 {
		t.Errorf("%d descriptors open after the scheduler closed, %d before: want at most %d", got, fds0, fds0-4)
	}
	if st := StatsFor(s); st.FDs != 0 {
		t.Errorf("StatsFor a closed scheduler: %+v, want no descriptors", st)
	}

	// A scheduler closed before it ever had a poller.
	s2 := sched.New()
	s2.Close()
	if _, err := Listen(s2, "tcp", "127.0.0.1:0"); !errors.Is(err, net.ErrClosed) || !errors.Is(err, sched.ErrClosed) {
		t.Errorf("Listen on a scheduler closed before any I/O: %v, want net.ErrClosed and sched.ErrClosed", err)
	}
	if st := StatsFor(s2); st != (Stats{}) {
		t.Errorf("StatsFor a scheduler without a poller: %+v", st)
	}
}

// TestPollerCloseRefusesLaterUse: Close of a poller wakes a Poll in
// progress and waits for it, and every later use of the poller's
// descriptors is refused.
func TestPollerCloseRefusesLaterUse(t *testing.T) {
	p, err := newPoller(timers.New())
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.Poll(-1) // returns when Close wakes it
	}()
	time.Sleep(5 * time.Millisecond)
	p.Close()
	wait(t, done, "Poll across Close")
	p.Poll(-1) // returns at once
	p.Wake()
	if _, err := newFD(p, -1); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("newFD on a closed poller: %v", err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// A goroutine that accepts on a listener of a scheduler that never runs,
// right after the program starts, is served by the helper poller. The
// poller used to count as having polled at the package's start, so for
// the first 10 ms nothing polled for such a waiter, ever. Run in a child
// process, so that the wait begins within milliseconds of start-up.
func TestFreshPollerHelper(t *testing.T) {
	if childRole() == "fresh-poller" {
		s := sched.New() // never started: only the helper can poll
		defer s.Close()
		ln, err := Listen(s, "tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		accepted := make(chan error, 1)
		go func() {
			c, err := ln.Accept()
			if err == nil {
				c.Close()
			}
			accepted <- err
		}()
		p, _ := pollerFor(s)
		waitUntil(t, "Accept to park", func() bool { return p.waiters.Load() > 0 })
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		select {
		case err := <-accepted:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Accept in a goroutine on a scheduler that never ran was not served within 10s")
		}
		return
	}
	out, err, hung := runChild("TestFreshPollerHelper", "fresh-poller", 2*hangBound)
	skipIfCannotExec(t, err)
	if hung {
		t.Fatalf("child hung:\n%s", out)
	}
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
}
