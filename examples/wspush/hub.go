package main

// The broadcast hub and the per-connection frame loop shared by the
// stackslice and nethttp servers, both on github.com/gobwas/ws: the only
// difference between the two is who runs serveWS (a sched task or a
// goroutine) and how it waits for a frame.
//
// How a broadcast reaches a connection: the publisher writes it. It
// encodes the message once as a server frame, and writes those same bytes
// to every subscribed socket with one non-blocking write each
// (syscall.RawConn.Write whose function never asks to wait). A connection
// that keeps up therefore holds nothing for broadcasts while idle: no
// queue, no channel, no writer goroutine or task, no buffer; its own task
// (or goroutine) only ever waits to read.
//
// A socket whose send buffer is full (hundreds of KB on loopback: the
// client is many messages behind) does not take the frame, or takes part
// of it. Then, and only then, the connection gets a backlog: the frames it
// still owes (shared with every other connection, not copied), at most
// maxBacklog, and a flusher (a task, or a goroutine) that writes them with
// blocking writes, each within writeTimeout, and ends when the backlog is
// empty. Broadcasts meanwhile join the backlog instead of the socket, so
// the order holds. A connection whose backlog overflows or whose flusher
// times out is dropped (closed, with a log line). So a slow client never
// stalls the broadcast to the others, and only slow clients cost memory.
// The connection's own writes (pong, close) go the same way.

import (
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gobwas/ws"
)

// maxClientPayload is the largest client frame payload read: a subscribe
// message or a ping. A larger frame closes the connection (1009).
const maxClientPayload = 512

// Backlog limits: a connection that owes more frames, or cannot take one
// within writeTimeout, is dropped. (Variables for the tests.)
var (
	maxBacklog   = 128
	writeTimeout = 5 * time.Second
)

// subscriber is one connection, as the hub holds it: 56 bytes.
type subscriber struct {
	raw  syscall.RawConn // for the non-blocking writes
	conn net.Conn
	idx  int // in hub.subs; -1 when not subscribed

	mu      sync.Mutex
	backlog *backlog // frames owed, nil while the socket keeps up
}

// backlog is what a connection that fell behind owes, oldest first; the
// first frame's off bytes are written already.
type backlog struct {
	frames [][]byte
	off    int
	failed bool // the flusher failed: drop the rest
}

// hub is the set of subscribed connections.
type hub struct {
	spawn   func(func()) // runs a function in a new goroutine or task
	workers int          // publisher goroutines or tasks per broadcast

	mu      sync.Mutex
	subs    []*subscriber
	snap    []*subscriber // the publisher's copy of subs (publisher only)
	dropped atomic.Int64
	logf    func(format string, args ...any)
}

func newHub(workers int, spawn func(func())) *hub {
	return &hub{spawn: spawn, workers: workers, logf: log.Printf}
}

func (h *hub) add(s *subscriber) {
	h.mu.Lock()
	if s.idx < 0 {
		s.idx = len(h.subs)
		h.subs = append(h.subs, s)
	}
	h.mu.Unlock()
}

func (h *hub) remove(s *subscriber) {
	h.mu.Lock()
	if i := s.idx; i >= 0 {
		last := h.subs[len(h.subs)-1]
		h.subs[i], last.idx = last, i
		h.subs[len(h.subs)-1] = nil
		h.subs = h.subs[:len(h.subs)-1]
		s.idx = -1
	}
	h.mu.Unlock()
}

func (h *hub) count() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return int64(len(h.subs))
}

// publish sends payload as one text frame to every subscriber, the work
// split between h.workers runs of h.spawn, and returns how many took it
// or queued it. It returns when every write has been made.
func (h *hub) publish(payload []byte) int {
	frame := ws.MustCompileFrame(ws.NewTextFrame(payload))
	h.mu.Lock()
	h.snap = append(h.snap[:0], h.subs...)
	h.mu.Unlock()
	subs := h.snap
	var sent atomic.Int64
	var wg sync.WaitGroup
	per := (len(subs) + h.workers - 1) / max(h.workers, 1)
	for lo := 0; lo < len(subs); lo += per {
		part := subs[lo:min(lo+per, len(subs))]
		wg.Add(1)
		h.spawn(func() {
			defer wg.Done()
			n := 0
			for _, s := range part {
				if h.send(s, frame) {
					n++
				}
			}
			sent.Add(int64(n))
		})
	}
	wg.Wait()
	clear(h.snap) // hold no connection past the broadcast
	return int(sent.Load())
}

// send writes frame to s without waiting: at once if the socket takes it
// and nothing is owed, else into s's backlog. It reports false if s is
// dropped (or its connection failed).
func (h *hub) send(s *subscriber, frame []byte) bool {
	s.mu.Lock()
	if b := s.backlog; b != nil {
		ok := !b.failed && len(b.frames) < maxBacklog
		if ok {
			b.frames = append(b.frames, frame)
		}
		s.mu.Unlock()
		if !ok {
			h.drop(s, fmt.Sprintf("%d messages behind", maxBacklog))
		}
		return ok
	}
	n, err := writeNow(s.raw, frame)
	if err == nil && n < len(frame) {
		s.backlog = &backlog{frames: [][]byte{frame}, off: n}
		h.spawn(func() { h.flush(s) })
	}
	s.mu.Unlock()
	if err != nil {
		h.remove(s)
		s.conn.Close()
		return false
	}
	return true
}

// flush writes s's backlog until it is empty, each frame within
// writeTimeout, and drops s if that fails.
func (h *hub) flush(s *subscriber) {
	for {
		s.mu.Lock()
		b := s.backlog
		if len(b.frames) == 0 {
			// A deadline left behind would fail the next non-blocking
			// write once it passes.
			s.conn.SetWriteDeadline(time.Time{})
			s.backlog = nil // the socket keeps up again
			s.mu.Unlock()
			return
		}
		p := b.frames[0][b.off:]
		s.mu.Unlock()
		s.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
		_, err := s.conn.Write(p)
		s.mu.Lock()
		if err != nil {
			b.failed = true
			s.mu.Unlock()
			h.drop(s, err.Error())
			return
		}
		b.frames[0] = nil
		b.frames, b.off = b.frames[1:], 0
		s.mu.Unlock()
	}
}

// drop closes a subscriber that fell behind; its reading task then sees
// the closed connection and ends.
func (h *hub) drop(s *subscriber, why string) {
	h.mu.Lock()
	subscribed := s.idx >= 0
	h.mu.Unlock()
	if subscribed {
		h.remove(s)
		h.dropped.Add(1)
		h.logf("wspush: dropping a client that fell behind: %s", why)
	}
	s.conn.Close()
}

// writeNow writes as much of frame as the socket takes now, with one
// non-blocking write, and returns how much that was.
func writeNow(raw syscall.RawConn, frame []byte) (int, error) {
	var n int
	var werr error
	err := raw.Write(func(fd uintptr) bool {
		for {
			n, werr = syscall.Write(int(fd), frame)
			if werr != syscall.EINTR {
				return true
			}
		}
	})
	switch {
	case err != nil:
		return 0, err
	case werr == syscall.EAGAIN:
		return 0, nil
	case werr != nil:
		return 0, werr
	}
	return n, nil
}

// serveWS serves one upgraded connection until it closes: it reads client
// frames in plain blocking style, answers pings, subscribes the
// connection on a "subscribe" text message, and unsubscribes it at the
// end. wait, if not nil, waits until the connection is readable holding no
// buffer (poll.Conn.WaitRead); pre is what the upgrade read past the
// request (usually nothing).
func serveWS(h *hub, c net.Conn, raw syscall.RawConn, pre []byte, wait func() error) {
	s := &subscriber{raw: raw, conn: c, idx: -1}
	var r io.Reader = c
	if len(pre) > 0 {
		r = io.MultiReader(&onceReader{pre}, c)
	}
	err := readFrames(h, s, r, wait)
	h.remove(s)
	if code, ok := closeCode(err); ok {
		// Lost if the client is behind: it is closed at once.
		h.send(s, ws.MustCompileFrame(ws.NewCloseFrame(ws.NewCloseFrameBody(code, ""))))
	}
	c.Close()
}

// onceReader reads b, then reports io.EOF.
type onceReader struct{ b []byte }

func (o *onceReader) Read(p []byte) (int, error) {
	if len(o.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, o.b)
	o.b = o.b[n:]
	return n, nil
}

// closeError ends a connection with a close frame carrying code.
type closeError struct {
	code ws.StatusCode
	why  string
}

func (e *closeError) Error() string {
	return fmt.Sprintf("websocket: closing with %d: %s", e.code, e.why)
}

func closeCode(err error) (ws.StatusCode, bool) {
	var ce *closeError
	if errors.As(err, &ce) {
		return ce.code, true
	}
	return 0, false
}

// readFrames reads client frames until the connection ends; it returns
// the reason.
func readFrames(h *hub, s *subscriber, r io.Reader, wait func() error) error {
	for {
		if wait != nil {
			if err := wait(); err != nil {
				return err
			}
		}
		hdr, err := ws.ReadHeader(r)
		if err != nil {
			return err
		}
		switch {
		case !hdr.Masked:
			return &closeError{ws.StatusProtocolError, "unmasked client frame"}
		case !hdr.Fin || hdr.Rsv != 0:
			return &closeError{ws.StatusProtocolError, "fragmented or extended frames are not accepted"}
		case hdr.Length > maxClientPayload:
			return &closeError{ws.StatusMessageTooBig, "frame too large"}
		}
		p := make([]byte, hdr.Length)
		if _, err := io.ReadFull(r, p); err != nil {
			return err
		}
		ws.Cipher(p, hdr.Mask, 0)
		switch hdr.OpCode {
		case ws.OpPing:
			if !h.send(s, ws.MustCompileFrame(ws.NewPongFrame(p))) {
				return net.ErrClosed
			}
		case ws.OpPong:
		case ws.OpClose:
			code, _ := ws.ParseCloseFrameData(p)
			if code.Empty() {
				code = ws.StatusNormalClosure
			}
			return &closeError{code, "closed by the client"}
		case ws.OpText:
			if string(p) == "subscribe" {
				h.add(s)
			}
		default:
			return &closeError{ws.StatusUnsupportedData, "unexpected frame"}
		}
	}
}
