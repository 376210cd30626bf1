// Command peers is the footprint benchmark's server for the callback-style
// event-loop libraries people use today for many idle connections:
// github.com/lesismal/nbio (and its HTTP server, nbhttp) and
// github.com/panjf2000/gnet/v2. It lives in its own module so that the
// stackslice module does not require either.
//
// It is not meant to be run by hand: examples/footprint builds it and runs it
// as a child process, one variant per process:
//
//	peers -variant nbio|gnet|nbhttp
//
// and talks to it with the same line protocol as footprint's own servers
// (see control.go). The nbio and gnet servers are plain echo servers:
// whatever a connection sends is written back. The nbhttp server serves
// footprint's hello-world handler (hello.go) over HTTP/1.1.
package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"syscall"

	"github.com/lesismal/nbio"
	"github.com/lesismal/nbio/logging"
	"github.com/lesismal/nbio/nbhttp"
	"github.com/panjf2000/gnet/v2"
)

func main() {
	variant := flag.String("variant", "", "server to run: nbio, gnet or nbhttp")
	addr := flag.String("addr", "127.0.0.1:0", "listen address (loopback)")
	flag.Parse()
	var err error
	switch *variant {
	case "nbio":
		err = runNbio(*addr)
	case "gnet":
		err = runGnet(*addr)
	case "nbhttp":
		err = runNbhttp(*addr)
	default:
		err = fmt.Errorf("unknown -variant %q (want nbio, gnet or nbhttp)", *variant)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "peers:", err)
		os.Exit(1)
	}
}

// open counts the connections the server currently holds.
var open atomic.Int64

// runNbio runs an nbio echo server with nbio's defaults (one poller per
// CPU, level-triggered epoll, a 64 KiB read buffer per poller) until stdin
// closes.
func runNbio(addr string) error {
	logging.SetLevel(logging.LevelError)
	g := nbio.NewEngine(nbio.Config{
		Network: "tcp",
		Addrs:   []string{addr},
	})
	g.OnOpen(func(c *nbio.Conn) { open.Add(1) })
	g.OnClose(func(c *nbio.Conn, err error) { open.Add(-1) })
	g.OnData(func(c *nbio.Conn, data []byte) {
		if _, err := c.Write(data); err != nil {
			c.Close()
		}
	})
	if err := g.Start(); err != nil {
		return err
	}
	defer g.Stop()
	return control(g.Addrs[0], func() int64 { return open.Load() })
}

// runNbhttp runs an nbhttp server (nbio's HTTP/1.x server) with nbhttp's
// defaults (non-blocking I/O, one poller per 4 CPUs, handlers run by a
// goroutine pool, a 120 s keep-alive read deadline) until stdin closes.
func runNbhttp(addr string) error {
	logging.SetLevel(logging.LevelError)
	e := nbhttp.NewEngine(nbhttp.Config{
		Network: "tcp",
		Addrs:   []string{addr},
		Handler: http.HandlerFunc(hello),
	})
	e.OnOpen(func(c net.Conn) { open.Add(1) })
	e.OnClose(func(c net.Conn, err error) { open.Add(-1) })
	if err := e.Start(); err != nil {
		return err
	}
	defer e.Stop()
	return control(e.Addrs[0], func() int64 { return open.Load() })
}

// gnetEcho is a gnet echo handler.
type gnetEcho struct {
	gnet.BuiltinEventEngine
	boot chan string // receives the listen address, or "" with err set
	err  error
}

func (h *gnetEcho) OnBoot(eng gnet.Engine) gnet.Action {
	// gnet does not expose the listener's address; ask the kernel.
	fd, err := eng.Dup()
	if err != nil {
		h.err = err
		h.boot <- ""
		return gnet.Shutdown
	}
	defer syscall.Close(fd)
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		h.err = err
		h.boot <- ""
		return gnet.Shutdown
	}
	sa4, ok := sa.(*syscall.SockaddrInet4)
	if !ok {
		h.err = fmt.Errorf("gnet listener is not IPv4: %T", sa)
		h.boot <- ""
		return gnet.Shutdown
	}
	h.boot <- (&net.TCPAddr{IP: net.IP(sa4.Addr[:]), Port: sa4.Port}).String()
	return gnet.None
}

func (h *gnetEcho) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	open.Add(1)
	return nil, gnet.None
}

func (h *gnetEcho) OnClose(c gnet.Conn, err error) gnet.Action {
	open.Add(-1)
	return gnet.None
}

func (h *gnetEcho) OnTraffic(c gnet.Conn) gnet.Action {
	buf, _ := c.Next(-1)
	if _, err := c.Write(buf); err != nil {
		return gnet.Close
	}
	return gnet.None
}

// runGnet runs a gnet echo server with one event loop per CPU (the
// configuration gnet's own examples use) until stdin closes.
func runGnet(addr string) error {
	h := &gnetEcho{boot: make(chan string, 1)}
	done := make(chan error, 1)
	go func() {
		done <- gnet.Run(h, "tcp4://"+addr,
			gnet.WithMulticore(true),
			gnet.WithLogger(gnetLogger{}))
	}()
	select {
	case a := <-h.boot:
		if a == "" {
			return h.err
		}
		return control(a, func() int64 { return open.Load() })
	case err := <-done:
		if err == nil {
			err = fmt.Errorf("gnet stopped before it was ready")
		}
		return err
	}
}

// gnetLogger sends gnet's warnings and errors to stderr and drops the rest:
// gnet's default logger writes to stdout, which carries the control
// protocol.
type gnetLogger struct{}

func (gnetLogger) Debugf(string, ...any) {}
func (gnetLogger) Infof(string, ...any)  {}
func (gnetLogger) Warnf(f string, a ...any) {
	fmt.Fprintf(os.Stderr, "gnet: warning: "+f+"\n", a...)
}
func (gnetLogger) Errorf(f string, a ...any) {
	fmt.Fprintf(os.Stderr, "gnet: error: "+f+"\n", a...)
}
func (gnetLogger) Fatalf(f string, a ...any) {
	fmt.Fprintf(os.Stderr, "gnet: fatal: "+f+"\n", a...)
	os.Exit(1)
}
