//go:build linux || darwin || freebsd

package httpserve_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"time"

	"github.com/stackslice/stackslice/poll"
	"github.com/stackslice/stackslice/poll/httpserve"
	"github.com/stackslice/stackslice/sched"
)

// A hello-world server: every connection is a task, and the handler is
// plain blocking code.
func ExampleServer() {
	s := sched.New()
	defer s.Close()
	ln, err := poll.Listen(s, "tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /hello/{name}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello, %s\n", r.PathValue("name"))
	})
	srv := &httpserve.Server{Handler: mux}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	resp, err := http.Get("http://" + ln.Addr().String() + "/hello/gopher")
	if err != nil {
		log.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Print(resp.Status, " ", string(body))

	// Graceful: stop accepting, close idle connections, wait for active ones.
	if err := srv.Shutdown(context.Background()); err != nil {
		log.Fatal(err)
	}
	fmt.Println(<-served)
	// Output:
	// 200 OK hello, gopher
	// http: Server closed
}

// A handler that streams server-sent events, flushing each, until the
// client goes away: its request's context then ends.
func ExampleServer_serverSentEvents() {
	s := sched.New()
	defer s.Close()
	ln, err := poll.Listen(s, "tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	srv := &httpserve.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		rc := http.NewResponseController(w)
		for i := 1; ; i++ {
			fmt.Fprintf(w, "data: event %d\n\n", i)
			if rc.Flush() != nil {
				return
			}
			// sched.Sleep parks the task; the context ends when
			// the client goes away (or the server closes).
			sched.Sleep(10 * time.Millisecond)
			if r.Context().Err() != nil {
				return
			}
		}
	})}
	go srv.Serve(ln)
	defer srv.Close()

	resp, err := http.Get("http://" + ln.Addr().String() + "/events")
	if err != nil {
		log.Fatal(err)
	}
	buf := make([]byte, len("data: event 1\n\n"))
	for range 3 {
		if _, err := io.ReadFull(resp.Body, buf); err != nil {
			log.Fatal(err)
		}
		fmt.Print(string(buf))
	}
	resp.Body.Close()
	// Output:
	// data: event 1
	//
	// data: event 2
	//
	// data: event 3
}
