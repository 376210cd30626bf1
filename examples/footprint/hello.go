package main

// The HTTP variants' handler and client side. peers/hello.go has a copy of
// the handler (a separate module cannot import this one); keep the two in
// step, so that every HTTP server answers with the same bytes.

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"
)

// helloBody is the body of every HTTP response.
const helloBody = "hello, world\n"

// hello is the HTTP variants' handler: it answers any request with
// helloBody as text/plain, with the header set explicitly so that every
// server sends the same fields (each adds its own Date).
func hello(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(helloBody)))
	io.WriteString(w, helloBody)
}

// getHello makes one keep-alive GET on c, the response read through br
// (reset to c), and checks the response: 200, helloBody, the connection
// kept open, and nothing sent past the response. i and tag make each
// request's target distinct.
func getHello(c net.Conn, br *bufio.Reader, tag byte, i int) error {
	c.SetDeadline(time.Now().Add(10 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := fmt.Fprintf(c, "GET /hello?%c=%d HTTP/1.1\r\nHost: footprint\r\n\r\n", tag, i); err != nil {
		return err
	}
	br.Reset(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1024))
	resp.Body.Close()
	switch {
	case err != nil:
		return err
	case resp.StatusCode != http.StatusOK:
		return fmt.Errorf("status %q, want 200", resp.Status)
	case !bytes.Equal(body, []byte(helloBody)):
		return fmt.Errorf("body %q, want %q", body, helloBody)
	case resp.Close:
		return fmt.Errorf("the server closes the connection after the response")
	case br.Buffered() != 0:
		return fmt.Errorf("%d bytes past the response", br.Buffered())
	}
	return nil
}

// exchanger makes one exchange on connection i: an echoed message, or a
// GET. Each has its own buffers: one per goroutine.
type exchanger func(c net.Conn, tag byte, i int) error

// newExchanger returns an exchanger for protocol proto ("http", else echo).
func newExchanger(proto string) exchanger {
	if proto == "http" {
		br := bufio.NewReaderSize(nil, 1024)
		return func(c net.Conn, tag byte, i int) error { return getHello(c, br, tag, i) }
	}
	msg, got := make([]byte, msgLen), make([]byte, msgLen)
	return func(c net.Conn, tag byte, i int) error {
		message(msg, tag, i)
		return echo(c, msg, got)
	}
}

// protocol returns the protocol of variant v, for newExchanger.
func protocol(v string) string {
	if isHTTP(v) {
		return "http"
	}
	return "echo"
}
