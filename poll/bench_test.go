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
		s := sched.New()
		defer s.Close()
		ln, err := Listen(s, "tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
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
