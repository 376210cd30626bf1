// Command sse serves server-sent events to many idle clients on stackslice
// (package poll/httpserve): every -every, one event goes to all of them.
// Each client's stream is a handler in plain blocking style, in the task of
// its connection: it waits for the next event on a channel of its own,
// writes it and flushes; between events it is a small saved block, not a
// parked goroutine with a stack and buffers. A client that leaves ends its
// handler (the request's context ends); one that stops reading is dropped
// when an event cannot be written within -wtimeout. Every second, it
// reports the streams, the events sent and received, the scheduler's tasks
// and what their saved stacks hold, and the process's heap (in-process
// clients included).
//
//	go run ./examples/sse                                # serve on 127.0.0.1:7009 until interrupted
//	go run ./examples/sse -clients 1000 -every 1s -d 5s  # with 1,000 in-process clients
//	curl -N http://127.0.0.1:7009/events                 # watch the stream
//
// SIGINT or SIGTERM (or the end of -d) shuts the server down gracefully:
// Shutdown closes every stream (RegisterOnShutdown), waits up to -grace for
// the handlers to return, then closes what is left.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/stackslice/stackslice/poll"
	"github.com/stackslice/stackslice/poll/httpserve"
	"github.com/stackslice/stackslice/sched"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "sse:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("sse", flag.ContinueOnError)
	fs.SetOutput(out)
	addr := fs.String("addr", "127.0.0.1:7009", "listen address (loopback by default; :0 picks a port)")
	every := fs.Duration("every", 3*time.Second, "send an event to every client this often")
	dur := fs.Duration("d", 0, "stop after this long (0: run until interrupted)")
	clients := fs.Int("clients", 0, "in-process clients (net/http) that count the events they receive")
	wtimeout := fs.Duration("wtimeout", 5*time.Second, "drop a client whose event cannot be written within this")
	grace := fs.Duration("grace", 5*time.Second, "on shutdown, wait this long for the handlers to return")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *every <= 0 {
		return fmt.Errorf("-every must be positive, not %v", *every)
	}
	if *dur > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *dur)
		defer cancel()
	}

	sv, err := start(*addr, *wtimeout)
	if err != nil {
		return err
	}
	url := "http://" + sv.ln.Addr().String() + "/events"
	fmt.Fprintf(out, "sse: serving %s (an event every %v)\n", url, *every)

	var received atomic.Int64
	var wg sync.WaitGroup
	tr := &http.Transport{}
	for range *clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := client(ctx, tr, url, &received); err != nil && ctx.Err() == nil {
				fmt.Fprintln(out, "sse: client:", err)
			}
		}()
	}
	report := func() {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		st := sv.s.Stats()
		fmt.Fprintf(out, "sse: %d streams, %d events sent, %d received by clients, %d dropped; %d tasks saved in %d KiB, heap %d KiB\n",
			sv.hub.streams.Load(), sv.hub.sent.Load(), received.Load(), sv.hub.dropped.Load(), st.Tasks, st.SavedBytes>>10, ms.HeapInuse>>10)
	}
	tick := time.NewTicker(*every)
	defer tick.Stop()
	reports := time.NewTicker(time.Second)
	defer reports.Stop()
loop:
	for n := 1; ; n++ {
		select {
		case <-ctx.Done():
			break loop
		case t := <-tick.C:
			sv.hub.broadcast(event{id: n, data: "tick " + fmt.Sprint(n) + " at " + t.Format(time.TimeOnly)})
		case <-reports.C:
			report()
		}
	}
	wg.Wait() // the clients end with ctx
	tr.CloseIdleConnections()
	err = sv.stop(*grace, out)
	report()
	return err
}

// server is the HTTP server, its scheduler and its hub.
type server struct {
	s      *sched.Scheduler
	ln     *poll.Listener
	srv    *httpserve.Server
	hub    *hub
	served chan error
}

// start listens on addr and serves the event stream at /events.
func start(addr string, wtimeout time.Duration) (*server, error) {
	s := sched.New()
	ln, err := poll.Listen(s, "tcp", addr)
	if err != nil {
		s.Close()
		return nil, err
	}
	h := newHub(wtimeout)
	mux := http.NewServeMux()
	mux.Handle("GET /events", h)
	srv := &httpserve.Server{Handler: mux}
	srv.RegisterOnShutdown(h.close) // the streams end, so Shutdown need not wait for them
	sv := &server{s: s, ln: ln, srv: srv, hub: h, served: make(chan error, 1)}
	go func() { sv.served <- srv.Serve(ln) }()
	return sv, nil
}

// stop shuts the server down, waiting up to grace, and closes its
// scheduler.
func (sv *server) stop(grace time.Duration, out io.Writer) error {
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := sv.srv.Shutdown(ctx); err != nil {
		fmt.Fprintf(out, "sse: shutdown: %v; closing the rest\n", err)
		sv.srv.Close()
	}
	err := <-sv.served
	sv.s.Close()
	if !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

type event struct {
	id   int
	data string
}

// A hub sends each event to every stream. Each stream has a small
// buffered channel; a stream whose channel is full (its client reads too
// slowly) misses the event.
type hub struct {
	wtimeout time.Duration

	mu     sched.Mutex // held briefly; a task that waits for it parks
	subs   map[*sched.Chan[event]]struct{}
	closed bool

	streams, sent, dropped atomic.Int64
}

func newHub(wtimeout time.Duration) *hub {
	return &hub{wtimeout: wtimeout, subs: make(map[*sched.Chan[event]]struct{})}
}

// ServeHTTP is one client's stream, for as long as the client stays: the
// task of its connection parks in RecvCtx between events.
func (h *hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ch, ok := h.subscribe()
	if !ok {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	defer h.unsubscribe(ch)
	h.streams.Add(1)
	defer h.streams.Add(-1)

	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	if rc.Flush() != nil {
		return
	}
	ctx := r.Context() // ends when the client leaves
	buf := make([]byte, 0, 64)
	for {
		ev, err := ch.RecvCtx(ctx)
		if err != nil {
			return // the client left (ctx), or the server shuts down (closed)
		}
		rc.SetWriteDeadline(time.Now().Add(h.wtimeout))
		buf = fmt.Appendf(buf[:0], "id: %d\ndata: %s\n\n", ev.id, ev.data)
		if _, err := w.Write(buf); err != nil {
			return
		}
		if rc.Flush() != nil {
			return // gone, or not reading
		}
		h.sent.Add(1)
	}
}

func (h *hub) subscribe() (*sched.Chan[event], bool) {
	ch := sched.NewChan[event](4)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, false
	}
	h.subs[ch] = struct{}{}
	return ch, true
}

func (h *hub) unsubscribe(ch *sched.Chan[event]) {
	h.mu.Lock()
	delete(h.subs, ch)
	h.mu.Unlock()
}

// broadcast offers ev to every stream, without waiting for any.
func (h *hub) broadcast(ev event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs {
		if !ch.TrySend(ev) {
			h.dropped.Add(1)
		}
	}
}

// close ends every stream, and refuses new ones.
func (h *hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for ch := range h.subs {
		ch.Close()
	}
}

// subscribers returns how many streams the hub holds.
func (h *hub) subscribers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}

// client reads the stream at url until ctx ends, counting the events.
func client(ctx context.Context, tr *http.Transport, url string, received *atomic.Int64) error {
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		return fmt.Errorf("GET %s: %s, Content-Type %q", url, resp.Status, resp.Header.Get("Content-Type"))
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "data: ") {
			received.Add(1)
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return io.ErrUnexpectedEOF // the server ended the stream
}
