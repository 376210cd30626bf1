package httpserve

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// idleConns is how many keep-alive connections testIdleHoldsNoBuffer holds.
const idleConns = 100

// TestIdleHoldsNoBuffer: connections that made a request and wait for the
// next hold no pooled reader or writer.
func TestIdleHoldsNoBuffer(t *testing.T) {
	if err := testIdleHoldsNoBuffer(t, hang); err != "" {
		t.Fatal(err)
	}
}

// testIdleHoldsNoBuffer opens idleConns keep-alive connections, each makes
// one request and goes idle, and reports (after waiting up to bound for
// the last buffers to come back) what is wrong, if anything. A
// handler that blocks shows first that the count sees what is lent.
func testIdleHoldsNoBuffer(t *testing.T, bound time.Duration) string {
	release := make(chan struct{})
	blocked := make(chan struct{}, 1)
	mux := http.NewServeMux()
	mux.HandleFunc("/hello", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") })
	mux.HandleFunc("/block", func(w http.ResponseWriter, r *http.Request) {
		blocked <- struct{}{}
		<-release
	})
	ts := newStackslice(t, mux, serverConfig{})
	base := lentActive.Load() // what other tests left lent (hijacked connections keep theirs)

	rc := dialRaw(t, ts.addr)
	rc.send("GET /block HTTP/1.1\r\nHost: x\r\n\r\n")
	waitFor(t, blocked, "the blocked handler")
	if n := lentActive.Load() - base; n < 1 {
		t.Fatalf("%d buffers lent while a request is served: the count does not see them", n)
	}
	close(release)
	rc.response("GET")

	conns := make([]*rawConn, idleConns)
	for i := range conns {
		conns[i] = dialRaw(t, ts.addr)
		conns[i].send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
	}
	for i, c := range conns {
		if s := c.response("GET"); !strings.Contains(s, `body "hello"`) {
			t.Fatalf("connection %d: %s", i, s)
		}
	}
	// The response is read before its connection gives its buffers
	// back: wait for all to have done so, or for a hang's bound.
	var n int64
	waitUntilOr(bound, func() bool { n = lentActive.Load() - base; return n == 0 })
	if n != 0 {
		return fmt.Sprintf("%d buffers lent with every connection idle", n)
	}
	// And they still serve.
	for i, c := range conns {
		c.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
		if s := c.response("GET"); !strings.Contains(s, `body "hello"`) {
			t.Fatalf("connection %d, second request: %s", i, s)
		}
	}
	return ""
}
