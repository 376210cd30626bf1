//go:build linux || darwin || freebsd

package poll

import (
	"io"
	"syscall"
)

// ReadFrom implements io.ReaderFrom (io.Copy calls it): it copies from r
// into the connection until r's end of stream (which is not an error) or
// an error, and returns the bytes written.
//
// On Linux, when r is a *Conn (TCP or unix stream; of any scheduler), or an
// *io.LimitedReader of one, the bytes go from socket to socket through a
// pooled pipe with splice(2), never through user space, as *net.TCPConn's
// ReadFrom does; the LimitedReader's N is decremented by the bytes copied.
// The copy parks the calling task (or blocks the calling goroutine)
// whenever r has nothing to read or the connection's buffer is full, like
// Read and Write: r's read deadline and c's write deadline apply, and
// Close of either end, from anywhere, ends it with net.ErrClosed. It holds
// r's read lock only while it reads and c's write lock only while it
// writes, and holds no pipe while it waits for r. In a task it yields
// between chunks (sched.Yield), so a copy that never has to wait lets the
// other tasks of its carrier run after each chunk rather than after a
// time slice.
//
// Other readers (and other systems) are copied with io.Copy's semantics
// and a pooled buffer (or r's WriteTo, if it has one).
//
// Errors are *net.OpError with Op "readfrom" and c's addresses, whichever
// side failed, as with *net.TCPConn.
func (c *Conn) ReadFrom(r io.Reader) (int64, error) {
	if !c.ok() {
		return 0, syscall.EINVAL
	}
	n, err, handled := spliceFrom(c, r)
	if !handled {
		var m int64
		m, err = genericReadFrom(c, r)
		n += m
	}
	return n, c.opError("readfrom", err)
}

// WriteTo implements io.WriterTo (io.Copy prefers it to ReadFrom): it
// copies from the connection into w until the end of the stream (which is
// not an error) or an error, and returns the bytes written.
//
// On Linux, when w is a *Conn, it is w.ReadFrom(c) (splice), except that
// errors name c: they are *net.OpError with Op "writeto" and c's
// addresses. Other writers get io.Copy's semantics with a pooled buffer
// (or w's ReadFrom, if it has one).
func (c *Conn) WriteTo(w io.Writer) (int64, error) {
	if !c.ok() {
		return 0, syscall.EINVAL
	}
	var n int64
	var err error
	handled := false
	if dst, ok := w.(*Conn); ok && dst.ok() {
		var fallback bool
		n, fallback, err = spliceCopy(dst, c, 1<<63-1)
		handled = !fallback
	}
	if !handled {
		var m int64
		m, err = genericWriteTo(c, w)
		n += m
	}
	return n, c.opError("writeto", err)
}

// spliceFrom is ReadFrom's splice path: handled reports that it did the
// whole copy; otherwise the caller copies the rest (r, and the limit of a
// LimitedReader, account for what spliceFrom wrote).
func spliceFrom(c *Conn, r io.Reader) (written int64, err error, handled bool) {
	remain := int64(1<<63 - 1)
	lr, ok := r.(*io.LimitedReader)
	if ok {
		remain, r = lr.N, lr.R
		if remain <= 0 {
			return 0, nil, true
		}
	}
	src, ok := r.(*Conn)
	if !ok || !src.ok() {
		return 0, nil, false // a zero Conn fails its Reads with EINVAL
	}
	written, fallback, err := spliceCopy(c, src, remain)
	if lr != nil {
		lr.N -= written
	}
	return written, err, !fallback
}

// copyPool lends the buffers of the generic copies (io.Copy's size).
var copyPool = NewBufferPool(32 << 10)

// writerOnly and readerOnly hide a Conn's ReadFrom and WriteTo from
// io.Copy, so that the generic copies do not come back to them.
type writerOnly struct{ io.Writer }

type readerOnly struct{ io.Reader }

// genericReadFrom is io.Copy(c, r) without c's ReadFrom (and, if r is a
// Conn, without r's WriteTo: splicing was not possible).
func genericReadFrom(c *Conn, r io.Reader) (int64, error) {
	if src, ok := r.(*Conn); ok {
		r = readerOnly{src}
	} else if wt, ok := r.(io.WriterTo); ok {
		return wt.WriteTo(writerOnly{c})
	}
	return bufferedCopy(writerOnly{c}, r)
}

// genericWriteTo is io.Copy(w, c) without c's WriteTo (and, if w is a
// Conn, without w's ReadFrom: splicing was not possible).
func genericWriteTo(c *Conn, w io.Writer) (int64, error) {
	if dst, ok := w.(*Conn); ok {
		w = writerOnly{dst}
	} else if rf, ok := w.(io.ReaderFrom); ok {
		return rf.ReadFrom(readerOnly{c})
	}
	return bufferedCopy(w, readerOnly{c})
}

// bufferedCopy copies with a buffer borrowed from copyPool for the copy's
// duration. Its callers hand WriterTo and ReaderFrom copies over before
// calling it, so that such a copy, which may wait long, holds no buffer.
func bufferedCopy(w io.Writer, r io.Reader) (int64, error) {
	b := copyPool.Get()
	n, err := io.CopyBuffer(w, r, b)
	copyPool.Put(b)
	return n, err
}
