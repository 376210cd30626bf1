//go:build linux || darwin || freebsd

package poll

import (
	"context"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stackslice/stackslice/sched"
)

// BenchmarkEcho: 1,000 connections over loopback, each a std net client
// goroutine sending a 64-byte message and waiting for its echo, b.N
// messages in all. Servers: poll (one coroutine per connection on a
// scheduler) and net (one goroutine per connection). msgs/s is the figure
// to compare (target: poll >= net).
func BenchmarkEcho(b *testing.B) {
	const conns, size = 1000, 64
	serve := func(c net.Conn) {
		defer c.Close()
		buf := make([]byte, 512)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			if _, err := c.Write(buf[:n]); err != nil {
				return
			}
		}
	}
	run := func(b *testing.B, ln net.Listener, spawn func(func())) {
		spawn(func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				spawn(func() { serve(c) })
			}
		})
		clients := make([]net.Conn, conns)
		for i := range clients {
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			clients[i] = c
		}
		var left atomic.Int64
		left.Store(int64(b.N))
		var wg sync.WaitGroup
		b.ResetTimer()
		start := time.Now()
		for _, c := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				msg := make([]byte, size)
				got := make([]byte, size)
				for left.Add(-1) >= 0 {
					if _, err := c.Write(msg); err != nil {
						b.Error(err)
						return
					}
					if _, err := io.ReadFull(c, got); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		el := time.Since(start)
		b.StopTimer()
		b.ReportMetric(float64(b.N)/el.Seconds(), "msgs/s")
		for _, c := range clients {
			c.Close()
		}
		ln.Close()
	}
	b.Run("poll", func(b *testing.B) {
		s, ln := listenPoll(b)
		run(b, ln, func(f func()) {
			if _, err := s.Go(func(context.Context) { f() }); err != nil {
				b.Error(err)
			}
		})
	})
	b.Run("net", func(b *testing.B) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		run(b, ln, func(f func()) { go f() })
	})
}

// BenchmarkChurn: short connections over loopback, b.N in all, from 8 std
// net client goroutines; each dials, sends one byte, reads its echo and
// closes. Servers: poll (a Server whose Handler echoes the byte and
// returns; the Server closes the connection) and net (an accept loop and a
// goroutine per connection doing the same). conns/s is the throughput;
// cpu-ns/op is the process's CPU time (user and system: clients and
// server, with their system calls) per connection, steadier than conns/s
// on a busy machine. The clients are the same for both, so the difference
// is the servers'.
//
// poll is behind net here (see the README for figures). Where it goes,
// measured with perf stat over 20,000 connections: poll's process made
// 30,322 context switches and 7,639 nanosleeps (the runtime's sysmon and
// spinning threads sleep with it), net's 2,949 and 387. An idle carrier waits for
// readiness in epoll_wait, a blocking system call that the runtime
// accounts as one (entersyscall), and its thread sleeps and wakes once per
// wait. As an experiment only (a raw call that blocks holds its P), the
// same wait made raw took the nanosleeps to 1,455, the context switches to
// 16,906 and the CPU per connection down by 12%; waiting instead in the
// runtime's netpoller, on the epoll descriptor itself, took the CPU per
// connection to net's but cost BenchmarkEcho about 5% of its throughput.
func BenchmarkChurn(b *testing.B) {
	echoOne := func(c io.ReadWriter) {
		buf := make([]byte, 1)
		if _, err := io.ReadFull(c, buf); err == nil {
			c.Write(buf)
		}
	}
	run := func(b *testing.B, addr string) {
		var left atomic.Int64
		left.Store(int64(b.N))
		var wg sync.WaitGroup
		b.ResetTimer()
		cpu0 := cpuTime()
		start := time.Now()
		for range 8 {
			wg.Go(func() {
				one := []byte{1}
				for left.Add(-1) >= 0 {
					c, err := net.Dial("tcp", addr)
					if err != nil {
						b.Error(err)
						return
					}
					if _, err := c.Write(one); err != nil {
						b.Error(err)
					} else if _, err := io.ReadFull(c, one); err != nil {
						b.Error(err)
					}
					c.Close()
				}
			})
		}
		wg.Wait()
		el := time.Since(start)
		b.StopTimer()
		b.ReportMetric(float64(b.N)/el.Seconds(), "conns/s")
		b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
	}
	b.Run("poll", func(b *testing.B) {
		s, ln := listenPoll(b)
		srv := &Server{Handler: func(ctx context.Context, c *Conn) { echoOne(c) }}
		if _, err := s.Go(func(context.Context) { srv.Serve(ln) }); err != nil {
			b.Fatal(err)
		}
		defer srv.Close()
		run(b, ln.Addr().String())
	})
	b.Run("net", func(b *testing.B) {
		run(b, serveNet(b, func(c net.Conn) { echoOne(c) }))
	})
}

// listenPoll returns a new scheduler and a loopback Listener on it, both
// closed when b ends.
func listenPoll(b *testing.B) (*sched.Scheduler, *Listener) {
	s := sched.New()
	b.Cleanup(func() { s.Close() })
	ln, err := Listen(s, "tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	return s, ln
}

// serveNet serves a std net loopback listener, closed when b ends, with
// a goroutine per connection running handle and then closing the
// connection; it returns the listener's address.
func serveNet(b *testing.B, handle func(net.Conn)) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				handle(c)
			}()
		}
	}()
	return ln.Addr().String()
}
