//go:build linux || darwin || freebsd

package poll

import (
	"context"
	"errors"
	"sync"
	"syscall"

	"github.com/stackslice/stackslice/sched"
)

// ErrServerClosed is returned by Server.Serve after a call to Shutdown or
// Close, as net/http's ErrServerClosed is.
var ErrServerClosed = errors.New("poll: Server closed")

// A Server serves the connections that its Listeners accept: each
// connection gets a task of the listener's scheduler, which calls Handler
// with it and closes it when Handler returns. Its lifecycle is that of
// net/http's Server: Serve accepts until the listener fails or the Server
// is shut down; Shutdown stops accepting and lets the handlers finish;
// Close stops accepting and cancels them.
//
// A zero Server with a Handler is ready to use. A Server serves any
// number of listeners, of one scheduler or several, and cannot be used
// again once shut down or closed. Its methods are safe for concurrent use;
// a Server must not be copied after first use.
//
// The Server recovers nothing: a panic in Handler ends the program, as one
// in any task does, unless the scheduler has a panic handler
// (sched.WithPanicHandler); the connection is then closed, and the Server
// serves on.
type Server struct {
	// Handler serves one connection, in the connection's own task. ctx is
	// that task's context: it is cancelled by Close, by Shutdown once
	// Shutdown's context ends, by sched.Task.Cancel and when the
	// scheduler closes; the blocking calls of packages sched and poll
	// then return, Reads and Writes of c included. The Server closes c
	// when Handler returns (or panics), as net/http closes a request's
	// connection; Handler may close it earlier. c must not be used after
	// Handler has returned.
	Handler func(ctx context.Context, c *Conn)

	mu         sync.Mutex
	state      serverState
	listeners  map[*Listener]struct{}   // being served by Serve calls
	loops      int                      // Serve calls running
	active     int                      // connections whose task was started and has not ended
	unrecorded int                      // tasks begun and not yet recorded (see Detach)
	tasks      connTasks                // the tasks that run Handler now
	ended      map[*sched.Task]struct{} // tasks that ended before start recorded them
	detached   map[*Conn]struct{}       // connections given up by Detach whose task runs on
	drained    *sched.Chan[struct{}]    // closed once shut down with no loop and no connection left
	isDrained  bool                     // drained is closed
}

type serverState uint8

const (
	serverOpen      serverState = iota
	serverShutdown              // Shutdown began: handlers finish
	serverCancelled             // Close, or Shutdown's context ended: handlers are cancelled
)

// Serve serves the connections ln accepts, on ln's scheduler, with a
// handler of the zero Server's form: one task per connection, which calls
// handler and then closes the connection. It returns as Server.Serve
// does; the connections it started keep running. To shut them down, use
// a Server.
func Serve(ln *Listener, handler func(ctx context.Context, c *Conn)) error {
	srv := &Server{Handler: handler}
	return srv.Serve(ln)
}

// Serve accepts connections on ln and starts a task for each on ln's
// scheduler, which runs srv.Handler and then closes the connection. It
// returns when accepting fails, and closes ln then, as net/http's Serve
// does. Serve blocks: call it from a task (Accept parks the task) or from a
// goroutine.
//
// Serve always returns a non-nil error: ErrServerClosed after Shutdown or
// Close; the scheduler's error (sched.ErrClosed) if a connection's task
// cannot be started, the scheduler closing (the connection is closed);
// otherwise Accept's error, such as net.ErrClosed when ln or its scheduler
// was closed. Accept itself waits out a lack of descriptors or socket
// memory, and retries after ECONNABORTED and similar, so that Serve does
// not return for those. Serve panics if srv.Handler is nil.
func (srv *Server) Serve(ln *Listener) error {
	if srv.Handler == nil {
		panic("poll: Server.Serve with a nil Handler; set Server.Handler to the function that serves a connection")
	}
	if !ln.ok() {
		return syscall.EINVAL
	}
	s := ln.fd.p.s
	if s == nil {
		ln.Close()
		return errors.New("poll: Serve: the listener's poller belongs to no scheduler")
	}
	if !srv.startLoop(ln) {
		ln.Close()
		return ErrServerClosed
	}
	defer srv.endLoop(ln)
	for {
		c, err := ln.AcceptConn()
		if err != nil {
			if srv.stopped() {
				return ErrServerClosed
			}
			return err
		}
		if err := srv.start(s, c); err != nil {
			return err
		}
	}
}

// startLoop records a Serve call on ln, unless srv was shut down.
func (srv *Server) startLoop(ln *Listener) bool {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if srv.state != serverOpen {
		return false
	}
	if srv.listeners == nil {
		srv.listeners = make(map[*Listener]struct{})
	}
	srv.listeners[ln] = struct{}{}
	srv.loops++
	return true
}

// endLoop closes ln and ends the record of its Serve call.
func (srv *Server) endLoop(ln *Listener) {
	ln.Close()
	srv.mu.Lock()
	delete(srv.listeners, ln)
	srv.loops--
	srv.checkDrained()
	srv.mu.Unlock()
}

// stopped reports whether Shutdown or Close was called.
func (srv *Server) stopped() bool {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	return srv.state != serverOpen
}

// start starts c's task on s and records it, so that Close can cancel it.
// On failure c is closed: ErrServerClosed if srv was shut down, or Go's
// error.
func (srv *Server) start(s *sched.Scheduler, c *Conn) error {
	if !srv.begin() {
		c.Close()
		return ErrServerClosed
	}
	t, err := s.Go(func(ctx context.Context) {
		defer srv.endConn(c) // also after a panic or runtime.Goexit in Handler
		srv.Handler(ctx, c)
	})
	return srv.record(t, c, err)
}

// begin counts a connection about to be started, unless srv was shut down.
func (srv *Server) begin() bool {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if srv.state != serverOpen {
		return false
	}
	srv.active++
	srv.unrecorded++
	return true
}

// record records t, the task started for c, or undoes begin if Go failed
// (err), closing c.
//
// The task is recorded here, after Go, not by the task itself: the task's
// frame is saved with every parked connection, and recording from it would
// keep its context in the frame across a call. The task may have ended by
// the time Go returns; endConn then left it in srv.ended, and it is not
// recorded.
func (srv *Server) record(t *sched.Task, c *Conn, err error) error {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	srv.unrecorded--
	if err != nil {
		if !brokenServeGoFail { // negative control (test builds only): leak c
			c.Close()
		}
		srv.active--
		srv.checkDrained()
		return err
	}
	if _, ok := srv.ended[t]; ok {
		delete(srv.ended, t)
		return nil
	}
	srv.tasks.add(c.fd.num, t)
	if srv.state == serverCancelled {
		t.Cancel() // Close came between Go and here
	}
	return nil
}

// endConn closes c and forgets its task, when the task ends. It runs in a
// deferred call, and blocks on nothing but srv.mu.
func (srv *Server) endConn(c *Conn) {
	srv.mu.Lock()
	if _, ok := srv.detached[c]; ok {
		delete(srv.detached, c) // Detach did the rest; c is its new owner's
		srv.mu.Unlock()
		return
	}
	srv.mu.Unlock()
	c.Close()
	t := sched.Current()
	srv.mu.Lock()
	if !srv.tasks.remove(c.fd.num, t) {
		// Ended before record recorded it: tell record.
		if srv.ended == nil {
			srv.ended = make(map[*sched.Task]struct{})
		}
		srv.ended[t] = struct{}{}
	}
	srv.active--
	srv.checkDrained()
	srv.mu.Unlock()
}

// Detach gives up srv's hold on c, the connection whose Handler is running
// in the calling task, as net/http's Hijack does: srv no longer closes c
// when Handler returns, Shutdown no longer waits for the task, and Close no
// longer cancels it. The caller owns c from then on and must close it; the
// task may go on serving c, or hand it to another task and return.
//
// Detach returns an error if the calling task is not one that srv started
// for c, or if c was already detached.
func (srv *Server) Detach(c *Conn) error {
	t := sched.Current()
	if t == nil || !c.ok() {
		return errors.New("poll: Server.Detach called outside the task that serves the connection")
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if _, ok := srv.detached[c]; ok {
		return errors.New("poll: Server.Detach: the connection is already detached")
	}
	for !srv.tasks.remove(c.fd.num, t) {
		if srv.unrecorded == 0 {
			return errors.New("poll: Server.Detach called outside the task that serves the connection")
		}
		// A task runs as soon as Go starts it, and may get here
		// before start has recorded it: wait for every start under
		// way to finish recording.
		srv.mu.Unlock()
		sched.Yield()
		srv.mu.Lock()
		if _, ok := srv.detached[c]; ok {
			return errors.New("poll: Server.Detach: the connection is already detached")
		}
	}
	if srv.detached == nil {
		srv.detached = make(map[*Conn]struct{})
	}
	srv.detached[c] = struct{}{}
	srv.active--
	srv.checkDrained()
	return nil
}

// checkDrained closes srv.drained once srv is shut down and nothing runs
// any more. srv.mu is held.
func (srv *Server) checkDrained() {
	if srv.state == serverOpen || srv.loops != 0 || srv.active != 0 || srv.isDrained {
		return
	}
	srv.isDrained = true
	srv.drainedChan().Close()
}

// drainedChan returns srv.drained, made on first use. srv.mu is held.
func (srv *Server) drainedChan() *sched.Chan[struct{}] {
	if srv.drained == nil {
		srv.drained = sched.NewChan[struct{}](0)
	}
	return srv.drained
}

// Shutdown shuts srv down gracefully, as net/http's Shutdown does: it
// closes its listeners, so that Serve returns ErrServerClosed, then waits
// for every connection's handler to return, and returns nil. If ctx ends
// first, Shutdown cancels the handlers still running, as Close does, waits
// for them to return, and returns ctx's error. Called from a task,
// Shutdown parks it; if that task is cancelled, Shutdown cancels the
// handlers as when ctx ends, and returns the task context's error at once.
//
// Shutdown returns only when Handler has returned everywhere: a handler
// that ignores its context keeps it waiting, and one that calls Shutdown
// waits for itself. Handlers are not told that Shutdown began; a server
// whose connections live long can tell them itself, or call Shutdown with
// a deadline. Errors of closing the listeners are returned when ctx has
// not ended. The Server cannot be used again.
func (srv *Server) Shutdown(ctx context.Context) error {
	if ctx == nil {
		panic("poll: Server.Shutdown with a nil context; pass context.Background() to wait without a limit")
	}
	srv.mu.Lock()
	if srv.state == serverOpen {
		srv.state = serverShutdown
	}
	err := srv.closeListeners()
	srv.checkDrained()
	drained := srv.drainedChan()
	srv.mu.Unlock()

	if _, werr := drained.RecvCtx(ctx); werr != sched.ErrChanClosed {
		srv.mu.Lock()
		srv.state = serverCancelled
		srv.cancelTasks()
		srv.mu.Unlock()
		if _, err := drained.Recv(); err != sched.ErrChanClosed {
			return err // the calling task was cancelled
		}
		return werr
	}
	return err
}

// Close closes srv's listeners, so that Serve returns ErrServerClosed, and
// cancels the context of every connection's task, as Task.Cancel does (a
// connection accepted as Close runs is closed without a handler, or its
// handler starts with its context cancelled). It does not wait for the
// handlers to return (Shutdown does);
// each closes its connection when it returns. Close returns the error of
// closing the listeners, if any. The Server cannot be used again.
func (srv *Server) Close() error {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	srv.state = serverCancelled
	err := srv.closeListeners()
	srv.cancelTasks()
	return err
}

// cancelTasks cancels the tasks running Handler, after srv.state was set
// to serverCancelled. srv.mu is held.
func (srv *Server) cancelTasks() {
	srv.tasks.each(func(t *sched.Task) { t.Cancel() }) // Cancel does not block
	srv.checkDrained()
}

// closeListeners closes the listeners being served and returns the first
// error. srv.mu is held.
func (srv *Server) closeListeners() error {
	var first error
	for ln := range srv.listeners {
		if err := ln.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// connTasks records the task serving each connection of a Server, so that
// Close can cancel them. It is indexed by descriptor number, as the
// poller's table is: numbers are dense, so a slot costs 8 bytes a
// connection, less than a map entry, and nothing is kept per connection
// to find the slot again. A number is unique among open descriptors, but
// a handler may close its connection and run on while the number is
// reused for a new one; the second task then goes in more.
type connTasks struct {
	chunks []*[connTasksChunk]*sched.Task
	more   map[*sched.Task]struct{}
}

const connTasksChunk = 1024

func (ct *connTasks) add(num int32, t *sched.Task) {
	i, j := int(num)/connTasksChunk, int(num)%connTasksChunk
	if i >= len(ct.chunks) {
		ct.chunks = append(ct.chunks, make([]*[connTasksChunk]*sched.Task, i+1-len(ct.chunks))...)
	}
	ch := ct.chunks[i]
	if ch == nil {
		ch = new([connTasksChunk]*sched.Task)
		ct.chunks[i] = ch
	}
	if ch[j] == nil {
		ch[j] = t
		return
	}
	if ct.more == nil {
		ct.more = make(map[*sched.Task]struct{})
	}
	ct.more[t] = struct{}{}
}

// remove forgets t, recorded for num, and reports whether it was there.
func (ct *connTasks) remove(num int32, t *sched.Task) bool {
	i, j := int(num)/connTasksChunk, int(num)%connTasksChunk
	if i < len(ct.chunks) && ct.chunks[i] != nil && ct.chunks[i][j] == t {
		ct.chunks[i][j] = nil
		return true
	}
	if _, ok := ct.more[t]; ok {
		delete(ct.more, t)
		return true
	}
	return false
}

func (ct *connTasks) each(f func(*sched.Task)) {
	for _, ch := range ct.chunks {
		if ch == nil {
			continue
		}
		for _, t := range ch {
			if t != nil {
				f(t)
			}
		}
	}
	for t := range ct.more {
		f(t)
	}
}
