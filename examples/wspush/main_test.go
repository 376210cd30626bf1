package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMain lets the test binary play the child roles: wspush re-executes
// its own binary (here, the test binary) for servers and clients.
func TestMain(m *testing.M) {
	if role := os.Getenv(envRole); role != "" {
		os.Exit(runRole(role))
	}
	os.Exit(m.Run())
}

// runWSPush runs the command with args and returns its JSON output and the
// chart.
func runWSPush(t *testing.T, args ...string) (jsonReport, string) {
	t.Helper()
	svg := filepath.Join(t.TempDir(), "wspush.svg")
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Second)
	defer cancel()
	var stdout bytes.Buffer
	var stderr lockedBuffer // written by the children's copiers too
	args = append([]string{"-json", "-svg", svg, "-idle", "0.2", "-timeout", "90s"}, args...)
	code := run(ctx, args, &stdout, &stderr)
	t.Logf("wspush %s:\n%s", strings.Join(args, " "), stderr.String())
	var rep jsonReport
	dec := json.NewDecoder(&stdout)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rep); err != nil {
		t.Fatalf("bad JSON (exit code %d): %v\n%s", code, err, stdout.String())
	}
	if code != 0 {
		t.Errorf("wspush exited with %d", code)
	}
	b, err := os.ReadFile(svg)
	if err != nil {
		t.Fatal(err)
	}
	return rep, string(b)
}

// checkServers checks that rep has the servers named, each with every
// message delivered and plausible figures.
func checkServers(t *testing.T, rep jsonReport, n int, names ...string) {
	t.Helper()
	if rep.N != n {
		t.Errorf("n = %d, want %d", rep.N, n)
	}
	if len(rep.Servers) != len(names) {
		t.Fatalf("%d servers in the report, want %d", len(rep.Servers), len(names))
	}
	for i, s := range rep.Servers {
		if s.Name != names[i] {
			t.Errorf("server %d is %q, want %q", i, s.Name, names[i])
		}
		if !s.DeliveredOK {
			t.Errorf("%s: delivered_ok is false", s.Name)
		}
		for name, v := range map[string]*int64{"rss_per_conn": s.RSSPerConn, "heap_per_conn": s.HeapPerConn} {
			if v == nil {
				t.Errorf("%s: %s is null", s.Name, name)
			} else if *v < -1<<20 || *v > 1<<20 {
				t.Errorf("%s: %s = %d bytes, implausible", s.Name, name, *v)
			}
		}
		// A connection has at least a Go connection object in the
		// server's heap; with a few connections only (TestSlowClients:
		// 20, and megabytes of backlogs freed as the slow ones are
		// dropped) the heap's growth per connection is noise, down to 0.
		if n >= 100 && s.HeapPerConn != nil && *s.HeapPerConn < 64 {
			t.Errorf("%s: heap_per_conn = %d, implausibly small", s.Name, *s.HeapPerConn)
		}
		if s.BroadcastP50MS == nil || s.BroadcastP99MS == nil || *s.BroadcastP50MS <= 0 || *s.BroadcastP99MS < *s.BroadcastP50MS {
			t.Errorf("%s: broadcast p50 %v, p99 %v: want 0 < p50 <= p99", s.Name, fmtPtr(s.BroadcastP50MS), fmtPtr(s.BroadcastP99MS))
		}
	}
}

func fmtPtr(v *float64) string {
	if v == nil {
		return "null"
	}
	return fmt.Sprint(*v)
}

// checkSVG checks that the chart is well-formed XML naming the servers.
func checkSVG(t *testing.T, svg string, names ...string) {
	t.Helper()
	dec := xml.NewDecoder(strings.NewReader(svg))
	for {
		_, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("chart is not well-formed XML: %v", err)
		}
	}
	for _, n := range names {
		if !strings.Contains(svg, ">"+n+"<") {
			t.Errorf("chart does not name %s", n)
		}
	}
}

// TestWSPush runs the stackslice and nethttp servers at a small N: every
// connection must have every broadcast, in order.
func TestWSPush(t *testing.T) {
	names := []string{"stackslice", "nethttp"}
	rep, svg := runWSPush(t, "-n", "300", "-servers", strings.Join(names, ","), "-broadcasts", "10", "-interval", "20ms")
	checkServers(t, rep, 300, names...)
	checkSVG(t, svg, names...)
}

// TestSlowClients adds connections that stop reading after they subscribe:
// the servers must drop exactly those (their backlog overflows), and go on
// delivering every message to the others.
func TestSlowClients(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("sends some 200 MB over loopback, too slow for clients built with -race")
	}
	names := []string{"stackslice", "nethttp"}
	rep, _ := runWSPush(t, "-n", "20", "-slow", "4", "-servers", strings.Join(names, ","),
		"-size", "65536", "-broadcasts", "300", "-interval", "10ms")
	checkServers(t, rep, 20, names...)
}

// TestWSPushPeers runs the nbhttp server, which is built from the peers
// module. Building it from nothing downloads and compiles a few modules,
// which can take minutes, so by default the test builds it only from
// modules already in the module cache (GOPROXY=off) and within 30 s, and
// skips if that fails. WSPUSH_PEERS=1 makes it build as wspush does,
// through the module proxy, and fail if the build fails.
func TestWSPushPeers(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the peers module")
	}
	force := os.Getenv("WSPUSH_PEERS") == "1"
	b := &bench{stderr: io.Discard}
	if !force {
		b.peers.Env = []string{"GOPROXY=off"}
		b.peers.Timeout = 30 * time.Second
	}
	defer b.cleanup()
	if _, err := b.buildPeers(context.Background()); err != nil {
		if force {
			t.Fatal(err)
		}
		t.Skipf("cannot build the peers module offline within 30 s (WSPUSH_PEERS=1 builds it through the module proxy): %v", err)
	}
	rep, svg := runWSPush(t, "-n", "300", "-servers", "nbhttp", "-broadcasts", "10", "-interval", "20ms")
	checkServers(t, rep, 300, "nbhttp")
	checkSVG(t, svg, "nbhttp")
}
