package main

import (
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// pair returns the two ends of a loopback TCP connection.
func pair(t *testing.T) (server, client net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err = net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return server, client
}

// TestBacklogRecovers fills a connection's socket so that it gets a
// backlog, lets the client catch up, and checks that the connection is
// then written to directly again, past the flusher's write deadline,
// without being dropped; and that every frame arrived in order.
func TestBacklogRecovers(t *testing.T) {
	defer func(d time.Duration) { writeTimeout = d }(writeTimeout)
	writeTimeout = 200 * time.Millisecond
	srvConn, cli := pair(t)
	var logged atomic.Int64
	h := newHub(1, func(f func()) { go f() })
	h.logf = func(string, ...any) { logged.Add(1) }
	raw, err := srvConn.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	s := &subscriber{raw: raw, conn: srvConn, idx: -1}
	h.add(s)

	payload := make([]byte, 60000)
	sent := 0
	backlogged := func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.backlog != nil
	}
	for !backlogged() {
		if sent == 1000 {
			t.Fatal("no backlog after 1000 frames of 60 kB")
		}
		payload[0] = byte(sent)
		h.publish(payload)
		sent++
	}
	// The client reads what was sent, in order.
	read := 0
	readFrames := func(n int) {
		t.Helper()
		cli.SetReadDeadline(time.Now().Add(10 * time.Second))
		for ; read < n; read++ {
			hdr, err := ws.ReadHeader(cli)
			if err != nil {
				t.Fatalf("frame %d: %v", read, err)
			}
			p := make([]byte, hdr.Length)
			if _, err := io.ReadFull(cli, p); err != nil {
				t.Fatalf("frame %d: %v", read, err)
			}
			if p[0] != byte(read) {
				t.Fatalf("frame %d has mark %d", read, p[0])
			}
		}
	}
	readFrames(sent)
	for deadline := time.Now().Add(10 * time.Second); backlogged(); {
		if time.Now().After(deadline) {
			t.Fatal("the backlog was not written")
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(2 * writeTimeout) // past any deadline the flusher set
	payload[0] = byte(sent)
	if n := h.publish(payload); n != 1 {
		t.Fatalf("publish after the backlog went to %d connections, want 1", n)
	}
	sent++
	readFrames(sent)
	if d := h.dropped.Load(); d != 0 || logged.Load() != 0 {
		t.Errorf("%d dropped, %d log lines; want none", d, logged.Load())
	}
}

// TestBacklogOverflowDrops checks that a client that stops reading is
// dropped, with a log line, once it owes maxBacklog frames.
func TestBacklogOverflowDrops(t *testing.T) {
	defer func(n int) { maxBacklog = n }(maxBacklog)
	maxBacklog = 4
	srvConn, _ := pair(t)
	var logged atomic.Int64
	h := newHub(1, func(f func()) { go f() })
	h.logf = func(string, ...any) { logged.Add(1) }
	raw, _ := srvConn.(*net.TCPConn).SyscallConn()
	s := &subscriber{raw: raw, conn: srvConn, idx: -1}
	h.add(s)
	payload := make([]byte, 60000)
	for i := 0; h.count() == 1; i++ {
		if i == 2000 {
			t.Fatal("not dropped after 2000 frames of 60 kB")
		}
		h.publish(payload)
	}
	if h.dropped.Load() != 1 || logged.Load() != 1 {
		t.Errorf("%d dropped, %d log lines; want 1 and 1", h.dropped.Load(), logged.Load())
	}
}
