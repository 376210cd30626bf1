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
// readability holding no buffer (idle), borrow a reader and writer, serve
// the requests that arrived (several when the client pipelines), give the
// buffers back, and wait again; until the client closes, a limit is hit,
// the server shuts down, or a handler hijacks the connection.
type conn struct {
	srv   *Server
	inner *poll.Server // the poll.Server whose task serves this connection
	pc    *poll.Conn
	rwc   net.Conn // pc, or a *tls.Conn over it
	s     *sched.Scheduler

	// state is stateActive, stateIdle, stateClosed or stateHijacked.
	// Shutdown closes an idle connection by moving it from stateIdle to
	// stateClosed; the task leaves stateIdle only by the same kind of
	// swap, so that one of the two wins.
	state atomic.Int32

	prev, next *conn // in srv's list of connections, under srv.mu
	tracked    bool  // in the list (under srv.mu)

	// What follows is used while requests are served; bufr and bufw are
	// nil while the connection is idle.
	bufr       *bufio.Reader // over (*connReader)(c)
	bufw       *bufio.Writer // over (*errorWriter)(c)
	remain     int64         // bytes the reader may still read (MaxHeaderBytes)
	werr       error         // the first write error
	lastMethod string
	tlsState   *tls.ConnectionState

	// The client watch (watch.go), under mu. hasByte and byteBuf hold a
	// byte the watch read, part of the next request.
	mu           sync.Mutex
	cur          *response // the request being served
	watching     bool
	watchAborted bool
	watchDone    *sched.Chan[struct{}]
	hasByte      bool
	byteBuf      [1]byte
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
	if tc, ok := c.rwc.(*tls.Conn); ok && !c.handshake(ctx, tc) {
		c.rwc.Close()
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

// handshake runs the TLS handshake within the server's timeouts, as
// net/http's does, and logs a failure.
func (c *conn) handshake(ctx context.Context, tc *tls.Conn) bool {
	if d := c.srv.tlsHandshakeTimeout(); d > 0 {
		dl := time.Now().Add(d)
		c.rwc.SetReadDeadline(dl)
		c.rwc.SetWriteDeadline(dl)
	}
	if err := tc.HandshakeContext(ctx); err != nil {
		var re tls.RecordHeaderError
		if errors.As(err, &re) && re.Conn != nil && tlsRecordHeaderLooksLikeHTTP(re.RecordHeader) {
			io.WriteString(re.Conn, "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n")
			c.srv.logf("http: TLS handshake error from %s: client sent an HTTP request to an HTTPS server", c.pc.RemoteAddr())
			return false
		}
		c.srv.logf("http: TLS handshake error from %s: %v", c.pc.RemoteAddr(), err)
		return false
	}
	c.rwc.SetWriteDeadline(time.Time{})
	st := tc.ConnectionState()
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
	d := c.srv.idleTimeout()
	if first {
		d = c.srv.readHeaderTimeout()
	}
	var deadline time.Time
	if d > 0 {
		deadline = time.Now().Add(d)
	}
	c.rwc.SetReadDeadline(deadline)
	c.state.Store(stateIdle)
	if c.srv.shuttingDown() {
		return false
	}
	if !c.tlsBuffered(deadline) && c.pc.WaitRead(nil) != nil {
		return false
	}
	if !c.state.CompareAndSwap(stateIdle, stateActive) {
		return false // Shutdown closed it
	}
	if !first {
		c.setHeaderDeadline()
	}
	return true
}

func (c *conn) setHeaderDeadline() {
	if d := c.srv.readHeaderTimeout(); d > 0 {
		c.rwc.SetReadDeadline(time.Now().Add(d))
	} else {
		c.rwc.SetReadDeadline(time.Time{})
	}
}

// tlsBuffered reports whether a TLS connection has plaintext (or an error)
// waiting in the tls.Conn, where the socket's readability cannot show it:
// a read with a deadline in the past returns it, or times out at once.
// A byte read is kept in hasByte, as a byte the client watch reads is.
func (c *conn) tlsBuffered(deadline time.Time) bool {
	tc, ok := c.rwc.(*tls.Conn)
	if !ok || c.hasByte {
		return c.hasByte
	}
	tc.SetReadDeadline(aLongTimeAgo)
	n, err := tc.Read(c.byteBuf[:])
	tc.SetReadDeadline(deadline)
	if n == 1 {
		c.hasByte = true
		return true
	}
	var ne net.Error
	return err != nil && !(errors.As(err, &ne) && ne.Timeout())
}

// serveArrived serves the requests that have arrived, with borrowed
// buffers, until none is left buffered: it then gives the buffers back and
// reports true (wait for the next). It reports false when the connection
// is over: closed here, or hijacked.
func (c *conn) serveArrived(ctx context.Context) bool {
	c.borrow()
	for {
		w, err := c.readRequest(ctx)
		if c.srv.shuttingDown() {
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
		if c.bufr.Buffered() == 0 && !c.hasByte {
			c.release()
			return true
		}
		// Pipelined: the next request is here already. Idle for an
		// instant, so that Shutdown can close the connection between
		// requests as it would when waiting.
		c.state.Store(stateIdle)
		if c.srv.shuttingDown() || !c.state.CompareAndSwap(stateIdle, stateActive) {
			c.close()
			return false
		}
		c.setHeaderDeadline()
	}
}

// serveRequest runs the handler for w's request and finishes the
// response. It reports whether the connection goes on.
func (c *conn) serveRequest(w *response) bool {
	req := w.req
	if hasToken(req.Header.Get("Expect"), "100-continue") {
		if req.ProtoAtLeast(1, 1) && req.ContentLength != 0 {
			w.canWriteContinue.Store(true)
		}
	} else if req.Header.Get("Expect") != "" {
		w.sendExpectationFailed()
		c.close()
		return false
	}

	c.setCurrent(w)
	ok := c.runHandler(w)
	w.cancel()
	if c.isHijacked() {
		return false
	}
	c.setCurrent(nil)
	if !ok {
		// The handler panicked: the response is cut off where it was.
		w.handlerDone.Store(true)
		w.disableWriteContinue()
		c.stopWatch()
		if w.body != nil {
			w.body.finish()
		}
		c.close()
		return false
	}
	w.finishRequest()
	c.rwc.SetWriteDeadline(time.Time{})
	if !w.shouldReuseConnection() {
		if w.requestBodyLimitHit || w.closedRequestBodyEarly() {
			c.closeWriteAndWait()
		}
		c.close()
		return false
	}
	if !c.srv.doKeepAlives() {
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
			c.srv.logf("http: panic serving %v: %v\n%s", w.req.RemoteAddr, err, buf)
		}
	}()
	c.srv.handler(w.req).ServeHTTP(w, w.req)
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
	t0 := time.Now()
	var wholeReqDeadline time.Time // zero: none
	if d := c.srv.ReadTimeout; d > 0 {
		wholeReqDeadline = t0.Add(d)
	}
	if d := c.srv.WriteTimeout; d > 0 {
		defer func() { c.rwc.SetWriteDeadline(time.Now().Add(d)) }()
	}

	c.remain = c.srv.initialReadLimitSize()
	if c.lastMethod == "POST" {
		// RFC 7230, section 3.5: tolerate a CRLF after a POST body.
		peek, _ := c.bufr.Peek(4) // ReadRequest gets the error, if any
		c.bufr.Discard(numLeadingCRorLF(peek))
	}
	req, err := http.ReadRequest(c.bufr)
	if err != nil {
		if c.remain <= 0 {
			return nil, errTooLarge
		}
		return nil, err
	}
	if !http1ServerSupportsRequest(req) {
		return nil, statusError{http.StatusHTTPVersionNotSupported, "unsupported protocol version"}
	}
	c.lastMethod = req.Method
	c.remain = math.MaxInt64

	// http.ReadRequest has already refused more than one Host header and
	// moved Host into req.Host (taken from the URL if absolute). That
	// leaves one case net/http's server refuses and this one cannot see:
	// an absolute-form URL without a Host header.
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
		handlerHeader:    make(http.Header),
		contentLength:    -1,
		wants10KeepAlive: req.ProtoMajor == 1 && req.ProtoMinor == 0 && hasToken(req.Header.Get("Connection"), "keep-alive"),
		wantsClose:       req.Close || hasToken(req.Header.Get("Connection"), "close"),
		closeAfterReply:  isH2Upgrade,
	}
	w.newContext(ctx)
	req = req.WithContext(w.ctx)
	req.RemoteAddr = c.pc.RemoteAddr().String()
	req.TLS = c.tlsState
	if req.Body != http.NoBody {
		w.body = &body{w: w, rc: req.Body}
		req.Body = w.body
	}
	w.req = req
	w.cw.res = w
	w.w = newBufioWriterSize(&w.cw, bufferBeforeChunkingSize)
	c.rwc.SetReadDeadline(wholeReqDeadline)
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
	switch {
	case err == errTooLarge:
		const publicErr = "431 Request Header Fields Too Large"
		fmt.Fprint(c.rwc, "HTTP/1.1 "+publicErr+errorHeaders+publicErr)
		c.closeWriteAndWait()
	case isUnsupportedTEError(err):
		code := http.StatusNotImplemented
		fmt.Fprintf(c.rwc, "HTTP/1.1 %d %s%sUnsupported transfer encoding", code, http.StatusText(code), errorHeaders)
	case isCommonNetReadError(err):
		// The client went away, or timed out: nothing to say.
	default:
		var se statusError
		if errors.As(err, &se) {
			fmt.Fprintf(c.rwc, "HTTP/1.1 %d %s: %s%s%d %s: %s", se.code, http.StatusText(se.code), se.text, errorHeaders, se.code, http.StatusText(se.code), se.text)
			return
		}
		const publicErr = "400 Bad Request"
		fmt.Fprint(c.rwc, "HTTP/1.1 "+publicErr+errorHeaders+publicErr)
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

// borrow takes a reader and a writer from the pools for a burst of requests.
func (c *conn) borrow() {
	c.bufr = newBufioReader((*connReader)(c))
	c.bufw = newBufioWriterSize((*errorWriter)(c), 4<<10)
}

// release gives the buffers back, the connection going idle: nothing is
// buffered in them (bufr is empty; bufw was flushed).
func (c *conn) release() {
	putBufioReader(c.bufr)
	putBufioWriter(c.bufw)
	c.bufr, c.bufw = nil, nil
}

// close flushes what is buffered and closes the connection.
func (c *conn) close() {
	if c.bufw != nil {
		c.bufw.Flush()
		c.release()
	}
	c.rwc.Close()
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
	if c.bufw != nil {
		c.bufw.Flush()
	}
	if cw, ok := c.rwc.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	sched.Sleep(rstAvoidanceDelay)
}

func (c *conn) isHijacked() bool { return c.state.Load() == stateHijacked }

// hijack hands the connection over, as net/http's hijackLocked does: the
// watch stops, the poll.Server lets go of the connection, deadlines are
// cleared, and the reader keeps what the client sent past the request.
func (c *conn) hijack() (net.Conn, *bufio.ReadWriter, error) {
	if c.isHijacked() {
		return nil, nil, http.ErrHijacked
	}
	c.stopWatch()
	if err := c.inner.Detach(c.pc); err != nil {
		return nil, nil, err
	}
	c.mu.Lock()
	c.state.Store(stateHijacked) // no watch starts from now on
	c.mu.Unlock()
	c.srv.untrack(c)
	c.rwc.SetDeadline(time.Time{})
	if c.hasByte {
		if _, err := c.bufr.Peek(c.bufr.Buffered() + 1); err != nil {
			return nil, nil, fmt.Errorf("unexpected Peek failure reading buffered byte: %v", err)
		}
	}
	c.remain = math.MaxInt64
	c.bufw.Reset(c.rwc)
	buf := bufio.NewReadWriter(c.bufr, c.bufw)
	c.bufr, c.bufw = nil, nil // the hijacker's now
	return c.rwc, buf, nil
}

// connReader is the conn as the io.Reader under bufr: it gives back a
// byte the watch read, enforces the header limit, and cancels the request
// when the client goes away.
type connReader conn

func (cr *connReader) Read(p []byte) (int, error) {
	c := (*conn)(cr)
	c.mu.Lock()
	if c.watching {
		c.mu.Unlock()
		if c.isHijacked() {
			panic("httpserve: Body.Read after the connection was hijacked: the original Request must not be used")
		}
		panic("httpserve: concurrent Body.Read call")
	}
	c.mu.Unlock()
	if c.remain <= 0 {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	if int64(len(p)) > c.remain {
		p = p[:c.remain]
	}
	if c.hasByte {
		p[0] = c.byteBuf[0]
		c.hasByte = false
		return 1, nil
	}
	n, err := c.rwc.Read(p)
	if err != nil && !c.isHijacked() {
		c.cancelCurrent() // the client went away, or the body timed out
	}
	c.remain -= int64(n)
	return n, err
}

func (c *conn) setCurrent(w *response) {
	c.mu.Lock()
	c.cur = w
	c.mu.Unlock()
}

// cancelCurrent cancels the context of the request being served, if any.
func (c *conn) cancelCurrent() {
	c.mu.Lock()
	w := c.cur
	c.mu.Unlock()
	if w != nil {
		w.cancel()
	}
}

// errorWriter is the conn as the io.Writer under bufw: it keeps the first
// write error, after which the connection is not reused.
type errorWriter conn

func (ew *errorWriter) Write(p []byte) (int, error) {
	c := (*conn)(ew)
	n, err := c.rwc.Write(p)
	if err != nil && c.werr == nil {
		c.werr = err
		c.cancelCurrent()
	}
	return n, err
}

// The pools. A pooled reader or writer is lent only while a connection
// has a request in flight.
var (
	bufioReaderPool   sync.Pool
	bufioWriter2kPool sync.Pool
	bufioWriter4kPool sync.Pool
)

func newBufioReader(r io.Reader) *bufio.Reader {
	if v := bufioReaderPool.Get(); v != nil {
		br := v.(*bufio.Reader)
		br.Reset(r)
		return br
	}
	return bufio.NewReaderSize(r, 4<<10)
}

func putBufioReader(br *bufio.Reader) {
	br.Reset(nil)
	bufioReaderPool.Put(br)
}

func bufioWriterPool(size int) *sync.Pool {
	switch size {
	case 2 << 10:
		return &bufioWriter2kPool
	case 4 << 10:
		return &bufioWriter4kPool
	}
	return nil
}

func newBufioWriterSize(w io.Writer, size int) *bufio.Writer {
	if v := bufioWriterPool(size).Get(); v != nil {
		bw := v.(*bufio.Writer)
		bw.Reset(w)
		return bw
	}
	return bufio.NewWriterSize(w, size)
}

func putBufioWriter(bw *bufio.Writer) {
	bw.Reset(nil)
	if pool := bufioWriterPool(bw.Available()); pool != nil {
		pool.Put(bw)
	}
}
