// Command footprint measures what an idle connection costs a server: the
// same echo server written in several ways, and the same hello-world HTTP
// server, each holding N connections, each connection having exchanged one
// message (or made one GET) and then gone idle.
//
//	go run ./examples/footprint                      # N=10,000, the echo variants
//	go run ./examples/footprint -n 19000
//	go run ./examples/footprint -variants net,nbio -json
//	go run ./examples/footprint -variants http       # the HTTP variants
//	go run ./examples/footprint -sweep -svg footprint.svg
//
// Echo variants (raw TCP; "tcp" in -variants, the default):
//
//	stackslice  one coroutine per connection on packages sched and poll, in
//	            plain blocking style: Read, Write the echo, Read again; with
//	            compression turned off (sched.WithCompression)
//	stackslice-compressed
//	            the same with the scheduler's default compression policy
//	            (sched.DefaultCompression): a connection idle for a second
//	            is packed against a template shared by every connection
//	            parked at the same Read
//	stackslice-deadline
//	            stackslice-compressed plus what real servers set: a read
//	            deadline (idle timeout) of one hour on every connection, set
//	            before its first Read and renewed after each message
//	net         one goroutine per connection with the standard library and a
//	            4 KiB bufio.Reader (the common style)
//	nbio, gnet  github.com/lesismal/nbio and github.com/panjf2000/gnet/v2 echo
//	            servers (callback style), built from the separate module in
//	            examples/footprint/peers so that the stackslice module does
//	            not require them
//
// HTTP variants ("http" in -variants; not run by default): one hello-world
// handler, the same bytes from each (a GET answered 200 with a 13-byte
// text/plain body), each with its server's defaults; every connection makes
// one keep-alive GET, idles, and is woken by a second GET.
//
//	stackslice-http
//	            package poll/httpserve: each connection a task of a
//	            scheduler with the defaults (sched.New())
//	nethttp     net/http's http.Server: a goroutine per connection
//	nbhttp      github.com/lesismal/nbio/nbhttp, from the peers module
//
// -variants takes names, and the groups tcp, http and all.
//
// Each variant runs in its own server process; the connections come from
// client processes (at most 5,000 sockets each, far below the open-files
// limit of 20,000), each from its own loopback source address 127.0.0.2,
// 127.0.0.3, ... One run of a variant:
//
//  1. The server starts; footprint makes one warm-up connection, exchanges
//     one message, leaves it idle for -idle seconds, exchanges another and
//     closes it, so that code and fixed structures touched by the first
//     connection (in every phase, packing an idle one included) are not
//     counted per connection.
//  2. base: the server collects garbage, returns free memory to the OS
//     (debug.FreeOSMemory) and reports VmRSS (/proc/self/status) and Go
//     heap+stack in use (runtime.MemStats HeapInuse+StackInuse); footprint
//     reads Slab from /proc/meminfo.
//  3. The clients open N connections (progress on stderr). fresh: the server
//     measures again.
//  4. Every connection sends one message and checks the echo (or makes one
//     GET and checks the response); only those that answered count as live.
//     After -idle seconds, loaded: the server measures again and footprint
//     reads Slab again.
//  5. wake: every connection sends one more message (a second GET on the
//     same connection); wake_ok says that all N answered both.
//
// Per connection: rss = (loaded - base) VmRSS / live, heap = (loaded - base)
// HeapInuse+StackInuse / live, rss fresh = (fresh - base) VmRSS / N. The
// headline is rss after one exchange: buffers that were never written are
// not resident, so the fresh figure flatters servers that give every
// connection a buffer. kernel = Slab delta / (2 live): both ends of every
// connection are sockets on this host, and a server pays for one of them;
// it is about the same for every variant. The clients' memory is in their
// own processes, not counted.
//
// -heapprofile DIR writes heap profiles (pprof) of each server, taken
// right after the base and the loaded measurements, to
// DIR/VARIANT-N-base.pb.gz and DIR/VARIANT-N-loaded.pb.gz, for finding
// where a variant's bytes go: the difference is what the N connections
// hold,
//
//	go tool pprof -sample_index=inuse_space -diff_base DIR/stackslice-http-5000-base.pb.gz DIR/stackslice-http-5000-loaded.pb.gz
//
// Its servers record every allocation, which costs memory of its own:
// the figures of such a run are for diagnosis, not the headline.
//
// -json prints {"n": N, "servers": [{"name", "rss_per_conn",
// "heap_per_conn", "rss_fresh_per_conn", "kernel_per_conn", "wake_ok"}]}
// with figures in bytes (null for a variant that could not be measured);
// with -sweep it prints an array of them, one per N. The SVG chart (-svg)
// plots rss per connection against N for every variant.
//
// Everything runs on loopback, every child process is killed when its run
// ends, fails or times out, and a run at the default N takes well under two
// minutes.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Environment variables that select a child role in the footprint binary.
const (
	envRole    = "FOOTPRINT_ROLE"    // "server" or "client"
	envVariant = "FOOTPRINT_VARIANT" // server: "net" or a stackslice variant
	envAddr    = "FOOTPRINT_ADDR"    // client: server address
	envSrc     = "FOOTPRINT_SRC"     // client: source address
	envCount   = "FOOTPRINT_COUNT"   // client: connections to open
	envProto   = "FOOTPRINT_PROTO"   // client: "http" for the HTTP variants, else echo
)

// maxN is the most connections one run may hold: the server holds one
// socket per connection and the open-files limit here is 20,000 (hard).
const maxN = 19000

// errNotAvailable marks a variant that this build cannot run.
var errNotAvailable = errors.New("not available yet")

// allVariants are the variants in the order reported.
var allVariants = []string{
	"stackslice", "stackslice-compressed", "stackslice-deadline", "net", "nbio", "gnet",
	"stackslice-http", "nethttp", "nbhttp",
}

// httpVariants are the variants that serve HTTP instead of echoing.
var httpVariants = []string{"stackslice-http", "nethttp", "nbhttp"}

// variantGroups are the names -variants takes for several variants; "tcp"
// is the default.
var variantGroups = map[string][]string{
	"tcp":  {"stackslice", "stackslice-compressed", "stackslice-deadline", "net", "nbio", "gnet"},
	"http": httpVariants,
	"all":  allVariants,
}

// isHTTP reports whether variant v serves HTTP.
func isHTTP(v string) bool { return slices.Contains(httpVariants, v) }

// baseline returns the variant whose RSS the table divides v's by: the
// standard library's server of the same protocol.
func baseline(v string) string {
	if isHTTP(v) {
		return "nethttp"
	}
	return "net"
}

// stacksliceConfig is how a stackslice variant's server differs.
type stacksliceConfig struct {
	compressed   bool // idle coroutines packed against shared templates
	readDeadline bool // a read deadline an hour ahead, renewed per message
}

// stacksliceVariants are the stackslice variants by name.
var stacksliceVariants = map[string]stacksliceConfig{
	"stackslice":            {},
	"stackslice-compressed": {compressed: true},
	"stackslice-deadline":   {compressed: true, readDeadline: true},
}

// stacksliceServe serves the stackslice echo variants, and
// stacksliceHTTPServe the stackslice-http variant; they are nil when
// packages sched and poll are left out of the build (see
// server_stackslice.go).
var (
	stacksliceServe     func(addr string, cfg stacksliceConfig) error
	stacksliceHTTPServe func(addr string) error
)

func main() {
	if role := os.Getenv(envRole); role != "" {
		os.Exit(runRole(role))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// runRole runs a child role and returns the exit code.
func runRole(role string) int {
	var err error
	switch role {
	case "client":
		err = runClient()
	case "server":
		v := os.Getenv(envVariant)
		cfg, stackslice := stacksliceVariants[v]
		switch {
		case v == "net":
			err = serveNet("127.0.0.1:0")
		case v == "nethttp":
			err = serveNetHTTP("127.0.0.1:0")
		case v == "stackslice-http" && stacksliceHTTPServe == nil:
			err = fmt.Errorf("%s: %w", v, errNotAvailable)
		case v == "stackslice-http":
			err = stacksliceHTTPServe("127.0.0.1:0")
		case stackslice && stacksliceServe == nil:
			err = fmt.Errorf("%s: %w", v, errNotAvailable)
		case stackslice:
			err = stacksliceServe("127.0.0.1:0", cfg)
		default:
			err = fmt.Errorf("unknown server variant %q", v)
		}
	default:
		err = fmt.Errorf("unknown %s %q", envRole, role)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", role, err)
		return 1
	}
	return 0
}

// options are the command-line settings.
type options struct {
	n        int
	variants []string
	json     bool
	svg      string
	sweep    []int // nil without -sweep
	idle     time.Duration
	peersDir string
	timeout  time.Duration
	verbose  bool
	profile  string // -heapprofile: a directory, or ""
}

// parseVariants parses -variants: names and groups, comma-separated, or ""
// for the default group, tcp. It returns the variants in the order
// reported, and which of them were named by themselves: those must run,
// while one brought in by a group is skipped with a note if this build
// cannot run it.
func parseVariants(list string) (variants []string, named map[string]bool, err error) {
	named = map[string]bool{}
	if list == "" {
		return variantGroups["tcp"], named, nil
	}
	for _, v := range strings.Split(list, ",") {
		v = strings.TrimSpace(v)
		names, group := variantGroups[v]
		if !group {
			if !slices.Contains(allVariants, v) {
				return nil, nil, fmt.Errorf("unknown variant %q (want %s, or tcp, http, all)", v, strings.Join(allVariants, ","))
			}
			names = []string{v}
			named[v] = true
		}
		for _, name := range names {
			if !slices.Contains(variants, name) {
				variants = append(variants, name)
			}
		}
	}
	// Report in the usual order whatever the order asked for.
	slices.SortFunc(variants, func(a, b string) int {
		return slices.Index(allVariants, a) - slices.Index(allVariants, b)
	})
	return variants, named, nil
}

// run is the command; it returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("footprint", flag.ContinueOnError)
	fs.SetOutput(stderr)
	n := fs.Int("n", 10000, fmt.Sprintf("connections per server (at most %d)", maxN))
	variants := fs.String("variants", "", "comma-separated variants to run: "+strings.Join(allVariants, ",")+
		", or the groups tcp (the echo variants), http, all (default tcp: every available echo variant)")
	jsonOut := fs.Bool("json", false, "print the results as JSON (the table goes to stderr)")
	svg := fs.String("svg", "footprint.svg", "write a chart of RSS per connection against N to this file (\"\" for none)")
	sweep := fs.Bool("sweep", false, "run every N in -sweep-n instead of -n")
	sweepN := fs.String("sweep-n", "2000,5000,10000,19000", "the values of N for -sweep")
	idle := fs.Float64("idle", 3, "seconds connections stay idle before the loaded measurement")
	peers := fs.String("peers", "", "directory of the peers module (default: found next to this source)")
	timeout := fs.Duration("timeout", 15*time.Minute, "give up after this long")
	verbose := fs.Bool("v", false, "print every raw measurement to stderr")
	profile := fs.String("heapprofile", "", "write heap profiles of each server, at the base and loaded measurements, to `DIR`/VARIANT-N-{base,loaded}.pb.gz;\n"+
		"the servers record every allocation (runtime.MemProfileRate=1), which costs memory: figures from such a run are for diagnosis only")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: footprint [flags]\n\nMeasures the memory an idle connection (TCP echo, or HTTP keep-alive) costs a server, for each server variant.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "footprint: unexpected arguments %q\n", fs.Args())
		return 2
	}
	o := options{n: *n, json: *jsonOut, svg: *svg, idle: time.Duration(*idle * float64(time.Second)), peersDir: *peers, timeout: *timeout, verbose: *verbose, profile: *profile}
	if o.n < 1 || o.n > maxN {
		fmt.Fprintf(stderr, "footprint: -n must be between 1 and %d\n", maxN)
		return 2
	}
	if o.profile != "" {
		fi, err := os.Stat(o.profile)
		if err == nil && !fi.IsDir() {
			err = errors.New("not a directory")
		}
		if err == nil {
			o.profile, err = filepath.Abs(o.profile) // the servers may run elsewhere
		}
		if err != nil {
			fmt.Fprintf(stderr, "footprint: -heapprofile %s: %v\n", *profile, err)
			return 2
		}
	}
	if *idle < 0 || *idle > 600 {
		fmt.Fprintf(stderr, "footprint: -idle must be between 0 and 600 seconds\n")
		return 2
	}
	if *sweep {
		for _, f := range strings.Split(*sweepN, ",") {
			v, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || v < 1 || v > maxN {
				fmt.Fprintf(stderr, "footprint: bad -sweep-n value %q (want 1..%d)\n", f, maxN)
				return 2
			}
			o.sweep = append(o.sweep, v)
		}
		slices.Sort(o.sweep)
		o.sweep = slices.Compact(o.sweep)
	}
	var named map[string]bool
	var err error
	if o.variants, named, err = parseVariants(*variants); err != nil {
		fmt.Fprintf(stderr, "footprint: %v\n", err)
		return 2
	}

	ctx, cancel := context.WithTimeoutCause(ctx, o.timeout, fmt.Errorf("-timeout %v reached", o.timeout))
	defer cancel()
	b := &bench{o: o, stderr: stderr}
	defer b.cleanup()

	ns := []int{o.n}
	if o.sweep != nil {
		ns = o.sweep
	}
	var reports []report
	failed := false
	for _, n := range ns {
		rep := report{N: n}
		for _, v := range o.variants {
			if ctx.Err() != nil {
				break
			}
			r := b.runVariant(ctx, v, n)
			if r.err != nil {
				if errors.Is(r.err, errNotAvailable) && !named[v] {
					fmt.Fprintf(stderr, "footprint: %s: %v\n", v, r.err)
				} else {
					fmt.Fprintf(stderr, "footprint: %s at N=%d: %v\n", v, n, r.err)
					failed = true
				}
			} else if !r.wakeOK() {
				failed = true
			}
			rep.Results = append(rep.Results, r)
		}
		reports = append(reports, rep)
		if ctx.Err() != nil {
			fmt.Fprintf(stderr, "footprint: %v\n", context.Cause(ctx))
			failed = true
			break
		}
	}

	table := stdout
	if o.json {
		table = stderr
	}
	for _, rep := range reports {
		writeTable(table, rep)
	}
	writeNotes(table)
	if o.json {
		var v any = reports[0].jsonReport()
		if o.sweep != nil {
			var all []jsonReport
			for _, rep := range reports {
				all = append(all, rep.jsonReport())
			}
			v = all
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(v); err != nil {
			fmt.Fprintf(stderr, "footprint: %v\n", err)
			return 1
		}
	}
	if o.svg != "" {
		if err := writeSVGFile(o.svg, reports); err != nil {
			fmt.Fprintf(stderr, "footprint: %v\n", err)
			return 1
		}
		fmt.Fprintf(stderr, "footprint: chart written to %s\n", o.svg)
	}
	if failed {
		return 1
	}
	return 0
}
