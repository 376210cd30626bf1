package main

import (
	"bufio"
	"context"
	"net/http"
	"os"

	"github.com/gobwas/ws"
	"github.com/stackslice/stackslice/poll"
	"github.com/stackslice/stackslice/poll/httpserve"
	"github.com/stackslice/stackslice/sched"
)

// serveStackslice is the "stackslice" server: package httpserve serves the
// upgrade request in the connection's task; after the upgrade (an
// http.Hijacker hijack by gobwas/ws) the handler starts a task for the
// WebSocket and returns (see wsHandler), and that task serves it, for the
// rest of its life, in plain blocking style: wait until the socket is readable
// (poll.Conn.WaitRead, which holds no buffer), read a frame with gobwas/ws's
// low-level reader, handle it, wait again. Parked in WaitRead, the task's
// stack is sliced away (and, idle for a second, compressed: the
// scheduler's default policy). Broadcasts are written by the publisher
// (see hub.go), split between one task per carrier; a connection that
// falls behind gets a flusher task until it catches up.
func serveStackslice(addr string) error {
	s := sched.New()
	defer s.Close()
	ln, err := poll.Listen(s, "tcp4", addr)
	if err != nil {
		return err
	}
	h := newHub(s.Carriers(), func(f func()) {
		if _, err := s.Go(func(context.Context) { f() }); err != nil {
			f() // the scheduler is closing: run it here
		}
	})
	srv := &httpserve.Server{Handler: wsHandler(h)}
	defer srv.Close()
	go srv.Serve(ln)
	return control(ln.Addr().String(), serverHooks{
		conns:   h.count,
		publish: h.publish,
		dropped: h.dropped.Load,
		tasks:   func() int { return s.Stats().Tasks },
	})
}

// inHandler (WSPUSH_IN_HANDLER=1 in the server's environment) serves the
// WebSocket in the handler's own task instead, which outlives the request.
// That is what httpserve's Hijack documents first, but it costs some 10 KB
// a connection today: while the handler runs, httpserve's frames under it
// keep the response, which keeps the connection's active part (a 4 KiB
// bufio.Reader and a 4 KiB bufio.Writer) and the request.
var inHandler = os.Getenv("WSPUSH_IN_HANDLER") == "1"

// wsHandler upgrades the request on /ws and hands the WebSocket to a new
// task of the scheduler, in which it lives on; the handler returns, and
// httpserve lets go of the request, its buffers and the handler's task.
func wsHandler(h *hub) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ws", func(w http.ResponseWriter, r *http.Request) {
		conn, rw, _, err := ws.UpgradeHTTP(r, w)
		if err != nil {
			return // UpgradeHTTP answered with the error
		}
		pc, ok := conn.(*poll.Conn)
		if !ok { // not on package poll: cannot wait without a buffer
			conn.Close()
			return
		}
		pre := buffered(rw)
		if inHandler {
			servePollWS(h, pc, pre)
			return
		}
		_, err = sched.CurrentScheduler().Go(func(context.Context) { servePollWS(h, pc, pre) })
		if err != nil {
			pc.Close()
		}
	})
	return mux
}

// servePollWS serves a WebSocket on a poll.Conn. It is a call of its own
// so that what the connection keeps while idle is this frame and those
// it calls, not the upgrade's locals.
//
//go:noinline
func servePollWS(h *hub, pc *poll.Conn, pre []byte) {
	raw, err := pc.SyscallConn()
	if err != nil {
		pc.Close()
		return
	}
	serveWS(h, pc, raw, pre, func() error { return pc.WaitRead(context.Background()) })
}

// buffered returns a copy of what the upgrade's reader holds past the
// request (nil nearly always: a client waits for the 101 before sending).
func buffered(rw *bufio.ReadWriter) []byte {
	if rw == nil || rw.Reader.Buffered() == 0 {
		return nil
	}
	b, _ := rw.Reader.Peek(rw.Reader.Buffered())
	return append([]byte(nil), b...)
}
