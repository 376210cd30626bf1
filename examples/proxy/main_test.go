package main

import (
	"bytes"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

func TestBench(t *testing.T) {
	var out bytes.Buffer
	if err := run([]string{"-bench", "-d", "300ms", "-conns", "4"}, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "ratio") {
		t.Errorf("output:\n%s", out.String())
	}
}

func TestRelay(t *testing.T) {
	bln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer bln.Close()
	go func() {
		c, err := bln.Accept()
		if err != nil {
			return
		}
		io.Copy(c, c)
		c.Close()
	}()
	// Find a free port for the relay, then run it for a bounded time.
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	done := make(chan error, 1)
	var out bytes.Buffer
	go func() { done <- run([]string{"-listen", addr, "-backend", bln.Addr().String(), "-d", "2s"}, &out) }()
	// Wait for the relay to listen (bounded: a loaded machine may take a
	// while to start it).
	var c net.Conn
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if c, err = net.Dial("tcp", addr); err == nil {
			break
		}
	}
	if c == nil {
		t.Fatal(err)
	}
	c.Write([]byte("through the relay"))
	c.(*net.TCPConn).CloseWrite()
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "through the relay" {
		t.Errorf("relayed %q, %v", got, err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
