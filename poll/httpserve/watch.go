//go:build linux || darwin || freebsd

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

// reqContext is a request's context. It answers ServerContextKey and
// http.LocalAddrContextKey itself, and starts the watch on first use of
// Done or Err. Its parent has the values of the connection task's context
// but not its cancellation: deriving a cancellable context from the
// task's would make the task keep a channel and a callback record for as
// long as it lives (hundreds of bytes an idle connection would carry).
// The server cancels requests itself instead: when the client goes away,
// the handler returns, or the server closes (Close, or Shutdown's context
// ending).
type reqContext struct {
	context.Context // from context.WithCancel(&w.parent)
	w               *response
	wanted          atomic.Bool // the watch was asked for
}

// taskValues is a context with the values of the connection task's
// context and no cancellation (context.WithoutCancel's, without an
// allocation: it lives in the response).
type taskValues struct{ ctx context.Context }

func (taskValues) Deadline() (time.Time, bool) { return time.Time{}, false }
func (taskValues) Done() <-chan struct{}       { return nil }
func (taskValues) Err() error                  { return nil }
func (v *taskValues) Value(key any) any        { return v.ctx.Value(key) }

func (w *response) newContext(parent context.Context) {
	w.parent.ctx = parent
	ctx, cancel := context.WithCancel(&w.parent)
	w.ctx.Context, w.ctx.w = ctx, w
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
		return ctx.w.conn.srv()
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
	w.a.startWatch(w)
}

// bodyDone is called when the body has been read to its end: a watch
// asked for meanwhile starts now.
func (w *response) bodyDone() {
	if w.ctx.wanted.Load() {
		w.a.startWatch(w)
	}
}

// startWatch starts the watch for w, unless it runs already, the request
// is over, or the connection was hijacked.
func (a *active) startWatch(w *response) {
	a.mu.Lock()
	defer a.mu.Unlock()
	c := a.c
	if a.watching || a.hasByte || a.cur != w || w.handlerDone.Load() || c.isHijacked() || w.ctx.Context.Err() != nil {
		return
	}
	rwc := c.rwc()
	rwc.SetReadDeadline(time.Time{}) // the request's deadline is the reader's, not the watch's
	if c.tc == nil && c.pc.WaitRead(doneCtx) == nil {
		// Something is pending already (the client's end, or the next
		// request): read it here, so that the caller of Done or Err
		// sees the context cancelled at once if the client has gone,
		// as net/http's background read, started earlier, would have.
		n, err := c.pc.Read(a.byteBuf[:])
		if n == 1 {
			a.hasByte = true
		}
		if err != nil {
			w.cancel()
		}
		return
	}
	done := sched.NewChan[struct{}](0)
	a.watching, a.watchAborted, a.watchDone = true, false, done
	if _, err := a.s.Go(func(context.Context) { a.watch(rwc, w, done) }, sched.WithTaskName("httpserve client watch")); err != nil {
		a.watching = false // the scheduler is closing: so is the connection
		done.Close()
	}
}

// doneCtx is a context that is done: WaitRead with it only looks.
var doneCtx = func() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}()

// watch is the watch task: one read of one byte.
func (a *active) watch(rwc net.Conn, w *response, done *sched.Chan[struct{}]) {
	n, err := rwc.Read(a.byteBuf[:])
	a.mu.Lock()
	if n == 1 {
		a.hasByte = true
	}
	var ne net.Error
	if err != nil && !(a.watchAborted && errors.As(err, &ne) && ne.Timeout()) {
		w.cancel() // the client went away
	}
	a.watching = false
	a.mu.Unlock()
	done.Close()
}

// stopWatch ends a running watch and waits for it: a read deadline in the
// past wakes its read.
func (a *active) stopWatch() {
	a.mu.Lock()
	if !a.watching {
		a.mu.Unlock()
		return
	}
	a.watchAborted = true
	rwc := a.c.rwc()
	rwc.SetReadDeadline(aLongTimeAgo)
	done := a.watchDone
	a.mu.Unlock()
	done.Recv() // ErrChanClosed once the watch ends
	rwc.SetReadDeadline(time.Time{})
}
