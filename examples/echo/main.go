// Command echo is an echo server with one coroutine per connection, in
// plain blocking style: the connection's coroutine parks in Read until data
// arrives, then writes it back.
//
//	go run ./examples/echo                          # serve on 127.0.0.1:7007 until interrupted
//	go run ./examples/echo -clients 100 -d 5s       # and load it from 100 in-process clients
//
// Idle connections hold no read buffer: each waits with WaitRead and
// borrows a pooled buffer (ReadWith) only while echoing.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stackslice/stackslice/poll"
	"github.com/stackslice/stackslice/sched"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "echo:", err)
		os.Exit(1)
	}
}

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("echo", flag.ContinueOnError)
	fs.SetOutput(out)
	addr := fs.String("addr", "127.0.0.1:7007", "listen address (loopback by default; :0 picks a port)")
	dur := fs.Duration("d", 0, "stop after this long (0: run until interrupted)")
	clients := fs.Int("clients", 0, "in-process load clients (std net goroutines) to run against the server")
	size := fs.Int("size", 64, "message size of the load clients")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if *dur > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *dur)
		defer cancel()
	}

	s := sched.New()
	defer s.Close()
	ln, err := poll.Listen(s, "tcp", *addr)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "echo: listening on %s\n", ln.Addr())
	var conns atomic.Int64
	srv := &poll.Server{Handler: func(ctx context.Context, c *poll.Conn) {
		conns.Add(1)
		serve(c)
	}}
	if _, err := s.Go(func(context.Context) { srv.Serve(ln) }); err != nil {
		ln.Close()
		return err
	}

	var msgs atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range *clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := client(ctx, ln.Addr().String(), *size, &msgs); err != nil && ctx.Err() == nil {
				fmt.Fprintln(out, "echo: client:", err)
			}
		}()
	}
	<-ctx.Done()
	wg.Wait()
	el := time.Since(start)
	// Stop accepting and give the connections still open (not the load
	// clients': they are closed) a second to end before cancelling them.
	sctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	srv.Shutdown(sctx)
	st := poll.StatsFor(s)
	fmt.Fprintf(out, "echo: %d connections served", conns.Load())
	if *clients > 0 {
		fmt.Fprintf(out, ", %d messages in %v (%.0f msgs/s)", msgs.Load(), el.Round(time.Millisecond), float64(msgs.Load())/el.Seconds())
	}
	fmt.Fprintf(out, "; poller: %d polls, %d events, %d wakes\n", st.Polls, st.Events, st.Wakes)
	return nil
}

// serve echoes one connection until the peer closes it (the Server then
// closes it).
func serve(c *poll.Conn) {
	for {
		err := c.ReadWith(nil, func(p []byte) error {
			_, err := c.Write(p)
			return err
		})
		if err != nil {
			return
		}
	}
}

// client sends size-byte messages and checks their echo until ctx ends.
func client(ctx context.Context, addr string, size int, msgs *atomic.Int64) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	msg := make([]byte, size)
	got := make([]byte, size)
	for ctx.Err() == nil {
		if _, err := c.Write(msg); err != nil {
			return err
		}
		if _, err := io.ReadFull(c, got); err != nil {
			return err
		}
		msgs.Add(1)
	}
	return nil
}
