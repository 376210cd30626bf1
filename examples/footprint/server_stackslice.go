//go:build !footprint_nostackslice

// The stackslice variant. Building with -tags footprint_nostackslice leaves
// it out, for when packages sched and poll do not build; footprint then
// reports the variant as not available instead of measuring it.

package main

import (
	"context"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/stackslice/stackslice/poll"
	"github.com/stackslice/stackslice/poll/httpserve"
	"github.com/stackslice/stackslice/sched"
	"github.com/stackslice/stackslice/slice"
)

func init() {
	stacksliceServe = serveStackslice
	stacksliceHTTPServe = serveStacksliceHTTP
}

// echoPool lends the read buffers: a connection holds one only while it
// echoes what it read.
var echoPool = poll.NewBufferPool(4096)

// idleTimeout is the stackslice-deadline variant's read deadline.
const idleTimeout = time.Hour

// open counts the connections being served. It is a global so that the
// handler's frame, saved with every parked connection, need not hold it.
var open atomic.Int64

// serveStackslice serves the stackslice variants: one coroutine per
// connection on package sched, started by a poll.Server, in plain blocking
// style with package poll: read, write the echo, read again. While it
// waits to read, the coroutine is parked (its stack sliced away) and holds
// no buffer.
//
// With cfg.compressed, the scheduler keeps its default compression policy
// (sched.DefaultCompression): coroutines idle for a second are packed
// against templates shared by every coroutine parked at the same Read.
// Without, compression is turned off. With cfg.readDeadline, every
// connection has a read deadline idleTimeout ahead, set before its first
// Read and renewed after each message, as a server with an idle timeout
// does.
func serveStackslice(addr string, cfg stacksliceConfig) error {
	var opts []sched.Option
	if !cfg.compressed {
		opts = append(opts, sched.WithCompression(sched.CompressionPolicy{Mode: slice.CompressNone}))
	}
	s := sched.New(opts...)
	ln, err := poll.Listen(s, "tcp4", addr)
	if err != nil {
		return err
	}
	srv := &poll.Server{Handler: func(ctx context.Context, c *poll.Conn) {
		open.Add(1)
		defer open.Add(-1)
		for {
			if cfg.readDeadline && c.SetReadDeadline(time.Now().Add(idleTimeout)) != nil {
				return
			}
			err := c.ReadWith(echoPool, func(p []byte) error {
				_, err := c.Write(p)
				return err
			})
			if err != nil {
				return
			}
		}
	}}
	defer srv.Close()
	if _, err := s.Go(func(context.Context) { srv.Serve(ln) }); err != nil {
		ln.Close()
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Run(ctx)
	return control(ln.Addr().String(), open.Load)
}

// serveStacksliceHTTP serves the stackslice-http variant: package
// httpserve over a poll.Listener, each connection a task of a scheduler
// with the defaults (compression included), the server with its defaults.
// The connections are counted from the poller's descriptors (httpserve has
// no ConnState hook), the listener's left out.
func serveStacksliceHTTP(addr string) error {
	s := sched.New()
	ln, err := poll.Listen(s, "tcp4", addr)
	if err != nil {
		return err
	}
	srv := &httpserve.Server{Handler: http.HandlerFunc(hello)}
	defer srv.Close()
	if _, err := s.Go(func(context.Context) { srv.Serve(ln) }); err != nil {
		ln.Close()
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Run(ctx)
	return control(ln.Addr().String(), func() int64 { return poll.StatsFor(s).FDs - 1 })
}
