//go:build linux || darwin || freebsd

package httpserve

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"path"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// bufferBeforeChunkingSize is how much of a response body is held before
// the header goes out: a handler that writes less and returns gets a
// Content-Length rather than chunked encoding (net/http's figure).
const bufferBeforeChunkingSize = 2048

// response is the http.ResponseWriter of one request. It follows net/http's
// response type closely (field names included), so that each behaviour can
// be checked against net/http's source: a handler sees the same headers,
// framing and errors from both servers.
type response struct {
	conn *conn
	a    *active // the connection's active part when the request came
	req  *http.Request
	body *body // the Request.Body, or nil for http.NoBody

	ctx    reqContext // the request's context is &ctx
	parent taskValues // ctx's parent
	cancel func()

	wroteHeader      bool // a non-1xx header has been (logically) written
	wants10KeepAlive bool // HTTP/1.0 with Connection: keep-alive
	wantsClose       bool // the request has Connection: close
	calledHeader     bool // Header was called
	fullDuplex       bool // EnableFullDuplex was called

	handlerHeader http.Header
	status        int
	contentLength int64 // from the Content-Length header, or -1
	written       int64 // body bytes written, whatever was sent
	trailers      []string

	closeAfterReply     bool
	requestBodyLimitHit bool

	handlerDone atomic.Bool

	// canWriteContinue says "100 Continue" may still be sent: a request
	// that expects it, no body read yet, no final header written. The
	// mutex keeps the "100 Continue" from interleaving with a response
	// written from another goroutine.
	writeContinueMu  sync.Mutex
	canWriteContinue atomic.Bool

	w  *bufio.Writer // buffers the body before cw (pooled)
	cw chunkWriter

	statusBuf [3]byte
	dateBuf   [len(http.TimeFormat)]byte
	clenBuf   [10]byte
}

// chunkWriter writes the header on first use, then the body to the
// connection's buffered writer, as chunks when chunking.
type chunkWriter struct {
	res *response
	// header is a copy of the handler's header, taken when WriteHeader
	// was called after Header had been: the handler may change its map
	// afterwards, and must not change what is sent.
	header      http.Header
	wroteHeader bool
	chunking    bool
}

var crlf = []byte("\r\n")

func (cw *chunkWriter) Write(p []byte) (n int, err error) {
	if !cw.wroteHeader {
		cw.writeHeader(p)
	}
	if cw.res.req.Method == "HEAD" {
		return len(p), nil // eat the body
	}
	bw := cw.res.a.bufw
	if cw.chunking {
		if _, err = bw.WriteString(strconv.FormatInt(int64(len(p)), 16)); err == nil {
			_, err = bw.Write(crlf)
		}
		if err != nil {
			cw.res.conn.rwc().Close()
			return 0, err
		}
	}
	n, err = bw.Write(p)
	if cw.chunking && err == nil {
		_, err = bw.Write(crlf)
	}
	if err != nil {
		cw.res.conn.rwc().Close()
	}
	return n, err
}

func (cw *chunkWriter) flush() error {
	if !cw.wroteHeader {
		cw.writeHeader(nil)
	}
	return cw.res.a.bufw.Flush()
}

func (cw *chunkWriter) close() {
	if !cw.wroteHeader {
		cw.writeHeader(nil)
	}
	if cw.chunking {
		bw := cw.res.a.bufw
		bw.WriteString("0\r\n")
		if trailers := cw.res.finalTrailers(); trailers != nil {
			trailers.Write(bw) // errors are noted by the writer
		}
		bw.WriteString("\r\n")
	}
}

// extraHeader is the header lines the server adds to the handler's.
type extraHeader struct {
	contentType      string
	connection       string
	transferEncoding string
	date             []byte // written if not nil
	contentLength    []byte // written if not nil
}

func (h extraHeader) Write(w *bufio.Writer) {
	if h.date != nil {
		w.WriteString("Date: ")
		w.Write(h.date)
		w.Write(crlf)
	}
	if h.contentLength != nil {
		w.WriteString("Content-Length: ")
		w.Write(h.contentLength)
		w.Write(crlf)
	}
	for i, v := range []string{h.contentType, h.connection, h.transferEncoding} {
		if v != "" {
			w.WriteString([...]string{"Content-Type", "Connection", "Transfer-Encoding"}[i])
			w.WriteString(": ")
			w.WriteString(v)
			w.Write(crlf)
		}
	}
}

// writeHeader writes the status line and header, once, given the first
// body bytes (or all of them, if the handler has returned): it decides
// Content-Length or chunking, keep-alive or close, Content-Type and Date,
// as net/http's chunkWriter.writeHeader does, step for step.
func (cw *chunkWriter) writeHeader(p []byte) {
	if cw.wroteHeader {
		return
	}
	cw.wroteHeader = true

	w := cw.res
	keepAlivesEnabled := w.conn.srv().doKeepAlives()
	isHEAD := w.req.Method == "HEAD"

	// header is what is sent: the handler's map, with some keys left out
	// (excludeHeader) unless it is already a copy of ours.
	header := cw.header
	owned := header != nil
	if !owned {
		header = w.handlerHeader
	}
	var excludeHeader map[string]bool
	delHeader := func(key string) {
		if owned {
			header.Del(key)
			return
		}
		if _, ok := header[key]; !ok {
			return
		}
		if excludeHeader == nil {
			excludeHeader = make(map[string]bool)
		}
		excludeHeader[key] = true
	}
	var setHeader extraHeader

	// Trailers announced by the handler's "Trailer" header, or set with
	// the http.TrailerPrefix.
	trailers := false
	for k := range cw.header {
		if strings.HasPrefix(k, http.TrailerPrefix) {
			if excludeHeader == nil {
				excludeHeader = make(map[string]bool)
			}
			excludeHeader[k] = true
			trailers = true
		}
	}
	for _, v := range cw.header["Trailer"] {
		trailers = true
		foreachHeaderElement(v, cw.res.declareTrailer)
	}

	te := header.Get("Transfer-Encoding")
	hasTE := te != ""

	// The handler has returned and all of the body is here: send its
	// length rather than chunks.
	if w.handlerDone.Load() && !trailers && !hasTE && bodyAllowedForStatus(w.status) && header.Get("Content-Length") == "" && (!isHEAD || len(p) > 0) {
		w.contentLength = int64(len(p))
		setHeader.contentLength = strconv.AppendInt(cw.res.clenBuf[:0], int64(len(p)), 10)
	}

	// HTTP/1.0 keep-alive needs a length the handler sent itself.
	if w.wants10KeepAlive && keepAlivesEnabled {
		sentLength := header.Get("Content-Length") != ""
		if sentLength && header.Get("Connection") == "keep-alive" {
			w.closeAfterReply = false
		}
	}

	hasCL := w.contentLength != -1

	if w.wants10KeepAlive && (isHEAD || hasCL || !bodyAllowedForStatus(w.status)) {
		if _, connectionHeaderSet := header["Connection"]; !connectionHeaderSet {
			setHeader.connection = "keep-alive"
		}
	} else if !w.req.ProtoAtLeast(1, 1) || w.wantsClose {
		w.closeAfterReply = true
	}

	if header.Get("Connection") == "close" || !keepAlivesEnabled {
		w.closeAfterReply = true
	}

	// The client still waits for "100 Continue": its body would come
	// after the response, and cannot be told apart from a next request.
	if w.continuePending() {
		w.closeAfterReply = true
	}

	// The body is read to its end before the response goes out, unless
	// that is too much: a client that sends all of its body before it
	// reads (most do) would otherwise block us and itself.
	if w.req.ContentLength != 0 && !w.closeAfterReply && !w.fullDuplex && w.body != nil {
		var discard, tooBig bool
		closed, sawEOF, _ := w.body.state()
		switch {
		case closed:
			if !sawEOF {
				w.closeAfterReply = true // Close gave up on it
			}
		case w.body.unread() >= maxPostHandlerReadBytes:
			tooBig = true
		default:
			discard = true
		}
		if discard {
			big, err := w.body.discard()
			switch {
			case err != nil:
				w.closeAfterReply = true
			case big:
				tooBig = true
			}
		}
		if tooBig {
			w.requestTooLarge()
			delHeader("Connection")
			setHeader.connection = "close"
		}
	}

	code := w.status
	if bodyAllowedForStatus(code) {
		// Content-Type from the body's first bytes, as net/http guesses it.
		_, haveType := header["Content-Type"]
		hasCE := header.Get("Content-Encoding") != ""
		if !hasCE && !haveType && !hasTE && len(p) > 0 {
			setHeader.contentType = http.DetectContentType(p)
		}
	} else {
		for _, k := range suppressedHeaders(code) {
			delHeader(k)
		}
	}

	if _, ok := header["Date"]; !ok {
		setHeader.date = time.Now().UTC().AppendFormat(cw.res.dateBuf[:0], http.TimeFormat)
	}

	if hasCL && hasTE && te != "identity" {
		w.conn.srv().logf("http: WriteHeader called with both Transfer-Encoding of %q and a Content-Length of %d",
			te, w.contentLength)
		delHeader("Content-Length")
		hasCL = false
	}

	switch {
	case w.req.Method == "HEAD" || !bodyAllowedForStatus(code) || code == http.StatusNoContent:
		delHeader("Transfer-Encoding")
	case hasCL:
		delHeader("Transfer-Encoding")
	case w.req.ProtoAtLeast(1, 1):
		if hasTE && te == "identity" {
			// The body ends when the connection does.
			cw.chunking = false
			w.closeAfterReply = true
			delHeader("Transfer-Encoding")
		} else {
			cw.chunking = true
			setHeader.transferEncoding = "chunked"
			if hasTE && te == "chunked" {
				delHeader("Transfer-Encoding") // we send ours
			}
		}
	default:
		// HTTP/1.0 without a length: the body ends with the connection.
		w.closeAfterReply = true
		delHeader("Transfer-Encoding")
	}

	if cw.chunking {
		delHeader("Content-Length")
	}
	if !w.req.ProtoAtLeast(1, 0) {
		return
	}

	// Say "Connection: close" when closing, unless the handler said it
	// or switches protocols.
	delConnectionHeader := w.closeAfterReply &&
		(!keepAlivesEnabled || !hasToken(cw.header.Get("Connection"), "close")) &&
		!isProtocolSwitchResponse(w.status, header)
	if delConnectionHeader {
		delHeader("Connection")
		if w.req.ProtoAtLeast(1, 1) {
			setHeader.connection = "close"
		}
	}

	bw := w.a.bufw
	writeStatusLine(bw, w.req.ProtoAtLeast(1, 1), code, w.statusBuf[:])
	cw.header.WriteSubset(bw, excludeHeader)
	setHeader.Write(bw)
	bw.Write(crlf)
}

// isProtocolSwitchResponse reports whether the response switches
// protocols (a WebSocket upgrade, say): 101 with an Upgrade header.
func isProtocolSwitchResponse(code int, h http.Header) bool {
	return code == http.StatusSwitchingProtocols && isProtocolSwitchHeader(h)
}

func isProtocolSwitchHeader(h http.Header) bool {
	return h.Get("Upgrade") != "" && hasToken(h.Get("Connection"), "Upgrade")
}

// finalTrailers returns the trailers to send after a chunked body: the
// keys declared in "Trailer", and those set with http.TrailerPrefix.
func (w *response) finalTrailers() http.Header {
	var t http.Header
	for k, vv := range w.handlerHeader {
		if kk, found := strings.CutPrefix(k, http.TrailerPrefix); found {
			if t == nil {
				t = make(http.Header)
			}
			t[kk] = vv
		}
	}
	for _, k := range w.trailers {
		if t == nil {
			t = make(http.Header)
		}
		for _, v := range w.handlerHeader[k] {
			t.Add(k, v)
		}
	}
	return t
}

func (w *response) declareTrailer(k string) {
	k = http.CanonicalHeaderKey(k)
	if !validTrailerHeader(k) {
		return // not allowed as a trailer: dropped, as net/http does
	}
	w.trailers = append(w.trailers, k)
}

// requestTooLarge is called when the request body is too big to discard:
// the connection closes after the response.
func (w *response) requestTooLarge() {
	w.closeAfterReply = true
	w.requestBodyLimitHit = true
	if !w.wroteHeader {
		w.Header().Set("Connection", "close")
	}
}

// writeContinue sends "100 Continue" once, on the first read of the body
// of a request that expects it.
func (w *response) writeContinue() {
	if !w.canWriteContinue.Load() {
		return
	}
	w.writeContinueMu.Lock()
	if w.canWriteContinue.Load() {
		bw := w.a.bufw
		bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
		bw.Flush()
		w.canWriteContinue.Store(false)
	}
	w.writeContinueMu.Unlock()
}

func (w *response) disableWriteContinue() {
	w.writeContinueMu.Lock()
	w.canWriteContinue.Store(false)
	w.writeContinueMu.Unlock()
}

// continuePending reports whether the request expected "100 Continue"
// and its body has not been read to its end (the client may still wait).
func (w *response) continuePending() bool {
	if w.body == nil || !w.expectsContinue() {
		return false
	}
	_, sawEOF, _ := w.body.state()
	return !sawEOF
}

func (w *response) expectsContinue() bool {
	return w.req.ProtoAtLeast(1, 1) && w.req.ContentLength != 0 && hasToken(w.req.Header.Get("Expect"), "100-continue")
}

// Header returns the header map the handler fills.
func (w *response) Header() http.Header {
	if w.cw.header == nil && w.wroteHeader && !w.cw.wroteHeader {
		// Written logically but not yet physically: changes from now on
		// must not show, so what is sent is a copy.
		w.cw.header = w.handlerHeader.Clone()
	}
	w.calledHeader = true
	return w.handlerHeader
}

// WriteHeader sends (or, for the final header, prepares) a status code.
func (w *response) WriteHeader(code int) {
	if w.conn.isHijacked() {
		caller := relevantCaller()
		w.conn.srv().logf("http: response.WriteHeader on hijacked connection from %s (%s:%d)", caller.Function, path.Base(caller.File), caller.Line)
		return
	}
	if w.wroteHeader {
		caller := relevantCaller()
		w.conn.srv().logf("http: superfluous response.WriteHeader call from %s (%s:%d)", caller.Function, path.Base(caller.File), caller.Line)
		return
	}
	checkWriteHeaderCode(code)

	if code < 101 || code > 199 {
		// A final status, or a 100 sent by the handler itself: no
		// automatic "100 Continue" from now on.
		w.disableWriteContinue()
	}

	// 1xx informational responses (103 Early Hints, ...) go out at once,
	// with the header as it is; 101 is final.
	if code >= 100 && code <= 199 && code != http.StatusSwitchingProtocols {
		bw := w.a.bufw
		writeStatusLine(bw, w.req.ProtoAtLeast(1, 1), code, w.statusBuf[:])
		w.handlerHeader.WriteSubset(bw, excludedHeadersNoBody)
		bw.Write(crlf)
		bw.Flush()
		return
	}

	w.wroteHeader = true
	w.status = code

	if w.calledHeader && w.cw.header == nil {
		w.cw.header = w.handlerHeader.Clone()
	}

	if cl := w.handlerHeader.Get("Content-Length"); cl != "" {
		v, err := strconv.ParseInt(cl, 10, 64)
		if err == nil && v >= 0 {
			w.contentLength = v
		} else {
			w.conn.srv().logf("http: invalid Content-Length of %q", cl)
			w.handlerHeader.Del("Content-Length")
		}
	}
}

// relevantCaller finds the handler's frame that called into the
// ResponseWriter, for the log lines above.
func relevantCaller() runtime.Frame {
	pc := make([]uintptr, 16)
	n := runtime.Callers(1, pc)
	frames := runtime.CallersFrames(pc[:n])
	for {
		frame, more := frames.Next()
		if !strings.HasPrefix(frame.Function, "github.com/stackslice/stackslice/poll/httpserve.") || !more {
			return frame
		}
	}
}

// Write writes body bytes, after WriteHeader(http.StatusOK) if no header
// was written.
func (w *response) Write(data []byte) (int, error) { return w.write(len(data), data, "") }

// WriteString is Write for a string, without a copy.
func (w *response) WriteString(data string) (int, error) { return w.write(len(data), nil, data) }

func (w *response) write(lenData int, dataB []byte, dataS string) (n int, err error) {
	if w.conn.isHijacked() {
		if lenData > 0 {
			caller := relevantCaller()
			w.conn.srv().logf("http: response.Write on hijacked connection from %s (%s:%d)", caller.Function, path.Base(caller.File), caller.Line)
		}
		return 0, http.ErrHijacked
	}
	if w.canWriteContinue.Load() {
		// Writing a body before reading the request's: no "100 Continue".
		w.disableWriteContinue()
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if lenData == 0 {
		return 0, nil
	}
	if !bodyAllowedForStatus(w.status) {
		return 0, http.ErrBodyNotAllowed
	}
	w.written += int64(lenData) // counted even if it fails, as net/http does
	if w.contentLength != -1 && w.written > w.contentLength {
		return 0, http.ErrContentLength
	}
	if dataB != nil {
		return w.w.Write(dataB)
	}
	return w.w.WriteString(dataS)
}

// ReadFrom copies src into the body with a pooled buffer (io.Copy and
// http.ServeContent call it), rather than a new 32 KiB buffer per copy.
func (w *response) ReadFrom(src io.Reader) (int64, error) {
	bp := copyBufPool.Get().(*[copyBufSize]byte)
	defer copyBufPool.Put(bp)
	return io.CopyBuffer(writerOnly{w}, src, bp[:])
}

const copyBufSize = 32 << 10

var copyBufPool = sync.Pool{New: func() any { return new([copyBufSize]byte) }}

// writerOnly hides ReadFrom from io.CopyBuffer, which would call it back.
type writerOnly struct{ io.Writer }

// Flush sends what is buffered (http.Flusher).
func (w *response) Flush() { w.FlushError() }

// FlushError sends what is buffered and reports a write error
// (http.ResponseController's Flush).
func (w *response) FlushError() error {
	if w.conn.isHijacked() {
		return http.ErrHijacked
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	err := w.w.Flush()
	if e2 := w.cw.flush(); err == nil {
		err = e2
	}
	return err
}

// SetReadDeadline sets the connection's read deadline, which applies to
// the request body (http.ResponseController).
func (w *response) SetReadDeadline(deadline time.Time) error {
	return w.conn.rwc().SetReadDeadline(deadline)
}

// SetWriteDeadline sets the connection's write deadline
// (http.ResponseController).
func (w *response) SetWriteDeadline(deadline time.Time) error {
	return w.conn.rwc().SetWriteDeadline(deadline)
}

// EnableFullDuplex lets the handler read the request body while it writes
// the response (http.ResponseController): the server then does not read
// the rest of the body itself before the response's header goes out.
func (w *response) EnableFullDuplex() error {
	w.fullDuplex = true
	return nil
}

// Hijack hands the connection over to the handler (http.Hijacker): the
// server no longer reads, writes, times out or closes it. The returned
// reader holds what the client sent past the request; the writer writes
// to the connection. The handler may go on serving the connection in the
// connection's task (blocking style: the task outlives the request), or
// give it to another task and return; it must close it in the end.
// Shutdown and Close leave hijacked connections alone, as net/http's do.
// The reader and writer hold 4 KiB each: a handler that keeps an idle
// connection should take what the reader has buffered (Buffered, Peek)
// and drop them, as it would with net/http.
func (w *response) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if w.handlerDone.Load() {
		panic("httpserve: Hijack called after ServeHTTP finished")
	}
	w.disableWriteContinue()
	if w.wroteHeader {
		w.cw.flush()
	}
	rwc, buf, err := w.conn.hijack()
	if err == nil {
		putBufioWriter(w.w)
		w.w = nil
		w.a = nil // the buffers are buf's now: the response keeps none
	}
	return rwc, buf, err
}

// finishRequest writes what is left of the response once the handler has
// returned: the header if not yet written, buffered body, final chunk and
// trailers, all flushed.
func (w *response) finishRequest() {
	w.handlerDone.Store(true)
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	w.w.Flush()
	putBufioWriter(w.w)
	w.w = nil
	w.cw.close()
	w.a.bufw.Flush()
	w.a.stopWatch()
	if w.body != nil {
		// As net/http's Close of its body: discard a small rest, so
		// that the connection can go on, or give up on a big one.
		if closed, sawEOF, _ := w.body.state(); !closed && !sawEOF {
			w.body.Close()
		}
		w.body.finish()
	}
	if w.req.MultipartForm != nil {
		w.req.MultipartForm.RemoveAll()
	}
}

// shouldReuseConnection reports whether the connection can serve another
// request after this one.
func (w *response) shouldReuseConnection() bool {
	if w.closeAfterReply {
		return false
	}
	if w.req.Method != "HEAD" && w.contentLength != -1 && bodyAllowedForStatus(w.status) && w.contentLength != w.written {
		return false // wrote less than the Content-Length it declared
	}
	if w.a.werr != nil {
		return false
	}
	if w.body != nil {
		if _, sawEOF, early := w.body.state(); early || !sawEOF {
			return false // the rest of the body is still on the wire
		}
	}
	return true
}

// closedRequestBodyEarly reports whether the handler closed the body with
// too much of it unread.
func (w *response) closedRequestBodyEarly() bool {
	if w.body == nil {
		return false
	}
	_, _, early := w.body.state()
	return early
}

// sendExpectationFailed answers an Expect header other than 100-continue.
func (w *response) sendExpectationFailed() {
	w.Header().Set("Connection", "close")
	w.WriteHeader(http.StatusExpectationFailed)
	w.finishRequest()
}

var _ interface {
	http.ResponseWriter
	http.Flusher
	http.Hijacker
	io.ReaderFrom
	io.StringWriter
} = (*response)(nil)
