package main

// The HTTP handler: a copy of the one in examples/footprint/hello.go, which
// cannot be imported from this separate module. Keep the two in step, so
// that every HTTP server answers with the same bytes.

import (
	"io"
	"net/http"
	"strconv"
)

// helloBody is the body of every HTTP response.
const helloBody = "hello, world\n"

// hello answers any request with helloBody as text/plain, with the header
// set explicitly so that every server sends the same fields (each adds its
// own Date).
func hello(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(helloBody)))
	io.WriteString(w, helloBody)
}
