//go:build linux || darwin || freebsd

package poll

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"testing"
)

// BenchmarkRelay: a TCP relay over loopback in front of a std net echo
// backend, as examples/proxy runs it: 32 std net clients each stream their
// share of b.N 32 KiB chunks through the relay and read the echo back
// (counted, not inspected: the tests check the bytes). Relays: poll (a
// coroutine per direction, Conn.ReadFrom: splice on Linux) and net (a
// goroutine per direction, io.Copy between *net.TCPConn: splice on Linux).
// MB/s is relayed payload, each byte crossing the relay twice; cpu-ns/op
// is the process's CPU time (user and system: clients, relay, backend and
// their system calls) per chunk, steadier than MB/s on a busy machine.
func BenchmarkRelay(b *testing.B) {
	const conns, chunk = 32, 32 << 10
	backend := serveNet(b, func(c net.Conn) { // the echo backend
		io.Copy(c, c)
		c.(*net.TCPConn).CloseWrite()
	})

	run := func(b *testing.B, addr string) {
		b.SetBytes(chunk)
		var wg sync.WaitGroup
		errs := make(chan error, 2*conns)
		cs := make([]net.Conn, conns)
		for i := range cs {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				b.Fatal(err)
			}
			cs[i] = c
		}
		cpu0 := cpuTime()
		b.ResetTimer()
		for i, c := range cs {
			n := b.N / conns
			if i < b.N%conns {
				n++
			}
			wg.Add(2)
			go func() {
				defer wg.Done()
				buf := make([]byte, chunk)
				for range n {
					if _, err := c.Write(buf); err != nil {
						errs <- err
						return
					}
				}
				c.(*net.TCPConn).CloseWrite()
			}()
			go func() {
				defer wg.Done()
				defer c.Close()
				got, err := io.Copy(io.Discard, c)
				if err == nil && got != int64(n)*chunk {
					err = fmt.Errorf("echoed %d bytes, want %d", got, int64(n)*chunk)
				}
				if err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		b.StopTimer()
		b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
		close(errs)
		for err := range errs {
			b.Error(err)
		}
	}

	b.Run("poll", func(b *testing.B) {
		s, ln := listenPoll(b)
		s.Go(func(context.Context) {
			for {
				c, err := ln.AcceptConn()
				if err != nil {
					return
				}
				s.Go(func(ctx context.Context) {
					defer c.Close()
					u, err := Dial(ctx, s, "tcp", backend)
					if err != nil {
						return
					}
					defer u.Close()
					t, err := s.Go(func(context.Context) { benchPipe(u, c) })
					if err != nil {
						return
					}
					benchPipe(c, u)
					t.Wait()
				})
			}
		})
		run(b, ln.Addr().String())
	})
	b.Run("net", func(b *testing.B) {
		run(b, serveNet(b, func(c net.Conn) {
			u, err := net.Dial("tcp", backend)
			if err != nil {
				return
			}
			defer u.Close()
			done := make(chan struct{})
			go func() {
				defer close(done)
				io.Copy(u, c)
				u.(*net.TCPConn).CloseWrite()
			}()
			io.Copy(c, u)
			c.(*net.TCPConn).CloseWrite()
			<-done
		}))
	})
}

// cpuTime is the process's user and system CPU time in nanoseconds.
func cpuTime() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// benchPipe is examples/proxy's pipe.
func benchPipe(dst, src *Conn) {
	if _, err := dst.ReadFrom(src); err != nil {
		src.CloseRead()
	}
	dst.CloseWrite()
}
