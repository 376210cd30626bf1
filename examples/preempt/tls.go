package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"sync/atomic"
	"time"

	"github.com/stackslice/stackslice/poll"
	"github.com/stackslice/stackslice/sched"
)

// tlsClients is the -block tls load: a TLS echo server over poll and n
// clients, all tasks of one scheduler. Each client starts a writing task
// and reads in its own task at once, before any handshake: whichever
// calls crypto/tls first runs the handshake holding the connection's
// handshake mutex and parks in its reads, and the other blocks its
// carrier on that sync.Mutex until the handshake is over.
type tlsClients struct {
	srv       *poll.Server
	completed atomic.Int32
	done      chan struct{} // closed when every client has echoed
}

func startTLSClients(s *sched.Scheduler, n int) (*tlsClients, error) {
	cfg, err := selfSigned()
	if err != nil {
		return nil, err
	}
	ln, err := poll.Listen(s, "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	l := &tlsClients{done: make(chan struct{})}
	l.srv = &poll.Server{Handler: func(ctx context.Context, c *poll.Conn) { echoTLS(c, cfg) }}
	if _, err := s.Go(func(ctx context.Context) { l.srv.Serve(ln) }); err != nil {
		ln.Close()
		return nil, err
	}
	addr := ln.Addr().String()
	for range n {
		if _, err := s.Go(func(ctx context.Context) { l.client(ctx, s, addr, cfg, n) }); err != nil {
			l.close()
			return nil, err
		}
	}
	return l, nil
}

func (l *tlsClients) close() { l.srv.Close() }

// echoTLS echoes a connection through crypto/tls until the peer closes it.
func echoTLS(c *poll.Conn, cfg *tls.Config) {
	tc := tls.Server(c, cfg)
	defer tc.Close()
	tc.SetDeadline(time.Now().Add(time.Minute))
	io.Copy(tc, tc)
}

// client writes a message from one task and reads it back in another,
// both starting before the handshake, and counts the echo if it matches.
func (l *tlsClients) client(ctx context.Context, s *sched.Scheduler, addr string, cfg *tls.Config, n int) {
	raw, err := poll.Dial(ctx, s, "tcp", addr)
	if err != nil {
		return
	}
	tc := tls.Client(raw, cfg)
	defer tc.Close()
	tc.SetDeadline(time.Now().Add(time.Minute))
	msg := bytes.Repeat([]byte("stackslice "), 100)
	writer, err := s.Go(func(context.Context) { tc.Write(msg) })
	if err != nil {
		return
	}
	got := make([]byte, len(msg))
	_, rerr := io.ReadFull(tc, got)
	writer.Wait()
	if rerr == nil && bytes.Equal(got, msg) && int(l.completed.Add(1)) == n {
		close(l.done)
	}
}

// selfSigned returns a TLS configuration for both ends: a fresh
// self-signed certificate for "localhost", trusted by the client side.
func selfSigned() (*tls.Config, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "localhost"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		DNSNames:     []string{"localhost"},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}},
		RootCAs:      pool,
		ServerName:   "localhost",
	}, nil
}
