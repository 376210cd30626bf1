//go:build linux || darwin || freebsd

package poll

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/stackslice/stackslice/sched"
	"github.com/stackslice/stackslice/slice"
)

// The Budget tests guard what an idle connection costs, which the README
// promises and nothing else checks: the frames saved for a task parked in
// a Conn's waits (kept small by //go:noinline helpers and careful frames),
// and identical idle connections packing to a shared template with no
// block of their own. sched's Budget tests do the same for its waits.

// connParkBudgets are the figures of a task whose function (paddings[0])
// calls a function that publishes its coroutine and then waits on a
// connection (see TestConnParkBudget), measured with
//
//	go test -count=1 -run Budget -v ./poll
//	GOTOOLCHAIN=go1.27.4 go test -count=1 -run Budget -v ./poll
//
// on go1.26.8 and go1.27.4, which agree, per architecture (arm64's under
// qemu: add GOARCH=arm64 and -exec qemu-aarch64-static). Should a Go
// release lay these frames out differently, key the table by release
// (runtime.Version). What to do when a change moves a figure: see
// checkParkBudget's message.
var connParkBudgets = map[string]map[string]parkBudget{
	"amd64": {
		"Conn.Read":          {Size: 416, Headroom: 3},
		"Conn.WaitRead(nil)": {Size: 344, Headroom: 3},
		// With the task's own context, WaitRead waits through ParkCtx, in
		// deeper frames.
		"Conn.WaitRead(ctx)": {Size: 560, Headroom: 2},
		// An echo loop as in examples/footprint.
		"Conn.ReadWith": {Size: 416, Headroom: 4},
	},
	"arm64": {
		"Conn.Read":          {Size: 416, Headroom: 1},
		"Conn.WaitRead(nil)": {Size: 344, Headroom: 1},
		"Conn.WaitRead(ctx)": {Size: 608, Headroom: 3},
		"Conn.ReadWith":      {Size: 416, Headroom: 1},
	},
}

// TestConnParkBudget measures what a task parked in a Conn's Read,
// WaitRead and ReadWith holds, and its headroom, against connParkBudgets.
func TestConnParkBudget(t *testing.T) {
	budgets := archBudgets(t, connParkBudgets)
	s := newScheduler(t, sched.WithCarriers(1))
	e := schedEnvOn(s)
	pool := NewBufferPool(64)
	buf := make([]byte, 64) // on the heap: a buffer in a frame would be saved with it
	places := []struct {
		name string
		wait func(c *Conn, co chan<- *slice.Coroutine) func(context.Context)
	}{
		{"Conn.Read", func(c *Conn, co chan<- *slice.Coroutine) func(context.Context) {
			return func(context.Context) {
				co <- slice.Current()
				c.Read(buf)
			}
		}},
		{"Conn.WaitRead(nil)", func(c *Conn, co chan<- *slice.Coroutine) func(context.Context) {
			return func(context.Context) {
				co <- slice.Current()
				c.WaitRead(nil)
			}
		}},
		{"Conn.WaitRead(ctx)", func(c *Conn, co chan<- *slice.Coroutine) func(context.Context) {
			return func(ctx context.Context) {
				co <- slice.Current()
				c.WaitRead(ctx)
			}
		}},
		{"Conn.ReadWith", func(c *Conn, co chan<- *slice.Coroutine) func(context.Context) {
			return func(context.Context) {
				co <- slice.Current()
				echoWith(c, pool)
			}
		}},
	}
	for _, p := range places {
		var frames []uintptr
		got := measureBudget(t, func(task func(wait func(context.Context)) func(context.Context)) int {
			c, _ := pair(t, e)
			cos := make(chan *slice.Coroutine, 1)
			tk, err := s.Go(task(p.wait(c, cos)))
			if err != nil {
				t.Fatal(err)
			}
			co := recv(t, cos, "the task's coroutine")
			size := parkedSize(t, s, tk)
			if frames == nil {
				frames = co.Callers()
			}
			c.Close()
			wait(t, tk.Done(), "the task to end")
			return size
		})
		checkParkBudget(t, p.name, budgets[p.name], got, frames)
	}
}

// echoWith echoes c with ReadWith until an error, as examples/footprint's
// server does.
func echoWith(c *Conn, pool *BufferPool) {
	for {
		err := c.ReadWith(pool, func(p []byte) error {
			_, err := c.Write(p)
			return err
		})
		if err != nil {
			return
		}
	}
}

// parkedSize waits until tk is parked (and switched out: Tasks shows a
// park reason only then) and returns its TaskInfo.Size.
func parkedSize(t testing.TB, s *sched.Scheduler, tk *sched.Task) (size int) {
	t.Helper()
	waitUntil(t, fmt.Sprintf("task %d to park", tk.ID()), func() bool {
		for _, ti := range s.Tasks() {
			if ti.ID == tk.ID() && ti.State == "parked" && ti.Reason != "" {
				size = ti.Size
				return true
			}
		}
		return false
	})
	return size
}

// N identical idle echo connections, once packed under the scheduler's
// default policy (sooner: After 50 ms), share their template with no
// block of their own: what is left of each is its records and pointer
// shadow (the README's per-connection figures count on it).
//
// Identical: each parks in ReadWith before its message arrives, echoes
// it, and parks again, so that all have seen one readiness edge. The
// sequence number a wait compares is kept in the parked frame (ReadWith's
// arm closure), and connections that have seen different numbers of edges
// differ in it. One carrier: dead words left in parked frames differ from
// carrier to carrier (see sched's TestIdleTaskTemplateBudget).
func TestIdleConnTemplateBudget(t *testing.T) {
	skipUnlessFramesAsBuilt(t)
	const n = 100
	policy := sched.DefaultCompression
	policy.After = 50 * time.Millisecond
	s := newScheduler(t, sched.WithCarriers(1), sched.WithCompression(policy))
	ln, err := Listen(s, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	pool := NewBufferPool(64)
	before := slice.ReadCompressionStats()
	cos := make(chan *slice.Coroutine, n)
	acceptor, err := s.Go(func(context.Context) {
		for range n {
			c, err := ln.AcceptConn()
			if err != nil {
				t.Error(err)
				return
			}
			s.Go(func(context.Context) {
				cos <- slice.Current()
				echoWith(c, pool)
				c.Close()
			})
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	clients := make([]net.Conn, n)
	for i := range clients {
		if clients[i], err = net.Dial("tcp", ln.Addr().String()); err != nil {
			t.Fatal(err)
		}
		defer clients[i].Close()
	}
	wait(t, acceptor.Done(), "the acceptor")
	waitUntil(t, "the connections' first park", func() bool { return s.Stats().ParkedBy["poll: wait read"] == n })
	echo := make([]byte, 5)
	for _, c := range clients {
		c.SetDeadline(time.Now().Add(hangBound))
		if _, err := c.Write([]byte("hello")); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Read(echo); err != nil {
			t.Fatal(err)
		}
	}
	conns := make([]*slice.Coroutine, n)
	for i := range conns {
		conns[i] = recv(t, cos, "a connection's coroutine")
	}
	waitUntil(t, fmt.Sprintf("%d idle connections to be packed", n), func() bool {
		for _, co := range conns {
			if !co.Packed() {
				return false
			}
		}
		return true
	})
	after := slice.ReadCompressionStats()
	// Packed and not resumed since (nothing wakes them), the coroutines
	// hold still: their sizes can be read.
	sizes := map[int]int{} // what each packed connection's coroutine holds: count
	for _, co := range conns {
		sizes[co.Size()]++
	}
	packedBytes, users := after.PackedBytes-before.PackedBytes, after.TemplateUsers-before.TemplateUsers
	t.Logf("%d idle echo connections: coroutine sizes %v; %d packed bytes, %d template users, %d templates",
		n, sizes, packedBytes, users, after.Templates-before.Templates)
	if len(sizes) != 1 || packedBytes != 0 || users != n {
		t.Errorf("%d identical idle echo connections do not all pack to a shared template without a block of "+
			"their own: coroutine sizes (bytes: connections) %v, %d packed bytes, %d template users; a word in "+
			"their parked frames differs from connection to connection (a dead slot holding a pointer or a "+
			"count, a scalar kept live): compare two connections' saved blocks",
			n, sizes, packedBytes, users)
	}
}
