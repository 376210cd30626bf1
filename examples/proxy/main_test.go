package main

import (
	"bytes"
	"encoding/json"
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

func TestBenchJSON(t *testing.T) {
	var out bytes.Buffer
	if err := run([]string{"-bench", "-json", "-d", "400ms", "-conns", "4", "-rounds", "2"}, &out); err != nil {
		t.Fatal(err)
	}
	var rep map[string]any // the promised keys, by name
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("bad JSON: %v\n%s", err, &out)
	}
	t.Logf("%s", &out)
	ours, _ := rep["ours_mbps"].(float64)
	net, _ := rep["net_mbps"].(float64)
	ratio, _ := rep["ratio"].(float64)
	if ours <= 0 || net <= 0 || ratio != ours/net {
		t.Fatalf("ours_mbps %v, net_mbps %v, ratio %v: want positive throughputs and their ratio", rep["ours_mbps"], rep["net_mbps"], rep["ratio"])
	}
	var full BenchReport
	if err := json.Unmarshal(out.Bytes(), &full); err != nil {
		t.Fatal(err)
	}
	if len(full.Rounds) != 2 || !full.Rounds[0].OursFirst || full.Rounds[1].OursFirst {
		t.Errorf("rounds %+v: want 2, alternating which relay goes first", full.Rounds)
	}
	for i, r := range full.Rounds {
		if r.OursMBps <= 0 || r.NetMBps <= 0 {
			t.Errorf("round %d measured nothing: %+v", i, r)
		}
	}
}

func TestBenchBadFlags(t *testing.T) {
	for _, args := range [][]string{{"-rounds", "0"}, {"-conns", "0"}, {"-chunk", "0"}} {
		if err := run(append([]string{"-bench"}, args...), io.Discard); err == nil {
			t.Errorf("-bench %v: no error", args)
		}
	}
}

func TestEchoCheck(t *testing.T) {
	const chunk, seed = 5, 7
	var stream []byte
	for k := range 23 {
		stream = append(stream, seed+byte(k%chunk))
	}
	e := newEchoCheck(seed, chunk, 4)
	for b := stream; len(b) > 0; {
		n := min(len(b), 1+len(b)%4)
		if !e.next(b[:n]) {
			t.Fatalf("the right bytes %v refused at offset %d", b[:n], len(stream)-len(b))
		}
		b = b[n:]
	}
	for i := range stream[:10] {
		bad := append([]byte(nil), stream[:10]...)
		bad[i]++
		e := newEchoCheck(seed, chunk, 4)
		ok := true
		for b := bad; len(b) > 0 && ok; b = b[min(len(b), 3):] {
			ok = e.next(b[:min(len(b), 3)])
		}
		if ok {
			t.Errorf("a wrong byte at %d passed", i)
		}
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
