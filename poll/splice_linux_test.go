package poll

import (
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/stackslice/stackslice/sched"
)

// settleFDs closes the cached idle pipes (which no copy holds) and collects
// garbage (a pipe's cleanup closes it if its copy was abandoned) until
// ok(open descriptors) or 10s, and returns the last count.
func settleFDs(t *testing.T, ok func(n int) bool) int {
	t.Helper()
	releaseIdlePipes()
	n := openFDs(t)
	for end := time.Now().Add(10 * time.Second); !ok(n) && time.Now().Before(end); n = openFDs(t) {
		releaseIdlePipes()
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	return n
}

// fdList describes the open descriptors, for failure messages.
func fdList() string {
	ents, _ := os.ReadDir("/proc/self/fd")
	var b strings.Builder
	for _, e := range ents {
		l, _ := os.Readlink("/proc/self/fd/" + e.Name())
		fmt.Fprintf(&b, " %s=%s", e.Name(), l)
	}
	return b.String()
}

// TestSpliceNoFDLeak runs every splice case (successful copies, limits,
// deadlines and Close while blocked, resets: the pipe returned empty to the
// cache or closed with bytes in it) in both environments and checks that
// every descriptor they opened, sockets and pipes, is closed afterwards.
func TestSpliceNoFDLeak(t *testing.T) {
	envs := []env{goroutineEnv(t), schedEnv(t)}
	for _, e := range envs { // a scheduler's poller lives on: make it first
		ln, err := e.listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ln.Close()
	}
	before := openFDs(t)
	for _, e := range envs {
		for _, c := range spliceCases {
			t.Run(e.name+"/"+c.name, func(t *testing.T) { c.fn(t, e) })
		}
	}
	after := settleFDs(t, func(n int) bool { return n <= before })
	t.Logf("open descriptors: %d before, %d after", before, after)
	if after > before {
		t.Errorf("descriptors leaked: %d open, %d before:%s", after, before, fdList())
	}
}

// TestSpliceIdleHoldsNoPipe: copies waiting for their source hold no pipe
// (so an idle relay costs no descriptors beyond its sockets).
func TestSpliceIdleHoldsNoPipe(t *testing.T) {
	forEachEnv(t, func(t *testing.T, e env) {
		const k = 8
		relays := make([]*relayConns, k)
		for i := range relays {
			relays[i] = newRelay(t, e, e, "tcp")
		}
		// The relays' sockets, and no cached pipes: the count stops falling.
		base, last, same := openFDs(t), -1, 0
		for end := time.Now().Add(10 * time.Second); same < 3 && time.Now().Before(end); {
			releaseIdlePipes()
			runtime.GC()
			time.Sleep(10 * time.Millisecond)
			if base = openFDs(t); base == last {
				same++
			} else {
				last, same = base, 0
			}
		}
		done := make([]<-chan struct{}, k)
		for i, r := range relays {
			done[i] = e.spawn(func() { r.out.ReadFrom(r.in) })
			// Some bytes through each: every copy has had a pipe.
			r.client.Write([]byte("hello"))
			readPrefix(t, r.sink, []byte("hello"), 5)
		}
		idle := settleFDs(t, func(n int) bool { return n <= base })
		t.Logf("open descriptors: %d with the relays' sockets, %d with %d idle copies", base, idle, k)
		if idle > base {
			t.Errorf("%d idle copies hold %d descriptors:%s", k, idle-base, fdList())
		}
		for i, r := range relays {
			r.in.Close()
			wait(t, done[i], "copy after Close")
		}
	})
}

// TestSpliceNoPipeFallsBack: when no pipe can be made (no descriptors), a
// Conn-to-Conn copy is done with a buffer instead.
func TestSpliceNoPipeFallsBack(t *testing.T) {
	forEachEnv(t, func(t *testing.T, e env) {
		r := newRelay(t, e, e, "tcp")
		payload := randomBytes(1<<20, 42)
		sums := sumOf(r.sink)
		go func() {
			r.client.Write(payload)
			closeWrite(r.client)
		}()
		// Empty the cache and make getPipe unable to make pipes; the copy
		// starts after this (spawn), and newPipe is restored after it ends
		// (wait).
		saved := newPipe
		newPipe = func() *splicePipe { return nil }
		releaseIdlePipes()
		var n int64
		var err error
		var fellBack bool
		done := e.spawn(func() {
			if n, fellBack, err = spliceCopy(r.out, r.in, 1<<63-1); fellBack {
				var m int64
				m, err = r.out.ReadFrom(r.in)
				n += m
			}
			r.out.CloseWrite()
		})
		wait(t, done, "copy without pipes")
		newPipe = saved
		got := recv(t, sums, "sink")
		if !fellBack || err != nil || n != int64(len(payload)) {
			t.Errorf("fell back %v; copied %d, %v", fellBack, n, err)
		}
		if got.err != nil || got.sum != sha256.Sum256(payload) {
			t.Errorf("sink got %d bytes (%v), checksum match %v", got.n, got.err, got.sum == sha256.Sum256(payload))
		}
	})
}

// TestSpliceYieldsBetweenChunks: a copy whose source never runs dry lets
// the other tasks of its carrier run between chunks, without waiting for
// its time slice to run out (a relay that always has data would otherwise
// keep its carrier, and the relays queued behind it, a slice at a time).
func TestSpliceYieldsBetweenChunks(t *testing.T) {
	// One carrier, a time slice no copy here outlasts, and no stand-ins:
	// the other task can run during the copy only if the copy lets it.
	s := sched.New(sched.WithCarriers(1), sched.WithTimeSlice(time.Hour), sched.WithStandIns(0))
	t.Cleanup(func() { s.Close() })
	e := schedEnvOn(s)
	r := newRelay(t, e, e, "tcp")
	// One-page pipes: every splice moves at most a page, so the copy
	// takes many chunks.
	saved := newPipe
	newPipe = onePagePipe
	releaseIdlePipes()
	t.Cleanup(func() {
		newPipe = saved
		releaseIdlePipes()
	})
	const total = 32 << 10 // fits in the sockets' buffers: no splice waits
	payload := randomBytes(total, 7)
	if _, err := r.client.Write(payload); err != nil {
		t.Fatal(err)
	}
	sums := sumOf(r.sink)
	var copying, otherSawCopy atomic.Bool
	var n int64
	var err error
	done := e.spawn(func() {
		// The whole payload is readable before the copy starts, so that
		// the copy never waits for its source (waiting would let the
		// other task run whatever the copy does between chunks).
		for {
			q, qerr := inq(r.in)
			if qerr != nil {
				err = qerr
				return
			}
			if q >= total {
				break
			}
			sched.Yield()
		}
		other := e.spawn(func() { otherSawCopy.Store(copying.Load()) })
		copying.Store(true)
		n, err = r.out.ReadFrom(io.LimitReader(r.in, total))
		copying.Store(false)
		e.await(other)
		r.out.CloseWrite()
	})
	wait(t, done, "copy")
	if err != nil || n != total {
		t.Fatalf("copied %d bytes, %v; want %d", n, err, total)
	}
	if got := recv(t, sums, "sink"); got.err != nil || got.sum != sha256.Sum256(payload) {
		t.Fatalf("sink got %d bytes (%v), checksum match %v", got.n, got.err, got.sum == sha256.Sum256(payload))
	}
	if !otherSawCopy.Load() {
		t.Errorf("a task queued on the copy's carrier ran only after the %d-byte copy: the copy did not yield between chunks", total)
	}
}

// onePagePipe is makePipe with the pipe shrunk to one page.
func onePagePipe() *splicePipe {
	p := makePipe()
	if p != nil {
		unix.FcntlInt(uintptr(p.wfd), unix.F_SETPIPE_SZ, os.Getpagesize())
	}
	return p
}

// inq returns the bytes waiting in c's receive queue.
func inq(c *Conn) (int, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	var n int
	var ierr error
	if err := rc.Control(func(fd uintptr) { n, ierr = unix.IoctlGetInt(int(fd), unix.SIOCINQ) }); err != nil {
		return 0, err
	}
	return n, ierr
}
