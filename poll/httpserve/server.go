//go:build linux || darwin || freebsd

package httpserve

import (
	"context"
	"crypto/tls"
	"errors"
	"log"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stackslice/stackslice/poll"
)

// ServerContextKey is the key of a request context's value that holds the
// *Server serving the request (net/http's http.ServerContextKey holds an
// *http.Server, which this server is not). The context also holds, as
// net/http's does, the local address under http.LocalAddrContextKey.
var ServerContextKey = &contextKey{"httpserve-server"}

type contextKey struct{ name string }

func (k *contextKey) String() string { return "httpserve context value " + k.name }

// DefaultMaxHeaderBytes is the limit on a request's header when
// Server.MaxHeaderBytes is zero: http.DefaultMaxHeaderBytes, 1 MB.
const DefaultMaxHeaderBytes = http.DefaultMaxHeaderBytes

// A Server serves HTTP/1.x over poll.Listeners: each connection is a task
// of the listener's scheduler, which waits for a request holding no
// buffer, and calls Handler in that same task, so that an idle keep-alive
// connection costs no goroutine and no buffer. Its fields, methods and
// behaviour are those of net/http's Server, within the limits said in the
// package doc.
//
// A zero Server is ready to use (Handler nil serves http.DefaultServeMux).
// Set the fields before Serve; do not change them after. A Server serves any
// number of listeners, and cannot be used again after Shutdown or Close.
// Its methods are safe for concurrent use; it must not be copied after
// first use.
type Server struct {
	// Handler serves requests; nil means http.DefaultServeMux.
	Handler http.Handler

	// TLSConfig is used by ServeTLS (cloned; its NextProtos get
	// "http/1.1" if empty, and lose "h2": HTTP/2 is not served).
	TLSConfig *tls.Config

	// ReadTimeout limits the reading of a whole request, body included;
	// ReadHeaderTimeout the reading of its header (ReadTimeout if zero);
	// WriteTimeout the writing of the response, from the end of the
	// request's header; IdleTimeout the wait for the next request on a
	// kept-alive connection (ReadTimeout if zero). Zero or negative: no
	// limit. As in net/http.
	ReadTimeout       time.Duration
	ReadHeaderTimeout time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration

	// MaxHeaderBytes limits the request line and header (plus 4096 bytes
	// of slack, as net/http gives); zero means DefaultMaxHeaderBytes.
	// Over it, the client gets 431 Request Header Fields Too Large.
	MaxHeaderBytes int

	// ErrorLog logs connection errors and handler panics; nil means the
	// log package's standard logger.
	ErrorLog *log.Logger

	inShutdown        atomic.Bool
	disableKeepAlives atomic.Bool

	mu         sync.Mutex
	servers    []*poll.Server // one per Serve call
	conns      *conn          // the connections served and not hijacked
	onShutdown []func()
}

// Serve accepts connections on ln and serves each in a task of ln's
// scheduler. It returns when accepting fails, with Accept's error (and
// closes ln then), or http.ErrServerClosed after Shutdown or Close, as
// net/http's Serve does. Serve blocks: call it from a goroutine, or from a
// task (it parks there).
func (srv *Server) Serve(ln *poll.Listener) error {
	return srv.serve(ln, nil)
}

// ServeTLS is Serve for TLS connections: the certificate and key come from
// TLSConfig (Certificates or GetCertificate), or else from the files named.
func (srv *Server) ServeTLS(ln *poll.Listener, certFile, keyFile string) error {
	conf, err := srv.tlsConfig(certFile, keyFile)
	if err != nil {
		ln.Close()
		return err
	}
	return srv.serve(ln, conf)
}

// tlsConfig builds ServeTLS's configuration, as net/http's ServeTLS does
// but for HTTP/1.1 only.
func (srv *Server) tlsConfig(certFile, keyFile string) (*tls.Config, error) {
	var conf *tls.Config
	if srv.TLSConfig != nil {
		conf = srv.TLSConfig.Clone()
	} else {
		conf = new(tls.Config)
	}
	conf.NextProtos = slices.DeleteFunc(slices.Clone(conf.NextProtos), func(p string) bool { return p == "h2" })
	if len(conf.NextProtos) == 0 {
		conf.NextProtos = []string{"http/1.1"}
	}
	if len(conf.Certificates) == 0 && conf.GetCertificate == nil && conf.GetConfigForClient == nil {
		if certFile == "" || keyFile == "" {
			return nil, errors.New("httpserve: ServeTLS: no certificate: set TLSConfig.Certificates or GetCertificate, or name the files")
		}
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, err
		}
		conf.Certificates = []tls.Certificate{cert}
	}
	return conf, nil
}

func (srv *Server) serve(ln *poll.Listener, conf *tls.Config) error {
	ls := &listening{srv: srv, inner: new(poll.Server), conf: conf}
	in := ls.inner
	in.Handler = ls.serveConn
	srv.mu.Lock()
	if srv.shuttingDown() {
		srv.mu.Unlock()
		ln.Close()
		return http.ErrServerClosed
	}
	srv.servers = append(srv.servers, in)
	srv.mu.Unlock()
	if err := in.Serve(ln); !errors.Is(err, poll.ErrServerClosed) {
		return err
	}
	return http.ErrServerClosed
}

// serveConn is the task of one connection.
func (ls *listening) serveConn(ctx context.Context, pc *poll.Conn) {
	c := &conn{ls: ls, pc: pc, raddr: remoteAddr(pc)}
	if ls.conf != nil {
		c.tc = tls.Server(pc, ls.conf)
	}
	ls.srv.track(c)
	defer ls.srv.untrack(c) // no-op once hijacked
	c.serve(ctx)
}

func (srv *Server) track(c *conn) {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	c.next = srv.conns
	if c.next != nil {
		c.next.prev = c
	}
	srv.conns = c
	c.tracked = true
}

func (srv *Server) untrack(c *conn) {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if !c.tracked {
		return
	}
	if c.prev != nil {
		c.prev.next = c.next
	} else {
		srv.conns = c.next
	}
	if c.next != nil {
		c.next.prev = c.prev
	}
	c.prev, c.next, c.tracked = nil, nil, false
}

// Shutdown shuts the server down gracefully, as net/http's does: it stops
// accepting (Serve returns http.ErrServerClosed), closes the connections
// that wait for a request, and waits for those serving one to finish it
// and close. It returns nil then, or ctx's error if ctx ends first: the
// handlers still running are then cancelled (their contexts end), and
// Shutdown waits for them to return. As in net/http, a ctx that ends while
// no request is in progress (only idle connections, closed) is not an
// error. Functions given to RegisterOnShutdown
// are started, each in a goroutine, when Shutdown begins. Hijacked
// connections are not waited for, nor closed.
func (srv *Server) Shutdown(ctx context.Context) error {
	srv.inShutdown.Store(true)
	srv.mu.Lock()
	servers := slices.Clone(srv.servers)
	for _, f := range srv.onShutdown {
		go f()
	}
	srv.mu.Unlock()
	srv.closeIdleConns()
	// If ctx ends first, record whether a request was in progress, then
	// cancel the handlers: their tasks (the poll.Servers' Close), then
	// their requests, whose contexts are not the tasks' (see reqContext).
	// In that order: a request that starts after the second step finds its
	// task cancelled (serveRequest). The poll.Servers' Shutdowns wait on
	// inner, which ends only after that, so that nothing is cancelled
	// before the record is taken.
	inner, endInner := context.WithCancel(context.Background())
	defer endInner()
	var cut bool // a request was in progress when ctx ended
	recorded := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		cut = srv.anyActive()
		close(recorded)
		for _, in := range servers {
			in.Close()
		}
		srv.cancelRequests()
		endInner()
	})
	defer stop()
	var first error
	for _, in := range servers {
		if err := in.Shutdown(inner); err != nil && first == nil {
			first = err
		}
	}
	if stop() {
		return first // ctx did not end: nil, or closing a listener failed
	}
	<-recorded // the function above runs once ctx ended
	if cut {
		// Requests were cut short. A poll.Server's Shutdown may have seen
		// their handlers return before it saw inner end, and returned nil;
		// ctx ended first all the same.
		return ctx.Err()
	}
	if errors.Is(first, context.Canceled) {
		// No request was in progress: the tasks left were those of
		// connections closed while idle, which net/http does not wait
		// for; the poll.Servers waited for them all the same. Nothing was
		// cut short, and inner's end is not an error.
		return nil
	}
	return first
}

// anyActive reports whether a connection is serving a request (its header
// read, its response not finished).
func (srv *Server) anyActive() bool {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	for c := srv.conns; c != nil; c = c.next {
		if c.state.Load() == stateActive {
			return true
		}
	}
	return false
}

// Close closes the server at once: it stops accepting, closes every
// connection that is not hijacked, and cancels the handlers' contexts. It
// does not wait for the handlers to return (Shutdown does).
func (srv *Server) Close() error {
	srv.inShutdown.Store(true)
	srv.mu.Lock()
	servers := slices.Clone(srv.servers)
	srv.mu.Unlock()
	var first error
	for _, in := range servers {
		if err := in.Close(); err != nil && first == nil {
			first = err
		}
	}
	// After the tasks' cancellation, as in Shutdown.
	srv.mu.Lock()
	for c := srv.conns; c != nil; c = c.next {
		c.pc.Close()
		c.cancelCurrent()
	}
	srv.mu.Unlock()
	return first
}

// cancelRequests cancels the context of every request being served.
func (srv *Server) cancelRequests() {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	for c := srv.conns; c != nil; c = c.next {
		c.cancelCurrent()
	}
}

// cancelCurrent cancels the context of the request c serves, if any. It
// runs outside c's task, where c's active part may come and go.
func (c *conn) cancelCurrent() {
	if a := c.ap.Load(); a != nil {
		a.cancelFor(c)
	}
}

// closeIdleConns closes the connections that wait for a request.
func (srv *Server) closeIdleConns() {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	for c := srv.conns; c != nil; c = c.next {
		if c.state.CompareAndSwap(stateIdle, stateClosed) {
			c.pc.Close() // its task wakes from WaitRead, and ends
		}
	}
}

// RegisterOnShutdown registers a function to call when Shutdown begins,
// as net/http's does: a server with hijacked connections (WebSocket) uses
// it to tell them.
func (srv *Server) RegisterOnShutdown(f func()) {
	srv.mu.Lock()
	srv.onShutdown = append(srv.onShutdown, f)
	srv.mu.Unlock()
}

// SetKeepAlivesEnabled controls HTTP keep-alive (on by default): when
// off, each connection closes after one response, and the idle ones close
// now.
func (srv *Server) SetKeepAlivesEnabled(v bool) {
	srv.disableKeepAlives.Store(!v)
	if !v {
		srv.closeIdleConns()
	}
}

func (srv *Server) shuttingDown() bool { return srv.inShutdown.Load() }

func (srv *Server) doKeepAlives() bool {
	return !srv.disableKeepAlives.Load() && !srv.shuttingDown()
}

func (srv *Server) handler(req *http.Request) http.Handler {
	if req.RequestURI == "*" && req.Method == "OPTIONS" {
		return globalOptionsHandler{}
	}
	if srv.Handler == nil {
		return http.DefaultServeMux
	}
	return srv.Handler
}

// globalOptionsHandler answers "OPTIONS *" as net/http does.
type globalOptionsHandler struct{}

func (globalOptionsHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Length", "0")
	if r.ContentLength != 0 {
		// Read a little of the body, so that the connection can go on;
		// past that it closes.
		mb := http.MaxBytesReader(w, r.Body, 4<<10)
		for buf := make([]byte, 512); ; {
			if _, err := mb.Read(buf); err != nil {
				break
			}
		}
	}
}

func (srv *Server) readHeaderTimeout() time.Duration {
	if srv.ReadHeaderTimeout > 0 {
		return srv.ReadHeaderTimeout
	}
	return srv.ReadTimeout
}

func (srv *Server) idleTimeout() time.Duration {
	if srv.IdleTimeout != 0 {
		return srv.IdleTimeout
	}
	return srv.ReadTimeout
}

// tlsHandshakeTimeout is the smallest positive of the three timeouts.
func (srv *Server) tlsHandshakeTimeout() time.Duration {
	var ret time.Duration
	for _, v := range [...]time.Duration{srv.ReadHeaderTimeout, srv.ReadTimeout, srv.WriteTimeout} {
		if v <= 0 {
			continue
		}
		if ret == 0 || v < ret {
			ret = v
		}
	}
	return ret
}

func (srv *Server) maxHeaderBytes() int {
	if srv.MaxHeaderBytes > 0 {
		return srv.MaxHeaderBytes
	}
	return DefaultMaxHeaderBytes
}

func (srv *Server) initialReadLimitSize() int64 {
	return int64(srv.maxHeaderBytes()) + 4096 // bufio slop, as net/http
}

func (srv *Server) logf(format string, args ...any) {
	if srv.ErrorLog != nil {
		srv.ErrorLog.Printf(format, args...)
	} else {
		log.Printf(format, args...)
	}
}
