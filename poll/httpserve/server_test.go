package httpserve

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// The tests here are of what a handler does with the connection and the
// server's lifecycle; where net/http's behaviour is the reference they run
// against both servers (eachServer), with the same checks.

// eachServer runs f as subtests against this package's server and net/http's.
func eachServer(t *testing.T, h http.Handler, cfg serverConfig, f func(t *testing.T, ts *testServer)) {
	t.Helper()
	sh := new(swapHandler)
	if h != nil {
		sh.h.Store(&h)
	}
	both(t, sh, cfg, func(t *testing.T, ts *testServer) string {
		ts.swap = &sh.h
		f(t, ts)
		return ""
	})
}

func TestHijackBufferedAndHandedOver(t *testing.T) {
	type hijacked struct {
		brw   *bufio.ReadWriter
		extra string
		close func() error
	}
	eachServer(t, nil, serverConfig{}, func(t *testing.T, ts *testServer) {
		got := make(chan hijacked, 1)
		returned := make(chan error, 1)
		mux := http.NewServeMux()
		mux.HandleFunc("/hijack", func(w http.ResponseWriter, r *http.Request) {
			c, brw, err := w.(http.Hijacker).Hijack()
			if err != nil {
				t.Errorf("Hijack: %v", err)
				return
			}
			// The client's bytes past the request are in the reader.
			extra := make([]byte, 5)
			if _, err := io.ReadFull(brw, extra); err != nil {
				t.Errorf("reading the buffered bytes: %v", err)
			}
			got <- hijacked{brw, string(extra), c.Close}
			_, err = w.Write([]byte("x"))
			returned <- err
		})
		setHandler(ts, mux)
		rc := dialRaw(t, ts.addr)
		rc.send("GET /hijack HTTP/1.1\r\nHost: x\r\n\r\nEXTRA")
		h := waitFor(t, got, "the hijack")
		if h.extra != "EXTRA" {
			t.Errorf("buffered bytes after the request: %q, want EXTRA", h.extra)
		}
		if err := waitFor(t, returned, "the handler's return"); err != http.ErrHijacked {
			t.Errorf("Write after Hijack: %v, want http.ErrHijacked", err)
		}
		// The handler has returned: the connection is the hijacker's,
		// open both ways.
		if _, err := h.brw.WriteString("pong\n"); err != nil || h.brw.Flush() != nil {
			t.Fatalf("writing on the hijacked connection: %v", err)
		}
		if line, err := rc.br.ReadString('\n'); line != "pong\n" {
			t.Fatalf("client read %q, %v; want pong", line, err)
		}
		rc.send("ping\n")
		if line, err := h.brw.ReadString('\n'); line != "ping\n" {
			t.Fatalf("hijacker read %q, %v; want ping", line, err)
		}
		if !strings.Contains(ts.log.String(), "response.Write on hijacked connection") {
			t.Errorf("no log of the Write after Hijack; log:\n%s", ts.log)
		}
		h.close()
		if s := rc.rest(); s != "<EOF>" {
			t.Errorf("after the hijacker's close, client read %q", s)
		}
	})
}

// setHandler sets a test server's handler after it started (before any
// request): the handlers of these tests need the server's t.
func setHandler(ts *testServer, h http.Handler) { ts.swap.Store(&h) }

// swapHandler is the handler of eachServer's servers: the one setHandler
// stored.
type swapHandler struct{ h atomic.Pointer[http.Handler] }

func (sh *swapHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	(*sh.h.Load()).ServeHTTP(w, r)
}

// TestHijackServedInTask hijacks and serves the connection in the
// handler's own call (its task, here), an echo, while the server shuts
// down and closes: neither waits for it nor closes it.
func TestHijackServedInTask(t *testing.T) {
	eachServer(t, nil, serverConfig{}, func(t *testing.T, ts *testServer) {
		ended := make(chan error, 1)
		setHandler(ts, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, brw, err := w.(http.Hijacker).Hijack()
			if err != nil {
				ended <- err
				return
			}
			defer c.Close()
			brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
			brw.Flush()
			for {
				line, err := brw.ReadString('\n')
				if err != nil {
					ended <- err
					return
				}
				brw.WriteString("echo " + line)
				brw.Flush()
			}
		}))
		rc := dialRaw(t, ts.addr)
		rc.send("GET / HTTP/1.1\r\nHost: x\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
		if s := rc.response("GET"); !strings.Contains(s, "101 Switching Protocols") {
			t.Fatalf("upgrade answered %s", s)
		}
		echo := func(what string) {
			t.Helper()
			rc.send(what + "\n")
			if line, err := rc.br.ReadString('\n'); line != "echo "+what+"\n" {
				t.Fatalf("echo of %q: %q, %v", what, line, err)
			}
		}
		echo("one")
		ctx, cancel := context.WithTimeout(context.Background(), hang)
		defer cancel()
		if err := ts.shutdown(ctx); err != nil {
			t.Fatalf("Shutdown with a hijacked connection: %v", err)
		}
		if err := waitFor(t, ts.served, "Serve's return"); err != http.ErrServerClosed {
			t.Errorf("Serve: %v, want http.ErrServerClosed", err)
		}
		echo("after shutdown")
		ts.close()
		echo("after close")
		rc.Close()
		if err := waitFor(t, ended, "the handler's end"); err != io.EOF {
			t.Errorf("hijacker's read at the client's close: %v, want EOF", err)
		}
	})
}

// TestFlushServerSentEvents: the client reads each event while the handler
// is still running.
func TestFlushServerSentEvents(t *testing.T) {
	eachServer(t, nil, serverConfig{}, func(t *testing.T, ts *testServer) {
		next := make(chan struct{})
		setHandler(ts, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			for i := range 3 {
				fmt.Fprintf(w, "data: %d\n\n", i)
				w.(http.Flusher).Flush()
				select {
				case <-next:
				case <-r.Context().Done():
					return
				}
			}
		}))
		resp, err := newClient(t).Get(ts.url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" || resp.TransferEncoding == nil {
			t.Errorf("Content-Type %q, Transfer-Encoding %v", ct, resp.TransferEncoding)
		}
		br := bufio.NewReader(resp.Body)
		for i := range 3 {
			line, err := br.ReadString('\n')
			if want := fmt.Sprintf("data: %d\n", i); line != want {
				t.Fatalf("event %d: %q, %v; want %q", i, line, err, want)
			}
			br.ReadString('\n')
			next <- struct{}{} // the handler waits for this: it has not returned
		}
		if rest, err := io.ReadAll(br); len(rest) != 0 || err != nil {
			t.Errorf("after the events: %q, %v", rest, err)
		}
	})
}

func TestResponseControllerFlushAndDeadlines(t *testing.T) {
	eachServer(t, nil, serverConfig{}, func(t *testing.T, ts *testServer) {
		results := make(chan string, 4)
		release := make(chan struct{})
		mux := http.NewServeMux()
		mux.HandleFunc("/flush", func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "first")
			if err := http.NewResponseController(w).Flush(); err != nil {
				t.Errorf("Flush: %v", err)
			}
			<-release
		})
		mux.HandleFunc("/read", func(w http.ResponseWriter, r *http.Request) {
			rc := http.NewResponseController(w)
			if err := rc.SetReadDeadline(time.Now().Add(50 * time.Millisecond)); err != nil {
				t.Errorf("SetReadDeadline: %v", err)
			}
			_, err := io.ReadAll(r.Body)
			results <- simpleErr(err)
		})
		mux.HandleFunc("/write", func(w http.ResponseWriter, r *http.Request) {
			rc := http.NewResponseController(w)
			if err := rc.SetWriteDeadline(time.Now().Add(-time.Second)); err != nil {
				t.Errorf("SetWriteDeadline: %v", err)
			}
			io.WriteString(w, strings.Repeat("x", 10000))
			results <- simpleErr(rc.Flush())
		})
		setHandler(ts, mux)

		resp, err := newClient(t).Get(ts.url + "/flush")
		if err != nil {
			t.Fatal(err)
		}
		b := make([]byte, 5)
		if _, err := io.ReadFull(resp.Body, b); string(b) != "first" {
			t.Errorf("flushed body %q, %v", b, err)
		}
		close(release)
		resp.Body.Close()

		rc := dialRaw(t, ts.addr)
		rc.send("POST /read HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
		if got := waitFor(t, results, "the body read"); got != "timeout" {
			t.Errorf("body read past SetReadDeadline: %s, want a timeout", got)
		}

		rc = dialRaw(t, ts.addr)
		rc.send("GET /write HTTP/1.1\r\nHost: x\r\n\r\n")
		if got := waitFor(t, results, "the flush"); got != "timeout" {
			t.Errorf("Flush past SetWriteDeadline: %s, want a timeout", got)
		}
		if s := rc.rest(); s != "<EOF>" {
			t.Errorf("client of the timed-out write read %q", s)
		}
	})
}

// TestResponseControllerFullDuplex echoes each line of the request body as
// it comes, the client waiting for each echo before it sends the next.
func TestResponseControllerFullDuplex(t *testing.T) {
	eachServer(t, nil, serverConfig{}, func(t *testing.T, ts *testServer) {
		setHandler(ts, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rc := http.NewResponseController(w)
			if err := rc.EnableFullDuplex(); err != nil {
				t.Errorf("EnableFullDuplex: %v", err)
			}
			w.WriteHeader(http.StatusOK)
			rc.Flush()
			br := bufio.NewReader(r.Body)
			for {
				line, err := br.ReadString('\n')
				if err != nil {
					return
				}
				io.WriteString(w, "echo "+line)
				rc.Flush()
			}
		}))
		pr, pw := io.Pipe()
		req, _ := http.NewRequest("POST", ts.url, pr)
		resp, err := newClient(t).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		br := bufio.NewReader(resp.Body)
		for i := range 3 {
			fmt.Fprintf(pw, "line %d\n", i)
			if got, err := br.ReadString('\n'); got != fmt.Sprintf("echo line %d\n", i) {
				t.Fatalf("echo %d: %q, %v", i, got, err)
			}
		}
		pw.Close()
		if rest, err := io.ReadAll(br); len(rest) != 0 || err != nil {
			t.Errorf("after the body's end: %q, %v", rest, err)
		}
	})
}

// TestContextClientGone: a handler waiting on its context sees it end when
// the client goes away, whether or not it read a body first.
func TestContextClientGone(t *testing.T) {
	eachServer(t, nil, serverConfig{}, func(t *testing.T, ts *testServer) {
		waiting := make(chan struct{}, 1)
		ended := make(chan error, 1)
		setHandler(ts, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/body" {
				if b, err := io.ReadAll(r.Body); string(b) != "payload" || err != nil {
					t.Errorf("body %q, %v", b, err)
				}
			}
			w.WriteHeader(http.StatusOK)
			w.(http.Flusher).Flush()
			waiting <- struct{}{}
			select {
			case <-r.Context().Done():
				ended <- r.Context().Err()
			case <-time.After(hang):
				ended <- errors.New("not cancelled")
			}
		}))
		for _, path := range []string{"/", "/body"} {
			ctx, cancel := context.WithCancel(context.Background())
			var body io.Reader
			if path == "/body" {
				body = strings.NewReader("payload")
			}
			req, _ := http.NewRequestWithContext(ctx, "POST", ts.url+path, body)
			resp, err := newClient(t).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			waitFor(t, waiting, "the handler's wait")
			cancel()
			resp.Body.Close()
			if err := waitFor(t, ended, "the handler's end"); err != context.Canceled {
				t.Errorf("%s: handler's context: %v, want context.Canceled", path, err)
			}
		}
	})
}

func TestContextServerClose(t *testing.T) {
	eachServer(t, nil, serverConfig{}, func(t *testing.T, ts *testServer) {
		waiting := make(chan struct{}, 1)
		ended := make(chan error, 1)
		setHandler(ts, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			waiting <- struct{}{}
			select {
			case <-r.Context().Done():
				ended <- r.Context().Err()
			case <-time.After(hang):
				ended <- errors.New("not cancelled")
			}
		}))
		errc := make(chan error, 1)
		go func() {
			_, err := newClient(t).Get(ts.url)
			errc <- err
		}()
		waitFor(t, waiting, "the handler's wait")
		if err := ts.close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if err := waitFor(t, ended, "the handler's end"); err != context.Canceled {
			t.Errorf("handler's context after Close: %v, want context.Canceled", err)
		}
		if err := waitFor(t, errc, "the client's end"); err == nil {
			t.Error("the client got a response from a closed server")
		}
		if err := waitFor(t, ts.served, "Serve's return"); err != http.ErrServerClosed {
			t.Errorf("Serve: %v, want http.ErrServerClosed", err)
		}
	})
}

// TestShutdownIdleAndActive: Shutdown closes an idle keep-alive connection
// at once, and waits for a request being served, whose response still
// reaches its client.
func TestShutdownIdleAndActive(t *testing.T) {
	eachServer(t, nil, serverConfig{}, func(t *testing.T, ts *testServer) {
		started := make(chan struct{}, 1)
		release := make(chan struct{})
		mux := http.NewServeMux()
		mux.HandleFunc("/hello", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") })
		mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
			started <- struct{}{}
			<-release
			io.WriteString(w, "finished")
		})
		setHandler(ts, mux)

		idle := dialRaw(t, ts.addr)
		idle.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
		if s := idle.response("GET"); !strings.Contains(s, `body "hello"`) {
			t.Fatalf("idle connection's request: %s", s)
		}
		active := dialRaw(t, ts.addr)
		active.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
		waitFor(t, started, "the slow handler's start")

		shut := make(chan error, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), hang)
			defer cancel()
			shut <- ts.shutdown(ctx)
		}()
		if s := idle.rest(); s != "<EOF>" {
			t.Errorf("idle connection at Shutdown read %q", s)
		}
		select {
		case err := <-shut:
			t.Fatalf("Shutdown returned (%v) while a handler runs", err)
		default:
		}
		close(release)
		s := active.response("GET")
		if !strings.Contains(s, `body "finished"`) || !strings.Contains(s, "close=true") {
			t.Errorf("response of the request served during Shutdown:\n%s", s)
		}
		if err := waitFor(t, shut, "Shutdown"); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := waitFor(t, ts.served, "Serve's return"); err != http.ErrServerClosed {
			t.Errorf("Serve: %v, want http.ErrServerClosed", err)
		}
		if s := active.rest(); s != "<EOF>" {
			t.Errorf("after its response, the connection read %q", s)
		}
	})
}

// TestPanicRecovered: a handler's panic is logged with its stack, the
// connection closed, and the other connections go on; ErrAbortHandler is
// not logged.
func TestPanicRecovered(t *testing.T) {
	eachServer(t, nil, serverConfig{}, func(t *testing.T, ts *testServer) {
		mux := http.NewServeMux()
		mux.HandleFunc("/hello", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") })
		mux.HandleFunc("/panic", func(w http.ResponseWriter, r *http.Request) { panicInHandler() })
		mux.HandleFunc("/abort", func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "partial")
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		})
		setHandler(ts, mux)

		other := dialRaw(t, ts.addr) // kept alive across the panics
		other.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
		other.response("GET")

		rc := dialRaw(t, ts.addr)
		rc.send("GET /panic HTTP/1.1\r\nHost: x\r\n\r\n")
		if s := rc.rest(); s != "<EOF>" {
			t.Errorf("client of the panicking handler read %q", s)
		}
		waitUntil(t, "the panic's log", func() bool { return strings.Contains(ts.log.String(), "boom") })
		log := ts.log.String()
		for _, want := range []string{"http: panic serving 127.0.0.1:", "boom", "goroutine ", "panicInHandler"} {
			if !strings.Contains(log, want) {
				t.Errorf("log lacks %q:\n%s", want, log)
			}
		}

		before := ts.log.String()
		rc = dialRaw(t, ts.addr)
		rc.send("GET /abort HTTP/1.1\r\nHost: x\r\n\r\n")
		if s := rc.rest(); !strings.Contains(s, "partial") || strings.Contains(s, "0\r\n\r\n") {
			t.Errorf("client of the aborted handler read %q: want the flushed part, cut off", s)
		}

		for range 2 {
			other.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
			if s := other.response("GET"); !strings.Contains(s, `body "hello"`) {
				t.Errorf("the other connection after the panics: %s", s)
			}
		}
		if log := ts.log.String(); log != before {
			t.Errorf("http.ErrAbortHandler logged: %q", strings.TrimPrefix(log, before))
		}
	})
}

//go:noinline
func panicInHandler() { panic("boom") }

// TestHijackAfterContextWatch: the handler looks at its context (net/http
// starts its background read, this server its watch), the client sends
// more, and the handler hijacks: what the client sent is in the reader,
// the watch's byte included.
func TestHijackAfterContextWatch(t *testing.T) {
	eachServer(t, nil, serverConfig{}, func(t *testing.T, ts *testServer) {
		sent := make(chan struct{})
		got := make(chan string, 1)
		setHandler(ts, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
				got <- "cancelled"
				return
			case <-sent:
			}
			time.Sleep(20 * time.Millisecond) // let the watch read
			c, brw, err := w.(http.Hijacker).Hijack()
			if err != nil {
				got <- err.Error()
				return
			}
			defer c.Close()
			b := make([]byte, 5)
			_, err = io.ReadFull(brw, b)
			got <- fmt.Sprintf("%q %v", b, err)
		}))
		rc := dialRaw(t, ts.addr)
		rc.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		time.Sleep(10 * time.Millisecond)
		rc.send("EXTRA")
		close(sent)
		if s := waitFor(t, got, "the hijacker's read"); s != `"EXTRA" <nil>` {
			t.Errorf("hijacker read %s, want EXTRA", s)
		}
	})
}

// TestShutdownContextEnds: when Shutdown's context ends before a handler
// returns, Shutdown cancels the handler's context, waits for it, and
// returns the context's error (net/http returns at once and leaves the
// handler running: see Server.Shutdown).
func TestShutdownContextEnds(t *testing.T) {
	ts, rc, ended := handlerAwaitingCtx(t)
	ctx, cancel := context.WithCancel(context.Background())
	shut := make(chan error, 1)
	go func() { shut <- ts.shutdown(ctx) }()
	cancel()
	if err := waitFor(t, shut, "Shutdown"); err != context.Canceled {
		t.Errorf("Shutdown: %v, want context.Canceled", err)
	}
	select {
	case err := <-ended:
		if err != context.Canceled {
			t.Errorf("handler's context: %v", err)
		}
	default:
		t.Error("Shutdown returned before the handler did")
	}
	// The handler returned: its (empty) response goes out, and the
	// connection closes.
	if s := rc.rest(); !strings.HasSuffix(s, "Connection: close\r\n\r\n<EOF>") {
		t.Errorf("client read %q", s)
	}
}

// TestShutdownPartialHeader: a kept-alive connection whose client sent
// part of its next request's header and stalls does not hold Shutdown
// (net/http counts it idle until the header is read).
func TestShutdownPartialHeader(t *testing.T) {
	eachServer(t, compatMux(), serverConfig{}, func(t *testing.T, ts *testServer) {
		rc := dialRaw(t, ts.addr)
		rc.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
		rc.response("GET")
		rc.send("GET /hello HTTP/1.1\r\nHo")
		time.Sleep(20 * time.Millisecond) // for the server to read it
		ctx, cancel := context.WithTimeout(context.Background(), hang)
		defer cancel()
		if err := ts.shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if s := rc.rest(); s != "<EOF>" {
			t.Errorf("client read %q", s)
		}
	})
}

// TestHijackBodyUnread: the part of the request body the handler did not
// read is the hijacker's, in the reader, before what the client sends
// next.
func TestHijackBodyUnread(t *testing.T) {
	eachServer(t, nil, serverConfig{}, func(t *testing.T, ts *testServer) {
		got := make(chan string, 1)
		setHandler(ts, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b := make([]byte, 2)
			io.ReadFull(r.Body, b)
			c, brw, err := w.(http.Hijacker).Hijack()
			if err != nil {
				got <- err.Error()
				return
			}
			defer c.Close()
			rest := make([]byte, 8)
			_, err = io.ReadFull(brw, rest)
			got <- fmt.Sprintf("%s|%s %v", b, rest, err)
		}))
		rc := dialRaw(t, ts.addr)
		rc.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nabcde")
		time.Sleep(10 * time.Millisecond)
		rc.send("MORE\n")
		if s := waitFor(t, got, "the hijacker's read"); s != "ab|cdeMORE\n <nil>" {
			t.Errorf("hijacker read %q", s)
		}
	})
}

// TestContextErrAfterClientGone: a handler that looks at its context
// first after the client has gone sees it cancelled, at that first look:
// the watch, which starts then, looks for what is pending before it
// returns. (net/http's background read, started with the request, sees
// the client's end asynchronously: its first look may come first, so it
// is not compared.)
func TestContextErrAfterClientGone(t *testing.T) {
	gone := make(chan struct{})
	started := make(chan struct{}, 1)
	res := make(chan error, 1)
	ts := newStackslice(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		<-gone
		res <- r.Context().Err()
	}), serverConfig{})
	rc := dialRaw(t, ts.addr)
	rc.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	waitFor(t, started, "the handler")
	rc.Close() // on loopback, the server's socket has the end when Close returns
	close(gone)
	if err := waitFor(t, res, "the handler's look"); err != context.Canceled {
		t.Errorf("context's first Err after the client went away: %v, want context.Canceled", err)
	}
}
