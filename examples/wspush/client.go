package main

// The load client: a child process that opens up to clientMax WebSocket
// connections to the server from one loopback source address (gobwas/ws's
// dialer), subscribes each ("subscribe" text message), and makes sure the
// server has taken the subscription with a ping answered by a pong. Then
// every connection reads the broadcasts, checks that their sequence
// numbers follow one another with no gap, and records how long each took
// to arrive (the publisher stamps its wall-clock time in the message).
//
// It prints "progress K" while connecting and "connected OK FAILED" when
// done, then answers commands on stdin:
//
//	report FIRST LAST
//	   -> waits (at most reportWait) until every live connection has
//	      message LAST, then answers "report OK BAD D1 D2 ... Dk": OK
//	      connections received every message from FIRST to LAST in order
//	      (and none was missing before), BAD did not; Di is the delay in
//	      nanoseconds until the last connection of this process had message
//	      FIRST+i-1 (-1 if none had it)
//
// With WSPUSH_SLOW=1 the connections stop reading after the pong (clients
// that fall behind). With WSPUSH_CHURN=D the process instead opens and
// closes connections for the duration D (some read a broadcast first, some
// close with a close frame, some reset, some give up mid-handshake), then
// prints "churned K" with the number of connections it made.
//
// When stdin closes the client resets every connection and exits.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gobwas/ws"

	"github.com/stackslice/stackslice/examples/internal/childproc"
)

const (
	// clientMax is the most connections one client process opens: below
	// the open-files limit (20000, hard) and well below the ephemeral
	// ports one source address has (32768-60999).
	clientMax = 5000
	// ring is how many recent sequence numbers the delay table holds.
	ring = 1 << 12
	// reportWait bounds the wait for the last message of a report.
	reportWait = 20 * time.Second
)

// connState is what a client connection has seen. first is 0 until the
// first message.
type connState struct {
	first, last atomic.Int64
	broken      atomic.Bool // a message out of order or missing
	dead        atomic.Bool // the connection failed or was closed
}

// receiver is the client process's record of the broadcasts.
type receiver struct {
	states []connState
	delay  [ring]atomic.Int64 // by seq % ring: the largest delay seen, ns
}

// runClient is the client role; its parameters come from the environment.
func runClient() error {
	addr := os.Getenv(envAddr)
	src := net.ParseIP(os.Getenv(envSrc))
	count, err := strconv.Atoi(os.Getenv(envCount))
	if err != nil || src == nil || src.To4() == nil || !src.IsLoopback() || count < 1 || count > clientMax {
		return fmt.Errorf("bad client parameters: addr %q src %q count %q", os.Getenv(envAddr), os.Getenv(envSrc), os.Getenv(envCount))
	}
	if host, _, err := net.SplitHostPort(addr); err != nil || !net.ParseIP(host).IsLoopback() {
		return fmt.Errorf("server address %q is not loopback", addr)
	}
	if d := os.Getenv(envChurn); d != "" {
		dur, err := time.ParseDuration(d)
		if err != nil || dur <= 0 || dur > 10*time.Minute {
			return fmt.Errorf("bad %s %q", envChurn, d)
		}
		fmt.Printf("churned %d\n", churn(addr, src, count, dur))
		io.Copy(io.Discard, os.Stdin)
		return nil
	}
	rc := &receiver{states: make([]connState, count)}
	for i := range rc.states {
		rc.states[i].dead.Store(true) // until connected
	}
	conns := dialAll(addr, src, count, rc, os.Getenv(envSlow) == "1")
	ok := 0
	for _, c := range conns {
		if c != nil {
			ok++
		}
	}
	fmt.Printf("connected %d %d\n", ok, count-ok)

	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		cmd := sc.Text()
		var first, last int64
		if _, err := fmt.Sscanf(cmd, "report %d %d", &first, &last); err != nil || first < 1 || last < first || last-first >= ring {
			fmt.Printf("error unknown command %q\n", cmd)
			continue
		}
		fmt.Println(rc.report(first, last))
	}
	closeAll(conns)
	return sc.Err()
}

// report waits for message last on every live connection and describes
// what the connections received from first to last.
func (rc *receiver) report(first, last int64) string {
	deadline := time.Now().Add(reportWait)
	for time.Now().Before(deadline) {
		waiting := false
		for i := range rc.states {
			s := &rc.states[i]
			if !s.dead.Load() && s.last.Load() < last {
				waiting = true
				break
			}
		}
		if !waiting {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	ok, bad := 0, 0
	for i := range rc.states {
		s := &rc.states[i]
		f := s.first.Load()
		if !s.broken.Load() && f != 0 && f <= first && s.last.Load() >= last {
			ok++
		} else {
			bad++
		}
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "report %d %d", ok, bad)
	for seq := first; seq <= last; seq++ {
		d := rc.delay[seq%ring].Load()
		if d == 0 {
			d = -1
		}
		fmt.Fprintf(&b, " %d", d)
	}
	return b.String()
}

// closeAll resets every connection instead of closing it gracefully, so
// that no socket lingers in TIME_WAIT into the next run.
func closeAll(conns []net.Conn) {
	for _, c := range conns {
		if c != nil {
			reset(c)
		}
	}
}

func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.Close()
}

// dialer returns a WebSocket dialer from source address src; with
// smallBuffer, its sockets have a small receive buffer, so that a client
// that stops reading fills the server's side sooner.
func dialer(src net.IP, smallBuffer bool) ws.Dialer {
	nd := net.Dialer{
		LocalAddr: &net.TCPAddr{IP: src},
		Timeout:   10 * time.Second,
		KeepAlive: -1,
		Control: func(network, address string, rc syscall.RawConn) error {
			if smallBuffer {
				rc.Control(func(fd uintptr) {
					syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
				})
			}
			return childproc.BindAddressNoPort(network, address, rc)
		},
	}
	return ws.Dialer{
		Timeout: 10 * time.Second,
		NetDial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return nd.DialContext(ctx, "tcp4", addr)
		},
	}
}

// open dials one WebSocket, subscribes it and waits for the pong of a
// ping sent after the subscription, so that the server has taken it. It
// returns the connection and a reader positioned after the pong.
func open(ctx context.Context, d ws.Dialer, addr string) (net.Conn, io.Reader, error) {
	conn, br, _, err := d.Dial(ctx, "ws://"+addr+"/ws")
	if err != nil {
		return nil, nil, err
	}
	// A client buffers its reads (its memory is not what is measured).
	var r io.Reader = br // holds what came after the handshake, if anything
	if br == nil {
		r = bufio.NewReaderSize(conn, 512)
	}
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	err = writeClientFrame(conn, ws.OpText, []byte("subscribe"))
	if err == nil {
		err = writeClientFrame(conn, ws.OpPing, []byte("p"))
	}
	for err == nil {
		var h ws.Header
		if h, err = ws.ReadHeader(r); err != nil {
			break
		}
		if _, err = io.CopyN(io.Discard, r, h.Length); err != nil {
			break
		}
		if h.OpCode == ws.OpPong {
			break
		}
		if h.OpCode == ws.OpClose {
			err = errors.New("server closed the connection")
		}
	}
	if err != nil {
		reset(conn)
		return nil, nil, err
	}
	conn.SetDeadline(time.Time{})
	return conn, r, nil
}

// writeClientFrame writes one masked frame, as a client must.
func writeClientFrame(w io.Writer, op ws.OpCode, p []byte) error {
	f := ws.MaskFrame(ws.NewFrame(op, true, p))
	b, err := ws.CompileFrame(f)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// dialAll opens count connections to addr from source address src, 16 at
// a time; failed ones are nil. Each connection that opens gets a
// goroutine reading broadcasts into rc (unless slow).
func dialAll(addr string, src net.IP, count int, rc *receiver, slow bool) []net.Conn {
	d := dialer(src, slow)
	conns := make([]net.Conn, count)
	var next, connected atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= count {
					return
				}
				for attempt := 0; ; attempt++ {
					c, r, err := open(context.Background(), d, addr)
					if err == nil {
						conns[i] = c
						rc.states[i].dead.Store(false)
						connected.Add(1)
						if !slow {
							go rc.read(&rc.states[i], r)
						}
						break
					}
					if attempt == 2 {
						firstErr.CompareAndSwap(nil, err)
						break
					}
					time.Sleep(50 * time.Millisecond)
				}
			}
		}()
	}
	stop := make(chan struct{})
	ticked := make(chan struct{})
	go func() {
		defer close(ticked)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		last := int64(-1)
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				if n := connected.Load(); n != last {
					fmt.Printf("progress %d\n", n)
					last = n
				}
			}
		}
	}()
	wg.Wait()
	close(stop)
	<-ticked
	if err := firstErr.Load(); err != nil {
		fmt.Fprintf(os.Stderr, "dial: %v\n", err)
	}
	return conns
}

// read reads broadcasts until the connection ends, checking their order
// and recording their delay.
func (rc *receiver) read(s *connState, r io.Reader) {
	defer s.dead.Store(true)
	buf := make([]byte, 0, 256)
	for {
		h, err := ws.ReadHeader(r)
		if err != nil || h.Length > 1<<16 {
			return
		}
		if cap(buf) < int(h.Length) {
			buf = make([]byte, h.Length)
		}
		p := buf[:h.Length]
		if _, err := io.ReadFull(r, p); err != nil {
			return
		}
		now := time.Now().UnixNano()
		switch h.OpCode {
		case ws.OpClose:
			return
		case ws.OpText:
		default:
			continue
		}
		seq, stamp, ok := parseMessage(p)
		if !ok {
			s.broken.Store(true)
			continue
		}
		if f := s.first.Load(); f == 0 {
			s.first.Store(seq)
		} else if seq != s.last.Load()+1 {
			s.broken.Store(true)
		}
		s.last.Store(seq)
		d := &rc.delay[seq%ring]
		for lat := max(now-stamp, 1); ; {
			old := d.Load()
			if old >= lat || d.CompareAndSwap(old, lat) {
				break
			}
		}
	}
}

// parseMessage parses "SEQ UNIXNANO ...".
func parseMessage(p []byte) (seq, stamp int64, ok bool) {
	f := bytes.Fields(p)
	if len(f) < 2 {
		return 0, 0, false
	}
	seq, err1 := strconv.ParseInt(string(f[0]), 10, 64)
	stamp, err2 := strconv.ParseInt(string(f[1]), 10, 64)
	return seq, stamp, err1 == nil && err2 == nil && seq > 0
}

// churn opens and closes connections for dur, at most count at a time,
// ending each in one of several ways; it returns how many it opened.
func churn(addr string, src net.IP, count int, dur time.Duration) int {
	d := dialer(src, false)
	end := time.Now().Add(dur)
	var made atomic.Int64
	var wg sync.WaitGroup
	for w := range min(count, 32) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; time.Now().Before(end); i += 32 {
				switch i % 5 {
				case 0: // gives up in the middle of the upgrade request
					c, err := net.DialTimeout("tcp4", addr, 5*time.Second)
					if err == nil {
						io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n")
						reset(c)
						made.Add(1)
					}
					continue
				}
				c, r, err := open(context.Background(), d, addr)
				if err != nil {
					continue
				}
				made.Add(1)
				switch i % 5 {
				case 1: // reads a broadcast, then resets
					c.SetReadDeadline(time.Now().Add(time.Second))
					ws.ReadHeader(r)
					reset(c)
				case 2: // closes with a close frame and waits for the answer
					writeClientFrame(c, ws.OpClose, ws.NewCloseFrameBody(ws.StatusNormalClosure, ""))
					c.SetReadDeadline(time.Now().Add(2 * time.Second))
					io.Copy(io.Discard, r)
					c.Close()
				case 3: // closes the socket gracefully at once
					c.Close()
				case 4: // sends a frame too large, which the server refuses
					writeClientFrame(c, ws.OpText, make([]byte, 2*maxClientPayload))
					c.SetReadDeadline(time.Now().Add(2 * time.Second))
					io.Copy(io.Discard, r)
					c.Close()
				}
			}
		}()
	}
	wg.Wait()
	return int(made.Load())
}
