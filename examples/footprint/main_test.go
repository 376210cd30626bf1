package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
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

// checkSVG checks that the chart is well-formed XML naming the variants,
// the HTTP ones dotted.
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
		line := fmt.Sprintf(`stroke="%s" stroke-width="2" stroke-dasharray="2 3"/>`, chartColors[n])
		if dotted := strings.Contains(svg, line); dotted != isHTTP(n) {
			t.Errorf("%s: dotted legend line %v, want %v (dotted for HTTP)", n, dotted, isHTTP(n))
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

// TestFootprintHTTP runs the HTTP variants of this module: each
// connection makes a keep-alive GET, idles, and makes another.
func TestFootprintHTTP(t *testing.T) {
	variants := []string{"nethttp"}
	if stacksliceHTTPServe != nil {
		variants = append([]string{"stackslice-http"}, variants...)
	} else {
		t.Log("stackslice-http not available in this build; testing nethttp only")
	}
	rep, svg := runFootprint(t, "-n", "200", "-variants", strings.Join(variants, ","))
	if rep.N != 200 || len(rep.Servers) != len(variants) {
		t.Fatalf("report for N=%d with %d servers, want N=200 and %v", rep.N, len(rep.Servers), variants)
	}
	for i, s := range rep.Servers {
		if s.Name != variants[i] {
			t.Errorf("server %d is %q, want %q", i, s.Name, variants[i])
		}
		checkServer(t, s)
	}
	checkSVG(t, svg, variants...)
	if !strings.Contains(svg, "per idle HTTP keep-alive connection") {
		t.Errorf("the chart's title does not say it is about HTTP")
	}
}

// TestHeapProfile checks -heapprofile: a server writes a readable heap
// profile at the base and at the loaded measurement.
func TestHeapProfile(t *testing.T) {
	dir := t.TempDir()
	runFootprint(t, "-n", "20", "-variants", "nethttp", "-heapprofile", dir)
	for _, phase := range []string{"base", "loaded"} {
		f, err := os.Open(filepath.Join(dir, "nethttp-20-"+phase+".pb.gz"))
		if err != nil {
			t.Fatal(err)
		}
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatalf("%s profile: %v", phase, err)
		}
		n, err := io.Copy(io.Discard, zr)
		f.Close()
		if err != nil || n == 0 {
			t.Errorf("%s profile: %d bytes, %v", phase, n, err)
		}
	}
	var stderr bytes.Buffer
	if code := run(context.Background(), []string{"-heapprofile", filepath.Join(dir, "none")}, io.Discard, &stderr); code != 2 {
		t.Errorf("-heapprofile naming no directory: exit code %d, want 2 (%s)", code, stderr.String())
	}
}

// TestGetHello checks the HTTP client's checks, which wake_ok rests on: a
// response that is not the hello handler's, or that closes the
// connection, fails the exchange.
func TestGetHello(t *testing.T) {
	for _, c := range []struct {
		name    string
		handler http.HandlerFunc
		want    string // in the error; "" for success
	}{
		{"hello", hello, ""},
		{"other body", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello, world!") }, "body"},
		{"status", func(w http.ResponseWriter, r *http.Request) { http.Error(w, helloBody, http.StatusTeapot) }, "status"},
		{"close", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Connection", "close")
			hello(w, r)
		}, "closes the connection"},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := httptest.NewServer(c.handler)
			defer srv.Close()
			conn, err := net.Dial("tcp", srv.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			br := bufio.NewReaderSize(nil, 1024)
			for i := range 2 { // both on one connection: keep-alive
				err = getHello(conn, br, 'x', i)
				if c.want == "" && err != nil {
					t.Fatalf("GET %d: %v", i, err)
				}
				if c.want != "" {
					if err == nil || !strings.Contains(err.Error(), c.want) {
						t.Fatalf("GET %d: error %v, want one about %q", i, err, c.want)
					}
					return
				}
			}
		})
	}
}

// TestParseVariants checks -variants: names, groups, the default (the echo
// variants only: the README's command stays what it was), and errors.
func TestParseVariants(t *testing.T) {
	for _, c := range []struct {
		list, want, named string
	}{
		{"", "stackslice stackslice-compressed stackslice-deadline net nbio gnet", ""},
		{"http", "stackslice-http nethttp nbhttp", ""},
		{"nbhttp,net,nethttp", "net nethttp nbhttp", "nbhttp net nethttp"},
		{"tcp,stackslice-http", "stackslice stackslice-compressed stackslice-deadline net nbio gnet stackslice-http", "stackslice-http"},
		{"all", strings.Join(allVariants, " "), ""},
	} {
		got, named, err := parseVariants(c.list)
		var names []string
		for v := range named {
			names = append(names, v)
		}
		slices.Sort(names)
		if err != nil || strings.Join(got, " ") != c.want || strings.Join(names, " ") != c.named {
			t.Errorf("parseVariants(%q) = %v, named %v, %v; want %s, named %q", c.list, got, names, err, c.want, c.named)
		}
	}
	for _, bad := range []string{"http2", "net,", "HTTP"} {
		if _, _, err := parseVariants(bad); err == nil {
			t.Errorf("parseVariants(%q) succeeded, want an error", bad)
		}
	}
}

// TestFootprintPeers runs the nbio, gnet and nbhttp servers, which are
// built from the peers module. Building it from nothing downloads and compiles a few
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
		b.peers.Env = []string{"GOPROXY=off"}
		b.peers.Timeout = 20 * time.Second
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
	rep, svg := runFootprint(t, "-n", "200", "-variants", "nbio,gnet,nbhttp")
	if len(rep.Servers) != 3 || rep.Servers[0].Name != "nbio" || rep.Servers[1].Name != "gnet" || rep.Servers[2].Name != "nbhttp" {
		t.Fatalf("servers %+v, want nbio, gnet and nbhttp", rep.Servers)
	}
	for _, s := range rep.Servers {
		checkServer(t, s)
	}
	checkSVG(t, svg, "nbio", "gnet", "nbhttp")
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
