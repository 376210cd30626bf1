// Command wspush measures a WebSocket push server holding many idle
// connections, the workload of notification, chat and live-feed servers:
// N clients upgrade over HTTP, subscribe, and then only receive the
// messages that a publisher broadcasts to all of them. The same server is
// written in three ways and measured in the same run:
//
//	go run ./examples/wspush                      # N=5,000, every server
//	go run ./examples/wspush -n 10000 -json
//	go run ./examples/wspush -servers stackslice,nethttp -n 19000
//
// Servers:
//
//	stackslice  package httpserve (HTTP/1.1 on stackslice) upgrades the
//	            request with github.com/gobwas/ws, and the connection's task
//	            goes on serving the WebSocket in plain blocking style: wait
//	            for readability without a buffer (poll.Conn.WaitRead), read
//	            a frame with gobwas/ws's low-level reader, answer it, wait
//	            again
//	nethttp     the usual way: net/http and its goroutine per connection,
//	            the same library and the same frame loop, blocking in Read
//	nbhttp      github.com/lesismal/nbio's nbhttp WebSocket server (callback
//	            style, nbio's event loops), built from the separate module
//	            in examples/wspush/peers so that the stackslice module does
//	            not require it
//
// In every server a publisher writes each message to every subscribed
// connection without waiting for any of them, and a client that falls far
// behind is dropped with a log line, so that it never stalls the others.
// In stackslice and nethttp the frame is encoded once and written with one
// non-blocking write per socket; only a connection whose socket's send
// buffer is full gets a bounded backlog and a flusher task (goroutine)
// until it catches up, and is dropped if the backlog overflows (hub.go).
// nbhttp writes through nbio's own per-connection write buffering, limited
// to 1 MiB a connection.
//
// -slow K adds K connections that stop reading after they subscribe: the
// servers must drop exactly those and go on delivering to the others.
//
// Each server runs in its own process; the connections come from client
// processes (at most 5,000 connections each), each from its own loopback
// source address 127.0.0.2, 127.0.0.3, ... One run of a server:
//
//  1. The server starts; wspush makes one warm-up WebSocket, takes it
//     through what the measured ones go through (a broadcast, -idle
//     seconds idle, another broadcast) and closes it.
//  2. base: the server collects garbage, returns free memory to the OS
//     and reports VmRSS and Go heap+stack in use.
//  3. The clients open N WebSockets (progress on stderr): each upgrades,
//     sends "subscribe", then a ping, and waits for the pong.
//  4. One broadcast, which every client checks. After -idle seconds,
//     loaded: the server measures again.
//  5. -broadcasts more messages, one every -interval. For each, the delay
//     is the time from the publisher stamping it until the last client
//     has it; p50 and p99 are taken over these broadcasts. delivered_ok
//     says that all N connections received every message, in order.
//
// Per connection: rss = (loaded - base) VmRSS / N connected, heap = (loaded
// - base) HeapInuse+StackInuse / N connected.
//
// -json prints {"n": N, "servers": [{"name", "rss_per_conn",
// "heap_per_conn", "broadcast_p50_ms", "broadcast_p99_ms",
// "delivered_ok"}]} with memory in bytes (null for a server that could
// not be measured). The SVG chart (-svg) shows RSS per connection and the
// broadcast delays.
//
// Everything runs on loopback and every child process is killed when its
// run ends, fails or times out.
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
	"slices"
	"strings"
	"syscall"
	"time"
)

// Environment variables that select a child role in the wspush binary.
const (
	envRole    = "WSPUSH_ROLE"    // "server" or "client"
	envVariant = "WSPUSH_VARIANT" // server: "stackslice" or "nethttp"
	envAddr    = "WSPUSH_ADDR"    // client: server address
	envSrc     = "WSPUSH_SRC"     // client: source address
	envCount   = "WSPUSH_COUNT"   // client: connections to open
	envSlow    = "WSPUSH_SLOW"    // client: "1" for clients that stop reading
	envChurn   = "WSPUSH_CHURN"   // client: churn for this duration instead
)

// maxN is the most connections one run may hold: the server holds one
// socket per connection and the open-files limit here is 20,000 (hard).
const maxN = 19000

// allServers are the server variants in the order reported.
var allServers = []string{"stackslice", "nethttp", "nbhttp"}

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
		switch v := os.Getenv(envVariant); v {
		case "stackslice":
			err = serveStackslice("127.0.0.1:0")
		case "nethttp":
			err = serveNetHTTP("127.0.0.1:0")
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
	n          int
	servers    []string
	json       bool
	svg        string
	idle       time.Duration
	broadcasts int
	interval   time.Duration
	size       int
	slow       int // extra connections that stop reading
	peersDir   string
	timeout    time.Duration
	verbose    bool
}

// run is the command; it returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("wspush", flag.ContinueOnError)
	fs.SetOutput(stderr)
	n := fs.Int("n", 5000, fmt.Sprintf("WebSocket connections per server (at most %d)", maxN))
	servers := fs.String("servers", "", "comma-separated servers to run: "+strings.Join(allServers, ",")+" (default all)")
	jsonOut := fs.Bool("json", false, "print the results as JSON (the table goes to stderr)")
	svg := fs.String("svg", "wspush.svg", "write a chart to this file (\"\" for none)")
	idle := fs.Float64("idle", 3, "seconds connections stay idle before the memory is measured")
	broadcasts := fs.Int("broadcasts", 50, "broadcasts timed for the p50 and p99 delay")
	interval := fs.Duration("interval", 200*time.Millisecond, "time between broadcasts")
	size := fs.Int("size", 64, "message payload size in bytes (48 to 65536)")
	slow := fs.Int("slow", 0, "extra connections that stop reading after subscribing (they must be dropped, not stall the others)")
	peers := fs.String("peers", "", "directory of the peers module (default: found next to this source)")
	timeout := fs.Duration("timeout", 15*time.Minute, "give up after this long")
	verbose := fs.Bool("v", false, "print every raw measurement to stderr")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: wspush [flags]\n\nMeasures a WebSocket push server holding many idle connections, for each server variant.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "wspush: unexpected arguments %q\n", fs.Args())
		return 2
	}
	o := options{n: *n, json: *jsonOut, svg: *svg, idle: time.Duration(*idle * float64(time.Second)),
		broadcasts: *broadcasts, interval: *interval, size: *size, slow: *slow,
		peersDir: *peers, timeout: *timeout, verbose: *verbose}
	switch {
	case o.n < 1 || o.n+o.slow > maxN:
		fmt.Fprintf(stderr, "wspush: -n (plus -slow) must be between 1 and %d\n", maxN)
		return 2
	case *idle < 0 || *idle > 600:
		fmt.Fprintf(stderr, "wspush: -idle must be between 0 and 600 seconds\n")
		return 2
	case o.broadcasts < 1 || o.broadcasts > 1000:
		fmt.Fprintf(stderr, "wspush: -broadcasts must be between 1 and 1000\n")
		return 2
	case o.interval < 0 || o.interval > time.Minute:
		fmt.Fprintf(stderr, "wspush: -interval must be between 0 and 1m\n")
		return 2
	case o.size < 48 || o.size > 1<<16:
		fmt.Fprintf(stderr, "wspush: -size must be between 48 and 65536\n")
		return 2
	case o.slow < 0 || o.slow > clientMax:
		fmt.Fprintf(stderr, "wspush: -slow must be between 0 and %d\n", clientMax)
		return 2
	}
	if *servers != "" {
		for _, v := range strings.Split(*servers, ",") {
			v = strings.TrimSpace(v)
			if !slices.Contains(allServers, v) {
				fmt.Fprintf(stderr, "wspush: unknown server %q (want %s)\n", v, strings.Join(allServers, ","))
				return 2
			}
			if !slices.Contains(o.servers, v) {
				o.servers = append(o.servers, v)
			}
		}
		slices.SortFunc(o.servers, func(a, b string) int {
			return slices.Index(allServers, a) - slices.Index(allServers, b)
		})
	} else {
		o.servers = allServers
	}

	ctx, cancel := context.WithTimeoutCause(ctx, o.timeout, fmt.Errorf("-timeout %v reached", o.timeout))
	defer cancel()
	b := &bench{o: o, stderr: stderr}
	defer b.cleanup()

	rep := report{N: o.n}
	failed := false
	for _, v := range o.servers {
		if ctx.Err() != nil {
			break
		}
		r := b.runServer(ctx, v, o.n)
		if r.err != nil {
			fmt.Fprintf(stderr, "wspush: %s at N=%d: %v\n", v, o.n, r.err)
			failed = true
		} else if !r.deliveredOK() {
			failed = true
		}
		rep.Results = append(rep.Results, r)
	}
	if ctx.Err() != nil {
		fmt.Fprintf(stderr, "wspush: %v\n", context.Cause(ctx))
		failed = true
	}

	table := stdout
	if o.json {
		table = stderr
	}
	writeTable(table, rep, o)
	writeNotes(table)
	if o.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep.jsonReport()); err != nil {
			fmt.Fprintf(stderr, "wspush: %v\n", err)
			return 1
		}
	}
	if o.svg != "" {
		if err := writeSVGFile(o.svg, rep); err != nil {
			fmt.Fprintf(stderr, "wspush: %v\n", err)
			return 1
		}
		fmt.Fprintf(stderr, "wspush: chart written to %s\n", o.svg)
	}
	if failed {
		return 1
	}
	return 0
}
