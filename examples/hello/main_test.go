package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestHello serves with each server, sends keep-alive GETs from a few
// clients at once, and checks the answers, that the connections were
// reused, and that cancelling the context stops the server.
func TestHello(t *testing.T) {
	for _, mode := range []string{"-std=false", "-std"} {
		t.Run(mode, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			addrc := make(chan string, 1)
			done := make(chan error, 1)
			var out bytes.Buffer // written by run only before ready and after ctx ends
			go func() {
				done <- run(ctx, []string{"-addr", "127.0.0.1:0", mode}, &out, func(a string) { addrc <- a })
			}()
			var addr string
			select {
			case addr = <-addrc:
			case err := <-done:
				t.Fatalf("run: %v", err)
			case <-time.After(10 * time.Second):
				t.Fatal("not serving after 10 s")
			}

			const clients, each = 8, 25
			var dials atomic.Int32
			tr := &http.Transport{
				MaxIdleConnsPerHost: clients,
				DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
					dials.Add(1)
					return (&net.Dialer{}).DialContext(ctx, network, addr)
				},
			}
			defer tr.CloseIdleConnections()
			var wg sync.WaitGroup
			errs := make(chan error, clients)
			for range clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
					for range each {
						resp, err := c.Get("http://" + addr + "/")
						if err != nil {
							errs <- err
							return
						}
						b, err := io.ReadAll(resp.Body)
						resp.Body.Close()
						if err != nil || resp.StatusCode != 200 || string(b) != "Hello, World!\n" ||
							resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" || resp.Header.Get("Date") == "" {
							errs <- fmt.Errorf("GET: %s %q %v (%v)", resp.Status, b, resp.Header, err)
							return
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			// Keep-alive: a connection serves several requests. (The
			// Transport may dial a few more than one per client, when a
			// request comes before a connection is back in its pool.)
			if n := dials.Load(); n > clients*each/2 {
				t.Errorf("%d requests took %d connections: not kept alive", clients*each, n)
			}
			tr.CloseIdleConnections()

			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("run: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("still serving 10 s after the context ended")
			}
			if !strings.Contains(out.String(), "hello: stopped") {
				t.Errorf("output:\n%s", out.String())
			}
			if _, err := http.Get("http://" + addr + "/"); err == nil {
				t.Error("a GET after the stop succeeded")
			}
		})
	}
}
