//go:build linux

package poll

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stackslice/stackslice/sched"
)

// Reliability tests (issue 5). Each is bounded in count and time and uses
// loopback only. STACKSLICE_LONG=1 selects the full churn (10,000
// connections at a time, for 60 s, clients in a child process).

func longTests() bool { return os.Getenv("STACKSLICE_LONG") != "" }

func openFDs(t testing.TB) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	return len(ents)
}

// countedEcho serves ln with one coroutine per connection, counting the
// live ones in live.
func countedEcho(s *sched.Scheduler, ln *Listener, live *atomic.Int64) {
	live.Add(1)
	s.Go(func(context.Context) {
		defer live.Add(-1)
		for {
			c, err := ln.AcceptConn()
			if err != nil {
				return
			}
			live.Add(1)
			if _, err := s.Go(func(context.Context) {
				defer live.Add(-1)
				defer c.Close()
				for {
					err := c.ReadWith(nil, func(p []byte) error {
						_, err := c.Write(p)
						return err
					})
					if err != nil {
						return
					}
				}
			}); err != nil {
				live.Add(-1)
				c.Close()
			}
		}
	})
}

// churnRound opens n connections to addr (std net, source addresses
// spread over 127.0.0.2-21 so TIME_WAIT does not exhaust ports), checks
// one echo on each, and closes them all (every other one with a reset).
func churnRound(addr string, n, round int) error {
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := range n {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+(i+round)%20))}}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			return fmt.Errorf("dial %d: %w", i, err)
		}
		conns = append(conns, c)
		if _, err := c.Write([]byte("churn")); err != nil {
			return err
		}
	}
	buf := make([]byte, 5)
	for i, c := range conns {
		c.SetReadDeadline(time.Now().Add(60 * time.Second)) // a hang bound, not a timing check
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "churn" {
			return fmt.Errorf("echo %d: %q %v", i, buf, err)
		}
		if i%2 == 0 {
			c.(*net.TCPConn).SetLinger(0)
		}
	}
	return nil
}

// TestChurnChild is the client side of the long churn, in a child process.
func TestChurnChild(t *testing.T) {
	if childRole() != "churn-client" {
		t.Skip("runs as TestChurn's child")
	}
	addr := os.Getenv("STACKSLICE_CHURN_ADDR")
	n, _ := strconv.Atoi(os.Getenv("STACKSLICE_CHURN_N"))
	dur, _ := time.ParseDuration(os.Getenv("STACKSLICE_CHURN_DUR"))
	rounds := 0
	for end := time.Now().Add(dur); time.Now().Before(end); rounds++ {
		if err := churnRound(addr, n, rounds); err != nil {
			t.Fatal(err)
		}
	}
	fmt.Printf("rounds=%d\n", rounds)
}

func TestChurn(t *testing.T) {
	s := sched.New()
	defer s.Close()
	var live atomic.Int64
	ln, err := Listen(s, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	countedEcho(s, ln, &live)
	addr := ln.Addr().String()

	// Coroutine clients through Dial, in-process, plus std net clients.
	pollRound := func(n int) error {
		var wg sync.WaitGroup
		var errs atomic.Int64
		for range n {
			wg.Add(1)
			s.Go(func(ctx context.Context) {
				defer wg.Done()
				c, err := Dial(ctx, s, "tcp", addr)
				if err != nil {
					errs.Add(1)
					return
				}
				defer c.Close()
				buf := make([]byte, 4)
				if _, err := c.Write([]byte("ping")); err != nil {
					errs.Add(1)
				} else if _, err := io.ReadFull(c, buf); err != nil {
					errs.Add(1)
				}
			})
		}
		waitGroup(t, &wg, "the poll clients")
		if e := errs.Load(); e > 0 {
			return fmt.Errorf("%d poll clients failed", e)
		}
		return nil
	}
	settle := func(what string) {
		// Wait for server coroutines to see their peers' close (bounded).
		for end := time.Now().Add(30 * time.Second); live.Load() != 1 && time.Now().Before(end); {
			time.Sleep(10 * time.Millisecond)
		}
		if l := live.Load(); l != 1 {
			t.Fatalf("%s: %d server coroutines still live, want 1 (the acceptor)", what, l-1)
		}
	}
	heap := func() uint64 {
		var ms runtime.MemStats
		runtime.GC()
		runtime.GC()
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}

	n, rounds := 500, 4
	// Warm-up round: pools, fd table, scheduler structures. In-process, so
	// both ends' descriptors count against this process's limit.
	if err := churnRound(addr, min(n, 2000), 0); err != nil {
		t.Fatal(err)
	}
	if err := pollRound(200); err != nil {
		t.Fatal(err)
	}
	settle("warm-up")
	fds0, heap0, pfds0 := openFDs(t), heap(), StatsFor(s).FDs

	if longTests() {
		// 10,000 connections at a time: the clients' descriptors are the
		// child's, the server's ours.
		out, err, _ := runChild("TestChurnChild", "churn-client", 60*time.Second+10*hangBound,
			"STACKSLICE_CHURN_ADDR="+addr, "STACKSLICE_CHURN_N=10000", "STACKSLICE_CHURN_DUR=60s")
		t.Logf("child: %s", lastLines(out, 3))
		skipIfCannotExec(t, err)
		if err != nil {
			t.Fatal(err)
		}
	} else {
		for r := 1; r <= rounds; r++ {
			if err := churnRound(addr, n, r); err != nil {
				t.Fatal(err)
			}
			if err := pollRound(200); err != nil {
				t.Fatal(err)
			}
		}
	}
	settle("after churn")
	fds1, heap1, pfds1 := openFDs(t), heap(), StatsFor(s).FDs
	t.Logf("fds %d -> %d, poller fds %d -> %d, heap %d -> %d KiB, stats %+v",
		fds0, fds1, pfds0, pfds1, heap0>>10, heap1>>10, StatsFor(s))
	if fds1 > fds0 || pfds1 != pfds0 {
		t.Errorf("fd leak: %d open fds (was %d), poller holds %d (was %d)", fds1, fds0, pfds1, pfds0)
	}
	if heap1 > heap0+heap0/4+2<<20 {
		t.Errorf("heap did not return to baseline: %d KiB, was %d KiB", heap1>>10, heap0>>10)
	}
}

func lastLines(b []byte, n int) string {
	s := string(b)
	for i := len(s) - 2; i >= 0; i-- {
		if s[i] == '\n' {
			if n--; n == 0 {
				return s[i+1:]
			}
		}
	}
	return s
}

// TestFDExhaustionChild is the server of TestFDExhaustion: an echo server
// with a soft open-files limit of 200. It prints its address, serves until
// its standard input closes, then prints its stats.
func TestFDExhaustionChild(t *testing.T) {
	if childRole() != "fd-limit-server" {
		t.Skip("runs as TestFDExhaustion's child")
	}
	var lim syscall.Rlimit
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	lim.Cur = 200
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	s := sched.New()
	defer s.Close()
	ln, err := Listen(s, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var live, accepted atomic.Int64
	s.Go(func(context.Context) {
		for {
			c, err := ln.AcceptConn()
			if err != nil {
				return
			}
			accepted.Add(1)
			live.Add(1)
			s.Go(func(context.Context) {
				defer live.Add(-1)
				defer c.Close()
				io.Copy(c, c)
			})
		}
	})
	fmt.Printf("addr=%s\n", ln.Addr())
	io.Copy(io.Discard, os.Stdin)
	st := StatsFor(s)
	fmt.Printf("accepted=%d backoffs=%d\n", accepted.Load(), st.AcceptBackoffs)
	ln.Close()
}

func TestFDExhaustion(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*hangBound)
	defer cancel()
	cmd := childCommand(ctx, "TestFDExhaustionChild", "fd-limit-server")
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		skipIfCannotExec(t, err)
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	out := bufio.NewScanner(stdout)
	var addr string
	for out.Scan() {
		if _, err := fmt.Sscanf(out.Text(), "addr=%s", &addr); err == nil {
			break
		}
	}
	if addr == "" {
		t.Fatal("child printed no address")
	}

	const attempts = 400
	conns := make([]net.Conn, attempts)
	for i := range conns {
		c, err := net.Dial("tcp", addr) // completes in the kernel's backlog
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		conns[i] = c
		c.Write([]byte("x"))
	}
	echoed := make(chan int, attempts)
	for i, c := range conns {
		go func() {
			c.SetReadDeadline(time.Now().Add(120 * time.Second)) // hang bound
			b := make([]byte, 1)
			if _, err := io.ReadFull(c, b); err == nil {
				echoed <- i
			} else {
				echoed <- -1
			}
		}()
	}
	// Phase 1: the child serves what its limit allows, and backs off for
	// the rest. Wait for 150 echoes, then close those connections.
	served := make([]int, 0, attempts)
	for len(served) < 150 {
		i := <-echoed
		if i < 0 {
			t.Fatal("a connection failed before the child reached its limit")
		}
		served = append(served, i)
	}
	for _, i := range served {
		conns[i].Close()
	}
	// Phase 2: it recovers and serves all the others.
	for len(served) < attempts {
		i := <-echoed
		if i < 0 {
			t.Fatalf("a connection failed after %d echoes", len(served))
		}
		served = append(served, i)
		conns[i].Close()
	}
	stdin.Close()
	var stats string
	for out.Scan() {
		if l := out.Text(); len(l) > 9 && l[:9] == "accepted=" {
			stats = l
		}
	}
	cmd.Wait()
	var acc, backoffs int
	fmt.Sscanf(stats, "accepted=%d backoffs=%d", &acc, &backoffs)
	t.Logf("child: %s", stats)
	if acc != attempts || backoffs == 0 {
		t.Errorf("child accepted %d of %d with %d backoffs; want all, and some backoffs", acc, attempts, backoffs)
	}
}
