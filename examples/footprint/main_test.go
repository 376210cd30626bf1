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

// TestMain lets the test binary play the child roles: footprint re-executes
// its own binary (here, the test binary) for servers and clients.
func TestMain(m *testing.M) {
	if role := os.Getenv(envRole); role != "" {
		os.Exit(runRole(role))
	}
	os.Exit(m.Run())
}

// runFootprint runs the command with args and returns its JSON output.
func runFootprint(t *testing.T, args ...string) (jsonReport, string) {
	t.Helper()
	svg := filepath.Join(t.TempDir(), "footprint.svg")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	args = append([]string{"-json", "-svg", svg, "-idle", "0.2", "-timeout", "45s"}, args...)
	code := run(ctx, args, &stdout, &stderr)
	t.Logf("footprint %s:\n%s", strings.Join(args, " "), stderr.String())
	if code != 0 {
		t.Fatalf("footprint exited with %d", code)
	}
	var rep jsonReport
	dec := json.NewDecoder(&stdout)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rep); err != nil {
		t.Fatalf("bad JSON: %v\n%s", err, stdout.String())
	}
	b, err := os.ReadFile(svg)
	if err != nil {
		t.Fatal(err)
	}
	return rep, string(b)
}

// checkServer checks one server's figures for plausibility.
func checkServer(t *testing.T, s jsonServer) {
	t.Helper()
	if !s.WakeOK {
		t.Errorf("%s: wake_ok is false", s.Name)
	}
	for name, v := range map[string]*int64{
		"rss_per_conn": s.RSSPerConn, "heap_per_conn": s.HeapPerConn,
		"rss_fresh_per_conn": s.RSSFreshPerConn, "kernel_per_conn": s.KernelPerConn,
	} {
		if v == nil {
			t.Errorf("%s: %s is null", s.Name, name)
		} else if *v < -1<<20 || *v > 1<<20 {
			t.Errorf("%s: %s = %d bytes, implausible", s.Name, name, *v)
		}
	}
	// A connection has at least a Go connection object in the server's
	// heap. (Slab is system-wide: at small N other activity on the machine
	// can outweigh the sockets, so kernel_per_conn is not checked.)
	if s.HeapPerConn != nil && *s.HeapPerConn < 64 {
		t.Errorf("%s: heap_per_conn = %d, implausibly small", s.Name, *s.HeapPerConn)
	}
}

// checkSVG checks that the chart is well-formed XML naming the variants.
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
		if !strings.Contains(svg, ">"+n+": ") {
			t.Errorf("chart has no legend entry for %s", n)
		}
	}
}

func TestFootprint(t *testing.T) {
	variants := []string{"net"}
	if stacksliceServe != nil {
		variants = append([]string{"stackslice", "stackslice-deadline"}, variants...)
	} else {
		t.Log("stackslice variant not available in this build (package poll); testing net only")
	}
	rep, svg := runFootprint(t, "-n", "200", "-variants", strings.Join(variants, ","))
	if rep.N != 200 {
		t.Errorf("n = %d, want 200", rep.N)
	}
	if len(rep.Servers) != len(variants) {
		t.Fatalf("%d servers in the report, want %d", len(rep.Servers), len(variants))
	}
	for i, s := range rep.Servers {
		if s.Name != variants[i] {
			t.Errorf("server %d is %q, want %q", i, s.Name, variants[i])
		}
		checkServer(t, s)
	}
	checkSVG(t, svg, variants...)
}

// TestFootprintPeers runs the nbio and gnet servers, which are built from
// the peers module. Building it from nothing downloads and compiles a few
// modules, which can take minutes, so by default the test builds it only
// from modules already in the module cache (GOPROXY=off) and within 20 s,
// and skips if that fails. FOOTPRINT_PEERS=1 makes it build as footprint
// does, through the module proxy, and fail if the build fails.
func TestFootprintPeers(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the peers module")
	}
	force := os.Getenv("FOOTPRINT_PEERS") == "1"
	b := &bench{stderr: io.Discard}
	if !force {
		b.peersEnv = []string{"GOPROXY=off"}
		b.peersTimeout = 20 * time.Second
	}
	defer b.cleanup()
	start := time.Now()
	bin, err := b.buildPeers(context.Background())
	if err != nil {
		if force {
			t.Fatal(err)
		}
		t.Skipf("cannot build the peers module offline within 20 s (FOOTPRINT_PEERS=1 builds it through the module proxy): %v", err)
	}
	t.Logf("peers built in %v", time.Since(start).Round(time.Millisecond))
	_ = bin
	rep, svg := runFootprint(t, "-n", "200", "-variants", "nbio,gnet")
	if len(rep.Servers) != 2 || rep.Servers[0].Name != "nbio" || rep.Servers[1].Name != "gnet" {
		t.Fatalf("servers %+v, want nbio and gnet", rep.Servers)
	}
	for _, s := range rep.Servers {
		checkServer(t, s)
	}
	checkSVG(t, svg, "nbio", "gnet")
}

// TestUnavailable checks that a variant this build cannot run is reported
// as missing, with no figures, and fails the run when asked for.
func TestUnavailable(t *testing.T) {
	if stacksliceServe != nil {
		t.Skip("the stackslice variant is available")
	}
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"-json", "-svg", "", "-variants", "stackslice"}, &stdout, &stderr)
	if code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	var rep jsonReport
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("bad JSON: %v\n%s", err, stdout.String())
	}
	if len(rep.Servers) != 1 || rep.Servers[0].Name != "stackslice" || rep.Servers[0].WakeOK || rep.Servers[0].RSSPerConn != nil {
		t.Errorf("report %+v, want stackslice with no figures", rep.Servers)
	}
	if !strings.Contains(stderr.String(), "not available yet") {
		t.Errorf("stderr does not say the variant is not available:\n%s", stderr.String())
	}
}

func TestNiceTicks(t *testing.T) {
	for _, c := range []struct {
		lo, hi float64
		want   string
	}{
		{400, 9800, "[200 500 1000 2000 5000 10000]"},
		{1000, 1000, "[1000]"},
		{150, 4900, "[100 200 500 1000 2000 5000]"},
	} {
		if got := fmt.Sprint(niceTicks(c.lo, c.hi)); got != c.want {
			t.Errorf("niceTicks(%v, %v) = %s, want %s", c.lo, c.hi, got, c.want)
		}
	}
}
