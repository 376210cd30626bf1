//go:build linux || darwin || freebsd

package httpserve

import (
	"errors"
	"io"
	"net/http"
	"sync"
)

// maxPostHandlerReadBytes is how much of a request body the handler left
// unread the server reads and discards to keep the connection for the
// next request, as net/http does; past that it closes the connection.
const maxPostHandlerReadBytes = 256 << 10

// body is the Request.Body a handler reads: http.ReadRequest's body, plus
// what the server must know of it and do around it, which net/http keeps
// in its own unexported body type: "100 Continue" on the first Read of a
// request that expects it, whether the end was reached, a Close that
// discards a small remainder rather than all of it, and a hook at the end
// (the client watch starts there: see watch.go).
type body struct {
	w  *response
	rc io.ReadCloser // from http.ReadRequest

	mu         sync.Mutex
	read       int64 // bytes read so far
	sawEOF     bool
	closed     bool
	earlyClose bool // closed with more than maxPostHandlerReadBytes unread
}

var errBodyReadAfterClose = http.ErrBodyReadAfterClose

func (b *body) Read(p []byte) (int, error) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return 0, errBodyReadAfterClose
	}
	if b.sawEOF {
		b.mu.Unlock()
		return 0, io.EOF
	}
	b.mu.Unlock()

	b.w.writeContinue()
	n, err := b.rc.Read(p)

	b.mu.Lock()
	b.read += int64(n)
	eof := err == io.EOF && !b.sawEOF
	if eof {
		b.sawEOF = true
	}
	b.mu.Unlock()
	if eof {
		b.w.bodyDone()
	}
	return n, err
}

// Close ends the handler's use of the body. Like net/http's, it reads and
// discards up to maxPostHandlerReadBytes of what is left, so that the
// connection can serve the next request, and gives up past that (the
// connection is then closed after the response). A body whose client still
// waits for "100 Continue" is not read at all.
func (b *body) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	done := b.sawEOF
	b.mu.Unlock()
	if done {
		return nil
	}
	if b.w.continuePending() {
		b.setEarlyClose()
		return nil
	}
	if r := b.unread(); r > maxPostHandlerReadBytes {
		b.setEarlyClose()
		return nil
	}
	n, err := io.CopyN(io.Discard, b.rc, maxPostHandlerReadBytes)
	switch {
	case errors.Is(err, io.EOF):
		b.mu.Lock()
		b.sawEOF = true
		b.read += n
		b.mu.Unlock()
		b.w.bodyDone()
		return nil
	case err != nil:
		b.setEarlyClose()
		return err
	default:
		b.setEarlyClose() // maxPostHandlerReadBytes read, and more to come
		return nil
	}
}

func (b *body) setEarlyClose() {
	b.mu.Lock()
	b.earlyClose = true
	b.mu.Unlock()
}

// unread returns the bytes of a Content-Length body not yet read, or -1
// when the length is not known (chunked).
func (b *body) unread() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	if cl := b.w.req.ContentLength; cl >= 0 {
		return cl - b.read
	}
	return -1
}

// state returns what writeHeader and the end of a request need to know.
func (b *body) state() (closed, sawEOF, earlyClose bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.closed, b.sawEOF, b.earlyClose
}

// discard reads what is left of the body, up to maxPostHandlerReadBytes+1
// bytes, from the server's side (the handler may have closed the body: a
// closed body is read here all the same, as net/http reads its own).
func (b *body) discard() (tooBig bool, err error) {
	b.mu.Lock()
	if b.sawEOF {
		b.mu.Unlock()
		return false, nil
	}
	b.mu.Unlock()
	n, err := io.CopyN(io.Discard, b.rc, maxPostHandlerReadBytes+1)
	b.mu.Lock()
	b.read += n
	if err == io.EOF {
		b.sawEOF = true
	}
	b.mu.Unlock()
	switch err {
	case nil:
		return true, nil
	case io.EOF:
		b.w.bodyDone()
		return false, nil
	}
	return false, err
}

// finish ends the body at the end of its request: later Reads by a
// handler that kept it fail as after Close. It never reads: what is left
// unread has made the connection close (see response.shouldReuseConnection).
// rc is not closed either: net/http's body drains itself on Close unless
// its server marked it, which only net/http can do.
func (b *body) finish() {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
}
