//go:build linux || darwin || freebsd

package httpserve

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stackslice/stackslice/poll"
	"github.com/stackslice/stackslice/sched"
)

// benchHello is the handler of BenchmarkHTTP and examples/hello.
func benchHello(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, "Hello, World!\n")
}

// BenchmarkHTTP: keep-alive GETs of a hello-world handler from 256
// connections, each sending its next request when it has read the
// previous response (as wrk does), the load generator in a child process.
// Servers: stackslice (this package, a sched scheduler with its default
// carriers) and nethttp (net/http). req/s is requests answered per second
// of the load's run; server-cpu-ns/op is the CPU time (user and system)
// of this process, which holds only the server, per request: steadier on
// a busy machine, where the client's share of the cores varies;
// server-ctxsw/op its threads' context switches per request (a thread
// that sleeps for want of work, and is woken, costs two system calls and
// a switch).
func BenchmarkHTTP(b *testing.B) {
	const conns = 256
	b.Run("stackslice", func(b *testing.B) {
		s := sched.New()
		defer s.Close()
		ln, err := poll.Listen(s, "tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		srv := &Server{Handler: http.HandlerFunc(benchHello)}
		benchServer(b, ln.Addr().String(), conns, func() error { return srv.Serve(ln) }, srv.Shutdown)
	})
	b.Run("nethttp", func(b *testing.B) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		srv := &http.Server{Handler: http.HandlerFunc(benchHello)}
		benchServer(b, ln.Addr().String(), conns, func() error { return srv.Serve(ln) }, srv.Shutdown)
	})
}

func benchServer(b *testing.B, addr string, conns int, serve func() error, shutdown func(context.Context) error) {
	served := make(chan error, 1)
	go func() { served <- serve() }()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := shutdown(ctx); err != nil {
			b.Errorf("Shutdown: %v", err)
		}
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			b.Errorf("Serve: %v", err)
		}
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	lg, err := startLoad(ctx, addr, conns, b.N)
	if errors.Is(err, syscall.ENOEXEC) && os.Getenv(execEnv) == "" {
		// A binary of another architecture under an emulator without
		// binfmt_misc: it cannot run itself as the load's child.
		b.Skipf("cannot run the test binary as the load's child (%v): set %s to the emulator that runs it", err, execEnv)
	}
	if err != nil {
		b.Fatal(err)
	}
	cpu0, sw0 := cpuTime()
	b.ResetTimer()
	t0 := time.Now()
	err = lg.run()
	el := time.Since(t0)
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	cpu1, sw1 := cpuTime()
	if err := lg.wait(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/el.Seconds(), "req/s")
	b.ReportMetric(float64(cpu1-cpu0)/float64(b.N), "server-cpu-ns/op")
	b.ReportMetric(float64(sw1-sw0)/float64(b.N), "server-ctxsw/op")
}

// cpuTime returns this process's CPU time, user and system, in ns, and
// its context switches (its threads going to sleep, or preempted).
func cpuTime() (ns, switches int64) {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano(), int64(ru.Nvcsw + ru.Nivcsw)
}
