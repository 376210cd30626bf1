package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// hangBound bounds the waits that only a hang (a stream that never ends)
// makes long: not a timing assertion.
const hangBound = 20 * time.Second

// waitFor waits until cond holds, failing the test after hangBound.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(hangBound); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("still not %s after %v", what, hangBound)
		}
	}
}

// TestSSE runs the command with in-process clients.
func TestSSE(t *testing.T) {
	var out bytes.Buffer
	err := run(context.Background(), []string{"-addr", "127.0.0.1:0", "-clients", "30", "-every", "100ms", "-d", "800ms"}, &out)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var streams, sent, recv, dropped int
	fmt.Sscanf(lines[len(lines)-1], "sse: %d streams, %d events sent, %d received by clients, %d dropped", &streams, &sent, &recv, &dropped)
	if streams != 0 || sent == 0 || recv == 0 || strings.Contains(out.String(), "client:") || strings.Contains(out.String(), "shutdown:") {
		t.Errorf("output:\n%s", out.String())
	}
}

// TestSSEChurn has clients come and go, and checks that every stream's
// handler ends when its client leaves (its request context ends), with no
// event to write that would find the connection gone: nothing is left of a
// client that left, on the server's side (streams, tasks) or on the
// client's (goroutines).
func TestSSEChurn(t *testing.T) {
	sv, err := start("127.0.0.1:0", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer sv.stop(hangBound, io.Discard)
	url := "http://" + sv.ln.Addr().String() + "/events"
	baseTasks := sv.s.Stats().Tasks
	tr := &http.Transport{}

	const rounds, perRound = 4, 40
	var received atomic.Int64
	for round := range rounds {
		// The clients: a third leave after their first event, a third
		// before any, a third are raw connections closed without a word.
		var wg sync.WaitGroup
		var got, streaming sync.WaitGroup
		leave := make(chan struct{})
		errs := make(chan error, perRound)
		for i := range perRound {
			wg.Add(1)
			streaming.Add(1)
			switch i % 3 {
			case 0, 1:
				ctx, cancel := context.WithCancel(context.Background())
				if i%3 == 0 {
					got.Add(1)
				}
				go func() {
					defer wg.Done()
					defer cancel()
					req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
					resp, err := (&http.Client{Transport: tr}).Do(req)
					streaming.Done()
					if err != nil {
						errs <- err
						if i%3 == 0 {
							got.Done()
						}
						return
					}
					defer resp.Body.Close()
					if i%3 == 0 {
						line, err := bufio.NewReader(resp.Body).ReadString('\n')
						if err != nil || !strings.HasPrefix(line, "id: ") {
							errs <- fmt.Errorf("first line %q, %v", line, err)
						} else {
							received.Add(1)
						}
						got.Done()
					}
					<-leave
				}()
			case 2:
				go func() {
					defer wg.Done()
					c, err := net.Dial("tcp", sv.ln.Addr().String())
					if err == nil {
						_, err = io.WriteString(c, "GET /events HTTP/1.1\r\nHost: x\r\n\r\n")
						if err == nil {
							_, err = bufio.NewReader(c).ReadString('\n') // the status line
						}
					}
					streaming.Done()
					if err != nil {
						errs <- err
					}
					<-leave
					if c != nil {
						c.(*net.TCPConn).SetLinger(0) // an RST, not a FIN
						c.Close()
					}
				}()
			}
		}
		streaming.Wait()
		waitFor(t, fmt.Sprintf("%d streams", perRound), func() bool { return sv.hub.streams.Load() == perRound })
		sv.hub.broadcast(event{id: round, data: "churn"})
		got.Wait()
		close(leave)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		// No event from now on: only the request contexts end the streams.
		waitFor(t, "rid of the streams", func() bool { return sv.hub.streams.Load() == 0 && sv.hub.subscribers() == 0 })
		waitFor(t, "back to the tasks before", func() bool { return sv.s.Stats().Tasks == baseTasks })
	}
	if n := received.Load(); n != rounds*((perRound+2)/3) {
		t.Errorf("%d first events received, want %d", n, rounds*((perRound+2)/3))
	}
	tr.CloseIdleConnections()
	waitFor(t, "rid of the clients' goroutines", func() bool { return clientGoroutines() == 0 })
	if n := sv.s.Stats().StandInsStarted; n > 0 {
		t.Logf("%d stand-ins started", n)
	}
}

// clientGoroutines counts the goroutines of net/http's client
// connections.
func clientGoroutines() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return strings.Count(string(buf[:n]), "net/http.(*persistConn)")
		}
		buf = make([]byte, 2*len(buf))
	}
}

// TestSSEShutdown checks that Shutdown ends the streams in progress (the
// hub closes them) and returns without waiting out its grace.
func TestSSEShutdown(t *testing.T) {
	sv, err := start("127.0.0.1:0", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + sv.ln.Addr().String() + "/events"
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	const clients = 20
	var received atomic.Int64
	errs := make(chan error, clients)
	for range clients {
		go func() { errs <- client(context.Background(), tr, url, &received) }()
	}
	waitFor(t, fmt.Sprintf("%d streams", clients), func() bool { return sv.hub.streams.Load() == clients })
	sv.hub.broadcast(event{id: 1, data: "last"})
	waitFor(t, "received by all", func() bool { return received.Load() == clients })
	var out bytes.Buffer
	if err := sv.stop(hangBound, &out); err != nil || out.Len() > 0 {
		t.Fatalf("stop: %v; %s", err, out.String())
	}
	for range clients {
		if err := <-errs; err != io.ErrUnexpectedEOF {
			t.Errorf("client: %v, want the stream ended by the server (%v)", err, io.ErrUnexpectedEOF)
		}
	}
	if sv.hub.streams.Load() != 0 {
		t.Errorf("%d streams after Shutdown", sv.hub.streams.Load())
	}
}
