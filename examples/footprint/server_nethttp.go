package main

import (
	"net"
	"net/http"
	"sync/atomic"
)

// serveNetHTTP is the "nethttp" variant: net/http's http.Server with its
// defaults (a goroutine per connection, with its bufio reader and writer).
// ConnState only counts the connections.
func serveNetHTTP(addr string) error {
	ln, err := net.Listen("tcp4", addr)
	if err != nil {
		return err
	}
	var open atomic.Int64
	srv := &http.Server{
		Handler: http.HandlerFunc(hello),
		ConnState: func(c net.Conn, st http.ConnState) {
			switch st {
			case http.StateNew:
				open.Add(1)
			case http.StateHijacked, http.StateClosed:
				open.Add(-1)
			}
		},
	}
	defer srv.Close()
	go srv.Serve(ln)
	return control(ln.Addr().String(), open.Load)
}
