//go:build linux || darwin || freebsd

package httpserve

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stackslice/stackslice/poll"
	"github.com/stackslice/stackslice/sched"
)

// A conn is one connection and the task that serves it. Its life: wait for
// readability holding no buffer (idle), borrow an active part with a
// reader and a writer, serve the requests that arrived (several when the
// client pipelines), give the active part back, and wait again; until the
// client closes, a limit is hit, the server shuts down, or a handler
// hijacks the connection.
//
// A conn is what an idle connection keeps (with its task's saved frames
// and poll's Conn): 80 bytes, so everything a request needs is in the
// pooled active part.
type conn struct {
	ls *listening
	pc *poll.Conn
	tc *tls.Conn // over pc, for TLS; nil for plain HTTP

	prev, next *conn // in srv's list of connections, under srv.mu

	// state is stateActive, stateIdle, stateClosed or stateHijacked.
	// Shutdown closes an idle connection by moving it from stateIdle to
	// stateClosed; the task leaves stateIdle only by the same kind of
	// swap, so that one of the two wins.
	state    atomic.Int32
	tracked  bool // in the list (under srv.mu)
	lastPOST bool // the last request was a POST (see readRequest)

	tlsState *tls.ConnectionState
	raddr    string // the client's address (see remoteAddr)
	// ap holds the active part while requests are served (nil while
	// idle). Only c's task changes it; Close reads it from elsewhere.
	ap atomic.Pointer[active]
}

// listening is what the connections of one Serve call share.
type listening struct {
	srv   *Server
	inner *poll.Server // the poll.Server whose tasks serve them
	conf  *tls.Config  // nil for plain HTTP
}

// active is what a connection holds while it serves requests, lent by a
// pool: the buffered reader and writer, and the client watch's state.
type active struct {
	c      *conn
	s      *sched.Scheduler
	bufr   *bufio.Reader // over (*connReader)(a)
	bufw   *bufio.Writer // over (*errorWriter)(a)
	remain int64         // bytes the reader may still read (MaxHeaderBytes)
	werr   error         // the first write error

	// The client watch (watch.go), under mu. hasByte and byteBuf hold a
	// byte the watch (or tlsBuffered) read: part of the next request.
	mu           sync.Mutex
	cur          *response // the request being served
	watching     bool
	watchAborted bool
	hasByte      bool
	byteBuf      [1]byte
	watchDone    *sched.Chan[struct{}]

	// pre holds the bytes readFirst took, which the reader gives out
	// first (all at its first fill: pre is never longer than bufr).
	pre    []byte
	preBuf [firstReadSize]byte
}

func (c *conn) srv() *Server { return c.ls.srv }

// rwc is the connection the server reads and writes: the tls.Conn or the
// poll.Conn.
func (c *conn) rwc() net.Conn {
	if c.tc != nil {
		return c.tc
	}
	return c.pc
}

const (
	stateActive int32 = iota
	stateIdle
	stateClosed
	stateHijacked
)

// aLongTimeAgo is a deadline in the past, which wakes a blocked read at once.
var aLongTimeAgo = time.Unix(1, 0)

// serve runs the connection to its end. Nothing here runs in a deferred
// call after a panic: a task cannot park there (sched's limits), and the
// end of a connection writes and waits.
func (c *conn) serve(ctx context.Context) {
	if c.tc != nil && (!c.awaitHello() || !c.handshake(ctx)) {
		c.tc.Close()
		return
	}
	first := true
	for {
		if !c.awaitRequest(first) {
			c.close()
			return
		}
		first = false
		if !c.serveArrived(ctx) {
			return
		}
	}
}

// awaitHello waits, idle as for a request, until a TLS client sends its
// hello, within the handshake timeout: until then Shutdown closes the
// connection, as it closes one that waits for a request. It reports false
// when the connection should close.
func (c *conn) awaitHello() bool {
	if d := c.srv().tlsHandshakeTimeout(); d > 0 {
		c.pc.SetReadDeadline(time.Now().Add(d))
	}
	c.state.Store(stateIdle)
	if c.srv().shuttingDown() || c.pc.WaitRead(nil) != nil {
		return false
	}
	return c.state.CompareAndSwap(stateIdle, stateActive)
}

// handshake runs the TLS handshake within the server's timeouts, as
// net/http's does, and logs a failure.
func (c *conn) handshake(ctx context.Context) bool {
	if d := c.srv().tlsHandshakeTimeout(); d > 0 {
		dl := time.Now().Add(d)
		c.tc.SetReadDeadline(dl)
		c.tc.SetWriteDeadline(dl)
	}
	if err := c.tc.HandshakeContext(ctx); err != nil {
		var re tls.RecordHeaderError
		if errors.As(err, &re) && re.Conn != nil && tlsRecordHeaderLooksLikeHTTP(re.RecordHeader) {
			io.WriteString(re.Conn, "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n")
			c.srv().logf("http: TLS handshake error from %s: client sent an HTTP request to an HTTPS server", c.pc.RemoteAddr())
			return false
		}
		c.srv().logf("http: TLS handshake error from %s: %v", c.pc.RemoteAddr(), err)
		return false
	}
	c.tc.SetWriteDeadline(time.Time{})
	st := c.tc.ConnectionState()
	c.tlsState = &st
	return true
}

func tlsRecordHeaderLooksLikeHTTP(hdr [5]byte) bool {
	switch string(hdr[:]) {
	case "GET /", "HEAD ", "POST ", "PUT /", "OPTIO":
		return true
	}
	return false
}

// awaitRequest waits, holding no buffer, until the client sends something
// (the first request, or the next on a kept-alive connection) within the
// header timeout (first) or the idle timeout. It reports false when the
// connection should close: timeout, the client's end, or Shutdown.
//
//go:noinline
func (c *conn) awaitRequest(first bool) bool {
	srv := c.srv()
	d := srv.idleTimeout()
	if first {
		d = srv.readHeaderTimeout()
	}
	var deadline time.Time
	if d > 0 {
		deadline = time.Now().Add(d)
	}
	if d > 0 || !first {
		c.rwc().SetReadDeadline(deadline)
	}
	c.state.Store(stateIdle)
	if srv.shuttingDown() {
		return false
	}
	if c.tc != nil {
		if !c.tlsBuffered(deadline) && c.pc.WaitRead(nil) != nil {
			return false
		}
	} else if !c.readFirst() {
		return false
	}
	if c.state.Load() != stateIdle {
		return false // Shutdown closed it
	}
	// Still idle while the header is read (see serveArrived).
	if !first {
		c.setHeaderDeadline()
	}
	return true
}

// firstReadPool lends readFirst its buffer for the one read.
var firstReadPool = poll.NewBufferPool(firstReadSize)

// firstReadSize is how much of a request the read that ends an idle wait
// takes (a request's header is usually smaller; the rest is read as
// usual).
const firstReadSize = 1 << 10

// readFirst waits for the client's bytes holding no buffer, as WaitRead
// does, and takes the first of them: it borrows the active part and
// copies them into it. That is one system call fewer per request than
// WaitRead followed by a read (WaitRead looks again after a wake-up, to
// return only when there is data; ReadWith's read does that looking).
func (c *conn) readFirst() bool {
	err := c.pc.ReadWith(firstReadPool, func(p []byte) error {
		c.borrow()
		a := c.ap.Load()
		a.pre = a.preBuf[:copy(a.preBuf[:], p)]
		return nil
	})
	return err == nil
}

func (c *conn) setHeaderDeadline() {
	if d := c.srv().readHeaderTimeout(); d > 0 {
		c.rwc().SetReadDeadline(time.Now().Add(d))
	} else {
		c.rwc().SetReadDeadline(time.Time{})
	}
}

// tlsBuffered reports whether a TLS connection has plaintext (or an error)
// waiting in the tls.Conn, where the socket's readability cannot show it:
// a read with a deadline in the past returns it, or times out at once.
// The byte read is kept in the active part, which the connection then
// keeps for the request.
func (c *conn) tlsBuffered(deadline time.Time) bool {
	if c.tc == nil {
		return false
	}
	c.borrow()
	a := c.ap.Load()
	c.tc.SetReadDeadline(aLongTimeAgo)
	n, err := c.tc.Read(a.byteBuf[:])
	c.tc.SetReadDeadline(deadline)
	if n == 1 {
		a.hasByte = true
		return true
	}
	var ne net.Error
	if err != nil && !(errors.As(err, &ne) && ne.Timeout()) {
		return true // the next read reports it
	}
	c.release()
	return false
}

// serveArrived serves the requests that have arrived, with a borrowed
// active part, until none is left buffered: it then gives the part back
// and reports true (wait for the next). It reports false when the
// connection is over: closed here, or hijacked.
func (c *conn) serveArrived(ctx context.Context) bool {
	if c.ap.Load() == nil {
		c.borrow()
	}
	srv := c.srv()
	for {
		w, err := c.readRequest(ctx)
		// The connection stays idle until a request's header is read,
		// as in net/http, so that Shutdown closes one whose client
		// stalls mid-header; it is active from now on.
		if srv.shuttingDown() || !c.state.CompareAndSwap(stateIdle, stateActive) {
			// As net/http: a request read during Shutdown is dropped;
			// the client sees the connection close and may retry.
			c.close()
			return false
		}
		if err != nil {
			c.replyError(err)
			c.close()
			return false
		}
		if !c.serveRequest(w) {
			return false
		}
		if a := c.ap.Load(); a.bufr.Buffered() == 0 && !a.hasByte && len(a.pre) == 0 {
			c.release()
			return true
		}
		// Pipelined: the next request is here already. Idle until its
		// header is read, as when waiting.
		c.state.Store(stateIdle)
		if srv.shuttingDown() {
			c.close()
			return false
		}
		c.setHeaderDeadline()
	}
}

// serveRequest runs the handler for w's request and finishes the
// response. It reports whether the connection goes on.
func (c *conn) serveRequest(w *response) bool {
	if w.expectsContinue() {
		w.canWriteContinue.Store(true)
	} else if expect := w.req.Header.Get("Expect"); expect != "" && !hasToken(expect, "100-continue") {
		w.sendExpectationFailed()
		c.close()
		return false
	}

	c.ap.Load().setCurrent(w)
	if w.parent.ctx.Err() != nil {
		// The task was cancelled (Close, or Shutdown's context ended)
		// before the server could see this request: its context ends too.
		w.cancel()
	}
	// No reference to the active part across the handler: one that
	// hijacks the connection and serves it on in this task must not
	// keep the part alive (its buffers are the hijacker's to keep or
	// drop).
	ok := c.runHandler(w)
	w.cancel()
	if c.isHijacked() {
		return false
	}
	a := c.ap.Load()
	a.setCurrent(nil)
	if !ok {
		// The handler panicked: the response is cut off where it was.
		w.handlerDone.Store(true)
		w.disableWriteContinue()
		a.stopWatch()
		if w.body != nil {
			w.body.finish()
		}
		c.close()
		return false
	}
	w.finishRequest()
	if c.srv().WriteTimeout > 0 {
		c.rwc().SetWriteDeadline(time.Time{})
	}
	if !w.shouldReuseConnection() {
		if w.requestBodyLimitHit || w.closedRequestBodyEarly() {
			c.closeWriteAndWait()
		}
		c.close()
		return false
	}
	if !c.srv().doKeepAlives() {
		c.close()
		return false
	}
	return true
}

// runHandler calls the handler and recovers its panic, logged with its
// stack as net/http logs it (http.ErrAbortHandler silently). It reports
// whether the handler returned normally.
func (c *conn) runHandler(w *response) (ok bool) {
	defer func() {
		if ok {
			return
		}
		if err := recover(); err != nil && err != http.ErrAbortHandler {
			const size = 64 << 10
			buf := make([]byte, size)
			buf = buf[:runtime.Stack(buf, false)]
			c.srv().logf("http: panic serving %v: %v\n%s", w.req.RemoteAddr, err, buf)
		}
	}()
	c.srv().handler(w.req).ServeHTTP(w, w.req)
	return true
}

var errTooLarge = errors.New("http: request too large")

// statusError is a request error answered with its code and text.
type statusError struct {
	code int
	text string
}

func (e statusError) Error() string { return http.StatusText(e.code) + ": " + e.text }

func badRequestError(e string) error { return statusError{http.StatusBadRequest, e} }

// readRequest reads the next request's header and makes its response,
// as net/http's conn.readRequest does: limits, deadlines and the checks
// http.ReadRequest leaves to the server.
func (c *conn) readRequest(ctx context.Context) (w *response, err error) {
	srv, a := c.srv(), c.ap.Load()
	t0 := time.Now()
	var wholeReqDeadline time.Time // zero: none
	if d := srv.ReadTimeout; d > 0 {
		wholeReqDeadline = t0.Add(d)
	}
	if d := srv.WriteTimeout; d > 0 {
		defer func() { c.rwc().SetWriteDeadline(time.Now().Add(d)) }()
	}

	a.remain = srv.initialReadLimitSize()
	if c.lastPOST {
		// RFC 7230, section 3.5: tolerate a CRLF after a POST body.
		peek, _ := a.bufr.Peek(4) // ReadRequest gets the error, if any
		a.bufr.Discard(numLeadingCRorLF(peek))
	}
	req, err := http.ReadRequest(a.bufr)
	if err != nil {
		if a.remain <= 0 {
			return nil, errTooLarge
		}
		return nil, err
	}
	if !http1ServerSupportsRequest(req) {
		return nil, statusError{http.StatusHTTPVersionNotSupported, "unsupported protocol version"}
	}
	c.lastPOST = req.Method == "POST"
	a.remain = math.MaxInt64

	// http.ReadRequest has already refused more than one Host header and
	// moved Host into req.Host (taken from the URL if absolute). That
	// leaves cases net/http's server tells apart and this one cannot: see
	// the package doc.
	isH2Upgrade := req.Method == "PRI" && len(req.Header) == 0 && req.URL.Path == "*" && req.Proto == "HTTP/2.0"
	if req.ProtoAtLeast(1, 1) && req.Host == "" && !isH2Upgrade && req.Method != "CONNECT" {
		return nil, badRequestError("missing required Host header")
	}
	if req.URL.Host == "" && req.Host != "" && !validHostHeader(req.Host) {
		return nil, badRequestError("malformed Host header")
	}
	for k, vv := range req.Header {
		if !validHeaderFieldName(k) {
			return nil, badRequestError("invalid header name")
		}
		for _, v := range vv {
			if !validHeaderFieldValue(v) {
				return nil, badRequestError("invalid header value")
			}
		}
	}

	w = &response{
		conn:             c,
		a:                a,
		handlerHeader:    make(http.Header),
		contentLength:    -1,
		wants10KeepAlive: req.ProtoMajor == 1 && req.ProtoMinor == 0 && hasToken(req.Header.Get("Connection"), "keep-alive"),
		wantsClose:       req.Close || hasToken(req.Header.Get("Connection"), "close"),
		closeAfterReply:  isH2Upgrade,
	}
	w.newContext(ctx)
	req = req.WithContext(&w.ctx)
	req.RemoteAddr = c.raddr
	req.TLS = c.tlsState
	if req.Body != http.NoBody {
		w.body = &body{w: w, rc: req.Body}
		req.Body = w.body
	}
	w.req = req
	w.cw.res = w
	w.w = newBufioWriterSize(&w.cw, bufferBeforeChunkingSize)
	if !wholeReqDeadline.IsZero() || srv.readHeaderTimeout() > 0 {
		c.rwc().SetReadDeadline(wholeReqDeadline)
	}
	return w, nil
}

// http1ServerSupportsRequest reports whether the request is HTTP/1.x, or
// the HTTP/2 preface that net/http also hands to handlers.
func http1ServerSupportsRequest(req *http.Request) bool {
	if req.ProtoMajor == 1 {
		return true
	}
	return req.ProtoMajor == 2 && req.ProtoMinor == 0 && req.Method == "PRI" && req.RequestURI == "*"
}

// replyError answers a request that could not be read, with net/http's
// status and words; a plain end of stream or read error gets no answer.
func (c *conn) replyError(err error) {
	const errorHeaders = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"
	rwc := c.rwc()
	switch {
	case err == errTooLarge:
		const publicErr = "431 Request Header Fields Too Large"
		fmt.Fprint(rwc, "HTTP/1.1 "+publicErr+errorHeaders+publicErr)
		c.closeWriteAndWait()
	case isUnsupportedTEError(err):
		code := http.StatusNotImplemented
		fmt.Fprintf(rwc, "HTTP/1.1 %d %s%sUnsupported transfer encoding", code, http.StatusText(code), errorHeaders)
	case isCommonNetReadError(err):
		// The client went away, or timed out: nothing to say.
	default:
		var se statusError
		if errors.As(err, &se) {
			fmt.Fprintf(rwc, "HTTP/1.1 %d %s: %s%s%d %s: %s", se.code, http.StatusText(se.code), se.text, errorHeaders, se.code, http.StatusText(se.code), se.text)
			return
		}
		const publicErr = "400 Bad Request"
		fmt.Fprint(rwc, "HTTP/1.1 "+publicErr+errorHeaders+publicErr)
	}
}

// isUnsupportedTEError reports whether http.ReadRequest refused the
// request's Transfer-Encoding (net/http answers 501 then, not 400). Its
// error type is unexported: the type's name is what can be checked.
func isUnsupportedTEError(err error) bool {
	return fmt.Sprintf("%T", err) == "*http.unsupportedTEError"
}

func isCommonNetReadError(err error) bool {
	if err == io.EOF {
		return true
	}
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return true
	}
	if oe, ok := err.(*net.OpError); ok && oe.Op == "read" {
		return true
	}
	return false
}

// activePool lends active parts, each with its reader and writer.
var activePool sync.Pool

// borrow gives the connection an active part for a burst of requests.
func (c *conn) borrow() {
	a, _ := activePool.Get().(*active)
	if a == nil {
		a = new(active)
		a.bufr = bufio.NewReaderSize((*connReader)(a), 4<<10)
		a.bufw = bufio.NewWriterSize((*errorWriter)(a), 4<<10)
	}
	a.mu.Lock()
	a.c = c
	a.s = sched.CurrentScheduler()
	a.mu.Unlock()
	c.ap.Store(a)
	lentActive.Add(1)
}

// release gives the active part back, the connection going idle or
// closing: nothing is left in its buffers (bufr is empty; bufw was
// flushed, or the connection is closing).
func (c *conn) release() {
	a := c.ap.Load()
	if brokenRelease { // negative control (test builds only): keep it
		return
	}
	lentActive.Add(-1)
	c.ap.Store(nil)
	a.bufr.Reset((*connReader)(a))
	a.bufw.Reset((*errorWriter)(a))
	a.mu.Lock()
	a.c, a.s, a.remain, a.werr, a.cur = nil, nil, 0, nil, nil
	a.watching, a.watchAborted, a.hasByte, a.watchDone, a.pre = false, false, false, nil, nil
	a.mu.Unlock()
	activePool.Put(a)
}

// close flushes what is buffered and closes the connection.
func (c *conn) close() {
	if a := c.ap.Load(); a != nil {
		a.bufw.Flush()
		c.release()
	}
	c.rwc().Close()
}

// rstAvoidanceDelay is how long closeWriteAndWait lets the client read the
// response before the close, which may send a TCP RST that would destroy
// the response in the client's buffers (net/http's figure).
const rstAvoidanceDelay = 500 * time.Millisecond

// closeWriteAndWait flushes, half-closes, and waits a little before the
// connection is closed, so that the client reads the response even though
// it has sent more than the server read (a body too big, a header over
// MaxHeaderBytes).
func (c *conn) closeWriteAndWait() {
	if a := c.ap.Load(); a != nil {
		a.bufw.Flush()
	}
	if c.tc != nil {
		c.tc.CloseWrite()
	} else {
		c.pc.CloseWrite()
	}
	sched.Sleep(rstAvoidanceDelay)
}

func (c *conn) isHijacked() bool { return c.state.Load() == stateHijacked }

// hijack hands the connection over, as net/http's hijackLocked does: the
// watch stops, the poll.Server lets go of the connection, deadlines are
// cleared, and the reader keeps what the client sent past the request.
// The active part goes with it: its reader and writer are the hijacker's.
func (c *conn) hijack() (net.Conn, *bufio.ReadWriter, error) {
	if c.isHijacked() {
		return nil, nil, http.ErrHijacked
	}
	a := c.ap.Load()
	a.stopWatch()
	if err := c.ls.inner.Detach(c.pc); err != nil {
		return nil, nil, err
	}
	a.mu.Lock()
	c.state.Store(stateHijacked) // no watch starts from now on
	a.mu.Unlock()
	c.srv().untrack(c)
	rwc := c.rwc()
	rwc.SetDeadline(time.Time{})
	if a.hasByte {
		if _, err := a.bufr.Peek(a.bufr.Buffered() + 1); err != nil {
			return nil, nil, fmt.Errorf("unexpected Peek failure reading buffered byte: %v", err)
		}
	}
	a.remain = math.MaxInt64
	a.bufw.Reset(rwc)
	buf := bufio.NewReadWriter(a.bufr, a.bufw)
	c.ap.Store(nil) // not given back to the pool
	lentActive.Add(-1)
	return rwc, buf, nil
}

// lentActive counts the active parts lent out (for the tests: an idle
// connection holds none).
var lentActive atomic.Int64

// connReader is the active part as the io.Reader under bufr: it gives back
// a byte the watch read, enforces the header limit, and cancels the
// request when the client goes away.
type connReader active

func (cr *connReader) Read(p []byte) (int, error) {
	a := (*active)(cr)
	c := a.c
	a.mu.Lock()
	if a.watching {
		a.mu.Unlock()
		panic("httpserve: concurrent Body.Read call")
	}
	a.mu.Unlock()
	if a.remain <= 0 {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	if int64(len(p)) > a.remain {
		p = p[:a.remain]
	}
	if len(a.pre) > 0 {
		n := copy(p, a.pre)
		a.pre = a.pre[n:]
		a.remain -= int64(n)
		return n, nil
	}
	if a.hasByte {
		p[0] = a.byteBuf[0]
		a.hasByte = false
		return 1, nil
	}
	n, err := c.rwc().Read(p)
	if err != nil && !c.isHijacked() {
		a.cancelCurrent() // the client went away, or the body timed out
	}
	a.remain -= int64(n)
	return n, err
}

func (a *active) setCurrent(w *response) {
	a.mu.Lock()
	a.cur = w
	a.mu.Unlock()
}

// cancelCurrent cancels the context of the request being served, if any.
func (a *active) cancelCurrent() { a.cancelFor(a.c) }

// cancelFor cancels the request being served if a is c's: a part read
// from outside c's task may have gone back to the pool meanwhile, and
// to another connection.
func (a *active) cancelFor(c *conn) {
	a.mu.Lock()
	var w *response
	if a.c == c {
		w = a.cur
	}
	a.mu.Unlock()
	if w != nil {
		w.cancel()
	}
}

// errorWriter is the active part as the io.Writer under bufw: it keeps the
// first write error, after which the connection is not reused.
type errorWriter active

func (ew *errorWriter) Write(p []byte) (int, error) {
	a := (*active)(ew)
	n, err := a.c.rwc().Write(p)
	if err != nil && a.werr == nil {
		a.werr = err
		a.cancelCurrent()
	}
	return n, err
}

// bufioWriter2kPool lends the writers that hold the start of a response
// body (bufferBeforeChunkingSize).
var bufioWriter2kPool sync.Pool

func newBufioWriterSize(w io.Writer, size int) *bufio.Writer {
	if v := bufioWriter2kPool.Get(); v != nil {
		bw := v.(*bufio.Writer)
		bw.Reset(w)
		return bw
	}
	return bufio.NewWriterSize(w, size)
}

func putBufioWriter(bw *bufio.Writer) {
	bw.Reset(nil)
	bufioWriter2kPool.Put(bw)
}
