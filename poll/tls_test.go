//go:build linux || darwin || freebsd

package poll

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stackslice/stackslice/sched"
)

// TLS clients whose reading and writing tasks start at once, before the
// handshake: whichever calls crypto/tls first runs the handshake holding
// the connection's handshake sync.Mutex and parks in its reads, and the
// other blocks its carrier on that mutex. That deadlocked a scheduler with
// one carrier (and the default carriers under load) until stand-ins: every
// client must echo, with the default carriers and with one.
func TestTLSConcurrentHandshake(t *testing.T) {
	n := 100
	if testing.Short() {
		n = 20
	}
	for _, carriers := range []int{0, 1} {
		name := "default carriers"
		var opts []sched.Option
		if carriers > 0 {
			name = "one carrier"
			opts = append(opts, sched.WithCarriers(carriers))
		}
		t.Run(name, func(t *testing.T) {
			s := sched.New(opts...)
			defer s.Close()
			cfg := selfSignedTLS(t)
			ln, err := Listen(s, "tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			s.Go(func(context.Context) {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					s.Go(func(context.Context) {
						tc := tls.Server(c, cfg)
						defer tc.Close()
						io.Copy(tc, tc)
					})
				}
			})
			var echoed atomic.Int32
			var clients []*sched.Task
			for range n {
				task, err := s.Go(func(ctx context.Context) {
					raw, err := Dial(ctx, s, "tcp", ln.Addr().String())
					if err != nil {
						t.Error(err)
						return
					}
					tc := tls.Client(raw, cfg)
					defer tc.Close()
					msg := bytes.Repeat([]byte("x"), 1000)
					w, _ := s.Go(func(context.Context) { tc.Write(msg) })
					got := make([]byte, len(msg))
					if _, err := io.ReadFull(tc, got); err == nil && bytes.Equal(got, msg) {
						echoed.Add(1)
					}
					w.Wait()
				})
				if err != nil {
					t.Fatal(err)
				}
				clients = append(clients, task)
			}
			done := make(chan struct{})
			go func() {
				for _, c := range clients {
					c.Wait()
				}
				close(done)
			}()
			select {
			case <-done:
			case <-time.After(time.Minute):
				var d bytes.Buffer
				s.Dump(&d)
				t.Fatalf("%d of %d TLS clients echoed within a minute; the others hang:\n%.4000s", echoed.Load(), n, d.String())
			}
			if got := echoed.Load(); got != int32(n) {
				t.Fatalf("%d of %d TLS clients echoed", got, n)
			}
		})
	}
}
