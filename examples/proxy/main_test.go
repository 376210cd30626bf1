package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stackslice/stackslice/examples/internal/childproc"
)

// TestMain lets the test binary be -bench's peer process (peer.go), which
// is this program started again.
func TestMain(m *testing.M) {
	if os.Getenv(envPeer) != "" {
		if err := runPeer(os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "proxy peer:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// skipIfCannotExec skips t when err, from starting the peer process, says
// that the test binary cannot be run directly (a binary of another
// architecture under an emulator without binfmt_misc), as the tests of
// sched and poll do, unless childproc.ExecEnv names the emulator.
func skipIfCannotExec(t testing.TB, err error) {
	t.Helper()
	if errors.Is(err, syscall.ENOEXEC) && os.Getenv(childproc.ExecEnv) == "" {
		t.Skipf("cannot run the test binary as a child (%v): set %s to the emulator that runs it", err, childproc.ExecEnv)
	}
}

func TestBench(t *testing.T) {
	var out bytes.Buffer
	if err := run([]string{"-bench", "-d", "300ms", "-conns", "4"}, &out); err != nil {
		skipIfCannotExec(t, err)
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "ratio") {
		t.Errorf("output:\n%s", out.String())
	}
}

func TestBenchJSON(t *testing.T) {
	var out bytes.Buffer
	if err := run([]string{"-bench", "-json", "-d", "2s", "-conns", "4", "-rounds", "2"}, &out); err != nil {
		skipIfCannotExec(t, err)
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
	// The load ran in a child: the relays moved bytes, which costs this
	// process some CPU each.
	if full.OursIdles <= 0 {
		t.Errorf("ours_idles_per_mb %v: want the relay's carriers' turns idle counted (they wait for the load's data)", full.OursIdles)
	}
	if full.InProcess || full.OursCPU <= 0 || full.NetCPU <= 0 {
		t.Errorf("in_process %v, ours_cpu_ns_per_mb %v, net_cpu_ns_per_mb %v: want the load in a child and both relays' CPU measured",
			full.InProcess, full.OursCPU, full.NetCPU)
	}
}

// TestBenchLayouts: the load runs in a child process by default and in
// this one with -inproc, and -relay runs one relay alone.
func TestBenchLayouts(t *testing.T) {
	for _, tc := range []struct {
		args      []string
		inProcess bool
		ours, net bool
	}{
		{[]string{"-relay", "ours"}, false, true, false},
		{[]string{"-relay", "net", "-inproc"}, true, false, true},
		{[]string{"-inproc"}, true, true, true},
	} {
		var out bytes.Buffer
		args := append([]string{"-bench", "-json", "-d", "600ms", "-conns", "2", "-rounds", "1"}, tc.args...)
		if err := run(args, &out); err != nil {
			skipIfCannotExec(t, err)
			t.Fatalf("%v: %v", tc.args, err)
		}
		var rep BenchReport
		if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
			t.Fatalf("%v: bad JSON: %v\n%s", tc.args, err, &out)
		}
		if rep.InProcess != tc.inProcess || (rep.OursMBps > 0) != tc.ours || (rep.NetMBps > 0) != tc.net {
			t.Errorf("%v: in_process %v, ours_mbps %v, net_mbps %v; want in_process %v, ours measured %v, net measured %v",
				tc.args, rep.InProcess, rep.OursMBps, rep.NetMBps, tc.inProcess, tc.ours, tc.net)
		}
	}
}

func TestBenchBadFlags(t *testing.T) {
	for _, args := range [][]string{{"-rounds", "0"}, {"-conns", "0"}, {"-chunk", "0"}, {"-relay", "both-ish"}} {
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
