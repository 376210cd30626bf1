// Package httpserve is an HTTP/1.1 server on stackslice: any http.Handler,
// served over a poll.Listener, each connection a task of the listener's
// scheduler in which the handler runs. A connection that waits for its
// next request (a keep-alive client between requests) holds no goroutine
// and no buffer: it waits for readability with none, and borrows a pooled
// reader and writer only while a request is read and answered. So a
// process holds far more idle HTTP connections than with net/http, which
// keeps a goroutine and its buffers for each. A handler that waits inside
// a request (a long poll, a stream of server-sent events) keeps the
// request's reader and writer (about 10 KiB) until it returns, as it would
// with net/http; one that hijacks the connection decides what it keeps.
//
//	s := sched.New()
//	ln, err := poll.Listen(s, "tcp", "127.0.0.1:8080")
//	...
//	srv := &httpserve.Server{Handler: mux, IdleTimeout: 2 * time.Minute}
//	err = srv.Serve(ln) // http.ErrServerClosed after Shutdown
//
// # What it serves, as net/http does
//
// Server has net/http's fields and methods for what it does, and answers
// as net/http's server does, request for request (its tests run every
// case against both): HTTP/1.0 and 1.1, keep-alive and "Connection:
// close", pipelined requests answered in order, Content-Length and chunked
// bodies both ways, trailers, HEAD, "Expect: 100-continue", automatic
// Content-Type and Date, 1xx responses, "OPTIONS *", request bodies the
// handler left unread discarded up to 256 KiB before the next request,
// ReadTimeout, ReadHeaderTimeout, WriteTimeout, IdleTimeout and
// MaxHeaderBytes (431 when over), 400 and a closed connection for a
// malformed request. The ResponseWriter is an http.Flusher, an
// http.Hijacker and an io.ReaderFrom, and http.ResponseController's
// methods work (Flush, Hijack, SetReadDeadline, SetWriteDeadline,
// EnableFullDuplex).
//
// A request's context ends when the client goes away (found by a small
// watch task started the first time the context's Done or Err is called),
// when the handler returns, and when the server closes. A handler panic is
// recovered and logged with its stack (http.ErrAbortHandler silently); the
// connection closes and the others go on. Shutdown closes the idle
// connections and waits for the active ones; Close closes them all.
//
// Handlers are plain blocking code: they run in a task, where the waits of
// packages sched and poll park the task, and any other blocking call (a
// database driver on package net, time.Sleep, a mutex) is safe too: the
// scheduler lends the blocked task's carrier to a stand-in (see sched).
//
// # What it does not do
//
//   - HTTP/2 is not served: ServeTLS offers only "http/1.1" by ALPN, so
//     clients use HTTP/1.1. A service that needs HTTP/2 serves it with
//     net/http (on a net.Listener, or a poll.Listener, which is one),
//     possibly behind the same load balancer or on another port.
//   - http.CloseNotifier is not implemented (it is deprecated; the
//     request's context does its work), nor the unexported interface
//     behind http.MaxBytesReader's "Connection: close" on a body too big
//     (the limit itself works).
//   - The request context's ServerContextKey value is this package's
//     *Server (ServerContextKey here), not an *http.Server.
//   - There is no ConnState hook, BaseContext or ConnContext: the
//     context of a request comes from its connection's task.
//   - A request with an absolute-form URL and no Host header, and one
//     with an empty Host header, are told apart from each other by
//     net/http and not here (http.ReadRequest removes the header): the
//     first is served, the second refused with 400 where net/http does
//     the reverse.
package httpserve
