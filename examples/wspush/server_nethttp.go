package main

import (
	"net"
	"net/http"
	"runtime"
	"syscall"

	"github.com/gobwas/ws"
)

// serveNetHTTP is the "nethttp" server, the usual way: net/http serves the
// upgrade in its goroutine for the connection, and after the upgrade that
// goroutine goes on serving the WebSocket with the same code as the
// stackslice server, except that it does not wait for readability first:
// it blocks in its Read, as goroutine-per-connection code does. Broadcasts
// are written by the publisher (see hub.go), split between one goroutine
// per CPU; a connection that falls behind gets a flusher goroutine until it
// catches up.
func serveNetHTTP(addr string) error {
	ln, err := net.Listen("tcp4", addr)
	if err != nil {
		return err
	}
	h := newHub(runtime.GOMAXPROCS(0), func(f func()) { go f() })
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ws", func(w http.ResponseWriter, r *http.Request) {
		conn, rw, _, err := ws.UpgradeHTTP(r, w)
		if err != nil {
			return
		}
		serveNetWS(h, conn, buffered(rw))
	})
	srv := &http.Server{Handler: mux}
	defer srv.Close()
	go srv.Serve(ln)
	return control(ln.Addr().String(), serverHooks{
		conns:   h.count,
		publish: h.publish,
		dropped: h.dropped.Load,
	})
}

// serveNetWS serves a WebSocket on a connection of package net.
func serveNetWS(h *hub, conn net.Conn, pre []byte) {
	sc, ok := conn.(interface {
		SyscallConn() (syscall.RawConn, error)
	})
	if !ok {
		conn.Close()
		return
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		conn.Close()
		return
	}
	serveWS(h, conn, raw, pre, nil)
}
