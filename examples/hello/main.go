// Command hello serves a hello-world handler over HTTP/1.1 on stackslice
// (package poll/httpserve: each connection a task of a scheduler), or,
// with -std, the same handler with net/http, for side-by-side load tests
// with any HTTP client (wrk, hey, ab, curl).
//
//	go run ./examples/hello -addr 127.0.0.1:8080       # stackslice, until interrupted
//	go run ./examples/hello -addr 127.0.0.1:8080 -std  # net/http
//	wrk -t2 -c256 -d10s http://127.0.0.1:8080/
//	go run ./examples/hello -cpuprofile cpu.out        # then: go tool pprof cpu.out
//
// SIGINT or SIGTERM (or the end of -d) shuts the server down gracefully:
// it stops accepting, closes the idle connections and waits up to -grace
// for the requests in flight, then closes what is left.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/stackslice/stackslice/poll"
	"github.com/stackslice/stackslice/poll/httpserve"
	"github.com/stackslice/stackslice/sched"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, nil); err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "hello:", err)
		os.Exit(1)
	}
}

// hello is the handler both servers serve.
func hello(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, "Hello, World!\n")
}

// run serves until ctx ends (or -d passes), then shuts down. ready, if not
// nil, gets the address listened on once the server accepts.
func run(ctx context.Context, args []string, out io.Writer, ready func(addr string)) error {
	fs := flag.NewFlagSet("hello", flag.ContinueOnError)
	fs.SetOutput(out)
	addr := fs.String("addr", "127.0.0.1:8080", "listen address (:0 picks a port)")
	std := fs.Bool("std", false, "serve with net/http instead of stackslice")
	dur := fs.Duration("d", 0, "stop after this long (0: run until interrupted)")
	grace := fs.Duration("grace", 5*time.Second, "on shutdown, wait this long for the requests in flight")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the serving to this file (go tool pprof)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if *dur > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *dur)
		defer cancel()
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/", hello)

	var (
		serve    func() error
		shutdown func(context.Context) error
		closeAll func() error
		lnAddr   net.Addr
		name     string
	)
	if *std {
		ln, err := net.Listen("tcp", *addr)
		if err != nil {
			return err
		}
		srv := &http.Server{Handler: mux}
		serve = func() error { return srv.Serve(ln) }
		shutdown, closeAll, lnAddr, name = srv.Shutdown, srv.Close, ln.Addr(), "net/http"
	} else {
		s := sched.New()
		defer s.Close() // after the server: its tasks are done by then
		ln, err := poll.Listen(s, "tcp", *addr)
		if err != nil {
			return err
		}
		srv := &httpserve.Server{Handler: mux}
		serve = func() error { return srv.Serve(ln) }
		shutdown, closeAll, lnAddr, name = srv.Shutdown, srv.Close, ln.Addr(), "stackslice"
	}
	served := make(chan error, 1)
	go func() { served <- serve() }()
	fmt.Fprintf(out, "hello: serving http://%s/ with %s\n", lnAddr, name)
	if ready != nil {
		ready(lnAddr.String())
	}

	select {
	case err := <-served:
		return err // accepting failed
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), *grace)
	defer cancel()
	err := shutdown(sctx)
	if err != nil {
		fmt.Fprintf(out, "hello: shutdown: %v; closing the rest\n", err)
		closeAll()
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	fmt.Fprintln(out, "hello: stopped")
	return nil
}
