package httpserve

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/stackslice/stackslice/sched"
)

// The client watch. A request's context must end when the client goes
// away. net/http learns that by a read in a goroutine of its own for every
// request (its "background read"), started once the request body has been
// read. Here the watch is a task, and it starts only when someone looks:
// the first call of the context's Done or Err (context.AfterFunc,
// WithCancel of a child and select all call Done). A handler that never
// looks at its context, as most short ones, costs no watch, and cannot
// tell the difference. The watch reads one byte: an error or end of
// stream cancels the request; a byte (the next pipelined request) is kept
// for the reader and ends the watch, as in net/http.
//
// The watch reads only while nothing else does: it starts once the body
// has been read to its end (or at once if there is none), and the server
// stops it, with a deadline in the past, before it reads again or hands
// the connection over (stopWatch).

// reqContext is a request's context: a cancellable child of the
// connection task's context (cancelled when the server closes, or the
// task is cancelled), which answers ServerContextKey and
// http.LocalAddrContextKey itself and starts the watch on first use.
type reqContext struct {
	context.Context // from context.WithCancel
	w               *response
	wanted          atomic.Bool // the watch was asked for
}

func (w *response) newContext(parent context.Context) {
	ctx, cancel := context.WithCancel(parent)
	w.ctx = &reqContext{Context: ctx, w: w}
	w.cancel = cancel
}

// Done returns the context's channel, and starts the client watch.
func (ctx *reqContext) Done() <-chan struct{} {
	ctx.want()
	return ctx.Context.Done()
}

// Err returns the context's error, and starts the client watch.
func (ctx *reqContext) Err() error {
	ctx.want()
	return ctx.Context.Err()
}

func (ctx *reqContext) Value(key any) any {
	switch key {
	case ServerContextKey:
		return ctx.w.conn.srv
	case http.LocalAddrContextKey:
		return ctx.w.conn.pc.LocalAddr()
	}
	return ctx.Context.Value(key)
}

func (ctx *reqContext) want() {
	if ctx.wanted.Load() || !ctx.wanted.CompareAndSwap(false, true) {
		return
	}
	w := ctx.w
	if w.body != nil {
		if _, sawEOF, _ := w.body.state(); !sawEOF {
			return // bodyDone starts it
		}
	}
	w.conn.startWatch(w)
}

// bodyDone is called when the body has been read to its end: a watch
// asked for meanwhile starts now.
func (w *response) bodyDone() {
	if w.ctx.wanted.Load() {
		w.conn.startWatch(w)
	}
}

// startWatch starts the watch for w, unless it runs already, the request
// is over, or the connection was hijacked.
func (c *conn) startWatch(w *response) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.watching || c.hasByte || c.cur != w || w.handlerDone.Load() || c.isHijacked() || w.ctx.Context.Err() != nil {
		return
	}
	done := sched.NewChan[struct{}](0)
	c.watching, c.watchAborted, c.watchDone = true, false, done
	c.rwc.SetReadDeadline(time.Time{}) // the request's deadline is the reader's, not the watch's
	if _, err := c.s.Go(func(context.Context) { c.watch(w, done) }, sched.WithTaskName("httpserve client watch")); err != nil {
		c.watching = false // the scheduler is closing: so is the connection
		done.Close()
	}
}

// watch is the watch task: one read of one byte.
func (c *conn) watch(w *response, done *sched.Chan[struct{}]) {
	n, err := c.rwc.Read(c.byteBuf[:])
	c.mu.Lock()
	if n == 1 {
		c.hasByte = true
	}
	var ne net.Error
	if err != nil && !(c.watchAborted && errors.As(err, &ne) && ne.Timeout()) {
		w.cancel() // the client went away
	}
	c.watching = false
	c.mu.Unlock()
	done.Close()
}

// stopWatch ends a running watch and waits for it: a read deadline in the
// past wakes its read.
func (c *conn) stopWatch() {
	c.mu.Lock()
	if !c.watching {
		c.mu.Unlock()
		return
	}
	c.watchAborted = true
	c.rwc.SetReadDeadline(aLongTimeAgo)
	done := c.watchDone
	c.mu.Unlock()
	done.Recv() // ErrChanClosed once the watch ends
	c.rwc.SetReadDeadline(time.Time{})
}
