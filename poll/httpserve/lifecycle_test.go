package httpserve

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stackslice/stackslice/poll"
	"github.com/stackslice/stackslice/sched"
)

// TestServeAfterShutdown: Serve on a Server shut down returns
// http.ErrServerClosed and closes the listener; RegisterOnShutdown's
// functions run at Shutdown.
func TestServeAfterShutdown(t *testing.T) {
	s := sched.New()
	defer s.Close()
	srv := &Server{}
	ran := make(chan struct{})
	srv.RegisterOnShutdown(func() { close(ran) })
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown of a server never started: %v", err)
	}
	waitFor(t, ran, "the RegisterOnShutdown function")
	ln, err := poll.Listen(s, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(ln); err != http.ErrServerClosed {
		t.Errorf("Serve after Shutdown: %v, want http.ErrServerClosed", err)
	}
	if _, err := ln.Accept(); err == nil {
		t.Error("the listener is still open")
	}
}

// TestServeTLSFiles: ServeTLS loads the certificate and key from files,
// and without any certificate returns an error and closes the listener.
func TestServeTLSFiles(t *testing.T) {
	cert, roots := selfSigned(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	keyDER, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600)

	s := sched.New()
	defer s.Close()
	ln, err := poll.Listen(s, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "tls") }),
		ErrorLog: log.New(io.Discard, "", 0)}
	go srv.ServeTLS(ln, certFile, keyFile)
	defer srv.Close()
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: hang}).Get("https://" + ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "tls" {
		t.Errorf("body %q", b)
	}

	ln2, err := poll.Listen(s, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	err = (&Server{}).ServeTLS(ln2, "", "")
	if err == nil || !strings.Contains(err.Error(), "no certificate") {
		t.Errorf("ServeTLS without a certificate: %v", err)
	}
	if _, err := ln2.Accept(); err == nil {
		t.Error("the listener is still open")
	}
	if err := (&Server{}).ServeTLS(ln2, filepath.Join(dir, "missing"), keyFile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ServeTLS with a missing file: %v", err)
	}
}
