//go:build linux || darwin || freebsd

package poll

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"
)

// TestWaitReadStaleEdge: WaitRead returns only when there is something to
// read. An edge the poller delivers late, for bytes a Read has already
// taken, must not end it: a server that then reads would park in Read
// holding a buffer, the cost WaitRead exists to avoid.
func TestWaitReadStaleEdge(t *testing.T) {
	if err := staleEdge(t, 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
}

// staleEdge parks a task in WaitRead on an idle connection, injects a
// readiness edge with no data, and reports an error if WaitRead returns
// within quiet; then sends a byte, which must end it.
func staleEdge(t *testing.T, quiet time.Duration) error {
	s := newScheduler(t)
	ln, err := Listen(s, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan *Conn, 1)
	returned := make(chan error, 1)
	if _, err := s.Go(func(context.Context) {
		c, err := ln.AcceptConn()
		if err != nil {
			returned <- err
			return
		}
		accepted <- c
		returned <- c.WaitRead(nil)
	}); err != nil {
		t.Fatal(err)
	}
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	c := recv(t, accepted, "the accepted connection")
	defer c.Close()
	waitUntil(t, "the task to park in WaitRead", func() bool { return s.Stats().ParkedBy["poll: wait read"] == 1 })

	c.fd.ready(&c.fd.r) // what the poller does for a late edge
	select {
	case err := <-returned:
		return errors.New("WaitRead returned after an edge with nothing to read (err " + errString(err) + ")")
	case <-time.After(quiet):
	}
	if _, err := client.Write([]byte{1}); err != nil {
		t.Fatal(err)
	}
	if err := recv(t, returned, "WaitRead after a byte arrived"); err != nil {
		t.Fatalf("WaitRead: %v", err)
	}
	return nil
}

func errString(err error) string {
	if err == nil {
		return "nil"
	}
	return err.Error()
}
