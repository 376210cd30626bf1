package httpserve

import (
	"context"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stackslice/stackslice/poll"
	"github.com/stackslice/stackslice/sched"
)

// openFDs counts the process's descriptors, or returns -1 where
// /proc/self/fd is not there.
func openFDs() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(ents)
}

// TestChurnLeavesNothing: many short connections and idle keep-alive ones
// come and go (requests with bodies, handlers that watch their context,
// clients that go away, bad requests, a hijack); after Shutdown no task,
// goroutine or descriptor is left.
func TestChurnLeavesNothing(t *testing.T) {
	short, idle := 400, 100
	if testing.Short() {
		short, idle = 100, 30
	}
	// The runtime's poller opens its own two descriptors (epoll and an
	// eventfd) when the process first uses package net, and keeps them.
	// Under go test the output pipe has done that already; a test binary
	// run directly, its output on a terminal or in a file, has not, and
	// would count them as left: open them before counting.
	if l, err := net.Listen("tcp", "127.0.0.1:0"); err == nil {
		l.Close()
	}
	baseG, baseFD := runtime.NumGoroutine(), openFDs()

	s := sched.New()
	defer s.Close()
	ln, err := poll.Listen(s, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/hello", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") })
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) { io.Copy(w, r.Body) })
	mux.HandleFunc("/ctx", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		<-r.Context().Done() // the client goes away
	})
	mux.HandleFunc("/ctxpanic", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		<-r.Context().Done() // the client goes away; the watch saw it
		panic("after the client went away")
	})
	mux.HandleFunc("/hijack", func(w http.ResponseWriter, r *http.Request) {
		c, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			c.Close()
		}
	})
	ts := &testServer{log: new(syncBuffer)}
	srv := &Server{Handler: mux, ErrorLog: log.New(ts.log, "", 0)}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	addr := ln.Addr().String()

	// The short connections, from a few workers.
	requests := []string{
		"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
		"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
		"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
		"GET /ctx HTTP/1.1\r\nHost: x\r\n\r\n", // closed by the client after the header
		"GET /hijack HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /ctxpanic HTTP/1.1\r\nHost: x\r\n\r\n",
		"BAD\r\n\r\n",
		"GET /hello HTTP/1.1\r\nHost: x\r\n\r\nGET /hel", // the client goes away mid-request
	}
	var wg sync.WaitGroup
	work := make(chan int)
	for range 8 {
		wg.Go(func() {
			for i := range work {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					t.Error(err)
					continue
				}
				c.SetDeadline(time.Now().Add(hang))
				io.WriteString(c, requests[i%len(requests)])
				b := make([]byte, 1)
				if _, err := c.Read(b); err != nil && err != io.EOF {
					t.Errorf("request %q: %v", requests[i%len(requests)], err)
				}
				c.Close()
			}
		})
	}
	// The idle ones, meanwhile: one request each, then idle.
	conns := make([]*rawConn, idle)
	for i := range conns {
		conns[i] = dialRaw(t, addr)
		conns[i].send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
	}
	for i := range short {
		work <- i
	}
	close(work)
	wg.Wait()
	for i, c := range conns {
		if r := c.response("GET"); !strings.Contains(r, `body "hello"`) {
			t.Fatalf("idle connection %d: %s", i, r)
		}
		if i%2 == 0 {
			c.Close() // half go away while idle
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), hang)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := waitFor(t, served, "Serve's return"); err != http.ErrServerClosed {
		t.Errorf("Serve: %v, want http.ErrServerClosed", err)
	}
	for i, c := range conns {
		if i%2 == 1 {
			if r := c.rest(); r != "<EOF>" {
				t.Errorf("idle connection %d at Shutdown read %q", i, r)
			}
			c.Close()
		}
	}
	var st sched.Stats
	if !waitUntilOr(hang, func() bool { st = s.Stats(); return st.Tasks == 0 }) {
		s.Dump(os.Stderr)
		t.Fatalf("tasks left after Shutdown: %d (%v)", st.Tasks, st.ParkedBy)
	}
	s.Close()
	var g, fds int
	if !waitUntilOr(hang, func() bool { g = runtime.NumGoroutine(); return g <= baseG }) {
		buf := make([]byte, 1<<20)
		t.Errorf("goroutines: %d, %d before\n%s", g, baseG, buf[:runtime.Stack(buf, true)])
	}
	if baseFD >= 0 && !waitUntilOr(hang, func() bool { fds = openFDs(); return fds <= baseFD }) {
		t.Errorf("descriptors: %d, %d before", fds, baseFD)
	}
	if t.Failed() {
		t.Logf("server log:\n%s", ts.log)
	}
	t.Logf("%d short and %d idle connections: %d goroutines (%d before), %d descriptors (%d before)", short, idle, g, baseG, fds, baseFD)
}

// TestShutdownUnderLoad: Shutdown while keep-alive clients send requests
// as fast as they can (some with bodies, some pipelined, some waiting on
// their context) returns, every client sees its connection end, and no
// task is left.
func TestShutdownUnderLoad(t *testing.T) {
	for _, closeInstead := range []bool{false, true} {
		name := "Shutdown"
		if closeInstead {
			name = "Close"
		}
		t.Run(name, func(t *testing.T) { testShutdownUnderLoad(t, closeInstead) })
	}
}

func testShutdownUnderLoad(t *testing.T, closeInstead bool) {
	s := sched.New()
	defer s.Close()
	ln, err := poll.Listen(s, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &Server{Handler: compatMux(), ErrorLog: log.New(io.Discard, "", 0)}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	reqs := []string{
		"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc",
		"GET /hello HTTP/1.1\r\nHost: x\r\n\r\nGET /big HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /ctxsleep HTTP/1.1\r\nHost: x\r\n\r\n",
	}
	var wg sync.WaitGroup
	var started sync.WaitGroup
	for i := range 16 {
		started.Add(1)
		wg.Go(func() {
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Error(err)
				started.Done()
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(hang))
			go io.Copy(io.Discard, c) // responses are not checked here
			for n := 0; ; n++ {
				if n == 5 {
					started.Done()
				}
				if _, err := io.WriteString(c, reqs[(i+n)%len(reqs)]); err != nil {
					if n < 5 {
						started.Done()
					}
					return // the server closed the connection
				}
				time.Sleep(time.Millisecond)
			}
		})
	}
	started.Wait()
	if closeInstead {
		srv.Close()
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), hang)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	}
	if err := waitFor(t, served, "Serve's return"); err != http.ErrServerClosed {
		t.Errorf("Serve: %v", err)
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	waitFor(t, done, "the clients to see their connections end")
	var st sched.Stats
	if !waitUntilOr(hang, func() bool { st = s.Stats(); return st.Tasks == 0 }) {
		s.Dump(os.Stderr)
		t.Fatalf("tasks left: %d (%v)", st.Tasks, st.ParkedBy)
	}
}
