package httpserve

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stackslice/stackslice/poll"
	"github.com/stackslice/stackslice/sched"
)

// selfSigned returns a certificate for 127.0.0.1 and a pool that trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{Organization: []string{"httpserve test"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// TestTLS: ServeTLS serves net/http's Transport over TLS with keep-alive,
// negotiates http/1.1 by ALPN although the client offers h2 first, and
// answers a plain HTTP request with net/http's 400.
func TestTLS(t *testing.T) {
	cert, roots := selfSigned(t)
	s := sched.New()
	defer s.Close()
	ln, err := poll.Listen(s, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	errLog := new(syncBuffer)
	srv := &Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.TLS == nil || !r.TLS.HandshakeComplete {
				t.Errorf("request's TLS state: %+v", r.TLS)
			}
			io.WriteString(w, r.Proto+" "+r.TLS.NegotiatedProtocol)
		}),
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}},
		ErrorLog:  log.New(errLog, "", 0),
	}
	served := make(chan error, 1)
	go func() { served <- srv.ServeTLS(ln, "", "") }()
	defer srv.Close()

	tr := &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: roots},
		ForceAttemptHTTP2: true, // offers h2 first
	}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: hang}
	url := "https://" + ln.Addr().String() + "/"
	for i := range 3 {
		var reused bool
		resp, err := c.Do(traced(get(t, url), &reused))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.Proto != "HTTP/1.1" || resp.TLS.NegotiatedProtocol != "http/1.1" || string(body) != "HTTP/1.1 http/1.1" {
			t.Errorf("request %d: %s, ALPN %q, body %q", i, resp.Proto, resp.TLS.NegotiatedProtocol, body)
		}
		if reused != (i > 0) {
			t.Errorf("request %d: connection reused %v", i, reused)
		}
	}

	rc := dialRaw(t, ln.Addr().String())
	rc.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if s := rc.rest(); !strings.HasPrefix(s, "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n") {
		t.Errorf("plain HTTP to the TLS server: %q", s)
	}

	if err := srv.Shutdown(t.Context()); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if err := waitFor(t, served, "ServeTLS's return"); err != http.ErrServerClosed {
		t.Errorf("ServeTLS: %v, want http.ErrServerClosed", err)
	}
}

// TestTLSWatchAndPipelining: over TLS, plaintext the tls.Conn holds is not
// seen by the socket's readability: pipelined requests, and a byte read by
// the context's watch, must still be served.
func TestTLSWatchAndPipelining(t *testing.T) {
	cert, roots := selfSigned(t)
	s := sched.New()
	defer s.Close()
	ln, err := poll.Listen(s, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &Server{Handler: compatMux(), TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}, ErrorLog: log.New(io.Discard, "", 0)}
	go srv.ServeTLS(ln, "", "")
	defer srv.Close()
	tc, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: roots})
	if err != nil {
		t.Fatal(err)
	}
	rc := &rawConn{t: t, Conn: tc, br: bufio.NewReader(tc)}
	defer tc.Close()
	tc.SetDeadline(time.Now().Add(hang))
	for range 3 {
		rc.send("GET /ctxsleep HTTP/1.1\r\nHost: x\r\n\r\n")
		time.Sleep(10 * time.Millisecond)
		rc.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
		if s := rc.response("GET") + rc.response("GET"); !strings.Contains(s, `body "ctx"`) || !strings.Contains(s, `body "hello"`) {
			t.Fatalf("context watch over TLS:\n%s", s)
		}
		rc.send(strings.Repeat("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", 3))
		for i := range 3 {
			if s := rc.response("GET"); !strings.Contains(s, `body "hello"`) {
				t.Fatalf("pipelined request %d over TLS:\n%s", i, s)
			}
		}
	}
}

// TestTLSShutdownBeforeHandshake: a client that connects to a TLS server
// and sends nothing holds Shutdown no more than an idle connection does
// (net/http closes such a connection once it is 5 s old; this server,
// which waits for the client's hello as for a request, at once).
func TestTLSShutdownBeforeHandshake(t *testing.T) {
	cert, _ := selfSigned(t)
	s := sched.New()
	defer s.Close()
	ln, err := poll.Listen(s, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &Server{Handler: compatMux(), TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}, ErrorLog: log.New(io.Discard, "", 0)}
	served := make(chan error, 1)
	go func() { served <- srv.ServeTLS(ln, "", "") }()
	defer srv.Close()
	rc := dialRaw(t, ln.Addr().String())
	waitUntil(t, "the connection's task", func() bool { return s.Stats().Tasks >= 1 })
	ctx, cancel := context.WithTimeout(context.Background(), hang)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown with a connection that sent nothing: %v", err)
	}
	if s := rc.rest(); s != "<EOF>" {
		t.Errorf("client read %q", s)
	}
	if err := waitFor(t, served, "ServeTLS's return"); err != http.ErrServerClosed {
		t.Errorf("ServeTLS: %v", err)
	}
}

// TestTLSTimeoutsAndHijack: over TLS, a client that sends nothing is
// closed after the handshake timeout, one idle after a request after
// IdleTimeout, and a hijack hands over the *tls.Conn.
func TestTLSTimeoutsAndHijack(t *testing.T) {
	cert, roots := selfSigned(t)
	s := sched.New()
	defer s.Close()
	ln, err := poll.Listen(s, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/hello", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") })
	mux.HandleFunc("/hijack", func(w http.ResponseWriter, r *http.Request) {
		c, brw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close()
		if _, ok := c.(*tls.Conn); !ok {
			t.Errorf("hijacked a %T, want a *tls.Conn", c)
		}
		line, _ := brw.ReadString('\n')
		brw.WriteString("echo " + line)
		brw.Flush()
	})
	srv := &Server{
		Handler:           mux,
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}},
		ReadHeaderTimeout: time.Second, // the handshake timeout too: room for a loaded machine
		IdleTimeout:       50 * time.Millisecond,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	go srv.ServeTLS(ln, "", "")
	defer srv.Close()
	addr := ln.Addr().String()

	if s := dialRaw(t, addr).rest(); s != "<EOF>" {
		t.Errorf("a client that sent nothing read %q", s)
	}
	dialTLS := func() *rawConn {
		tc, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { tc.Close() })
		tc.SetDeadline(time.Now().Add(hang))
		return &rawConn{t: t, Conn: tc, br: bufio.NewReader(tc)}
	}
	rc := dialTLS()
	rc.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
	if s := rc.response("GET"); !strings.Contains(s, `body "hello"`) {
		t.Fatalf("request over TLS: %s", s)
	}
	if s := rc.rest(); s != "<EOF>" {
		t.Errorf("idle TLS connection read %q", s)
	}
	rc = dialTLS()
	rc.send("GET /hijack HTTP/1.1\r\nHost: x\r\n\r\nping\n")
	if line, err := rc.br.ReadString('\n'); line != "echo ping\n" {
		t.Errorf("hijacked TLS connection: %q, %v", line, err)
	}
}
