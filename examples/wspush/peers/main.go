// Command peers is the wspush benchmark's server for the callback-style
// event-loop library people use today for many idle WebSockets:
// github.com/lesismal/nbio's nbhttp and its websocket package. It lives in
// its own module so that the stackslice module does not require it.
//
// It is not meant to be run by hand: examples/wspush builds it and runs it
// as a child process:
//
//	peers -variant nbhttp
//
// and talks to it with the same line protocol as wspush's own servers (see
// control.go). The server does what theirs do: a connection upgrades on
// /ws, subscribes with a "subscribe" text message, has its pings answered
// (nbio's default ping handler), and receives every broadcast.
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/lesismal/nbio/logging"
	"github.com/lesismal/nbio/nbhttp"
	"github.com/lesismal/nbio/nbhttp/websocket"
)

func main() {
	variant := flag.String("variant", "", "server to run: nbhttp")
	addr := flag.String("addr", "127.0.0.1:0", "listen address (loopback)")
	flag.Parse()
	var err error
	switch *variant {
	case "nbhttp":
		err = runNbhttp(*addr)
	default:
		err = fmt.Errorf("unknown -variant %q (want nbhttp)", *variant)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "peers:", err)
		os.Exit(1)
	}
}

// hub is the set of subscribed connections.
type hub struct {
	mu      sync.Mutex
	subs    map[*websocket.Conn]struct{}
	snap    []*websocket.Conn
	dropped atomic.Int64
}

// maxWriteBuffer is what nbio may buffer for a connection whose socket is
// full before it closes it: a client that falls behind is dropped.
const maxWriteBuffer = 1 << 20

// runNbhttp runs an nbhttp WebSocket server with nbio's defaults (one
// poller per CPU, non-blocking I/O mode) until stdin closes. Connections
// have no read deadline (KeepaliveTime 0), as in wspush's other servers.
func runNbhttp(addr string) error {
	logging.SetLevel(logging.LevelError)
	h := &hub{subs: map[*websocket.Conn]struct{}{}}
	up := websocket.NewUpgrader()
	up.KeepaliveTime = 0
	up.OnMessage(func(c *websocket.Conn, mt websocket.MessageType, data []byte) {
		if mt == websocket.TextMessage && string(data) == "subscribe" {
			h.mu.Lock()
			h.subs[c] = struct{}{}
			h.mu.Unlock()
		}
	})
	up.OnClose(func(c *websocket.Conn, err error) {
		h.mu.Lock()
		delete(h.subs, c)
		h.mu.Unlock()
	})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ws", func(w http.ResponseWriter, r *http.Request) {
		if _, err := up.Upgrade(w, r, nil); err != nil {
			return // Upgrade answered with the error
		}
	})
	eng := nbhttp.NewEngine(nbhttp.Config{
		Network:            "tcp",
		Addrs:              []string{addr},
		Handler:            mux,
		MaxLoad:            1 << 20,
		MaxWriteBufferSize: maxWriteBuffer,
	})
	if err := eng.Start(); err != nil {
		return err
	}
	defer eng.Stop()
	return control(eng.Addrs[0], serverHooks{
		conns: func() int64 {
			h.mu.Lock()
			defer h.mu.Unlock()
			return int64(len(h.subs))
		},
		publish: h.publish,
		dropped: h.dropped.Load,
	})
}

// publish writes payload as a text message to every subscriber, the work
// split between one goroutine per CPU; nbio frames it for each connection
// and writes it, or buffers what the socket does not take.
func (h *hub) publish(payload []byte) int {
	h.mu.Lock()
	h.snap = h.snap[:0]
	for c := range h.subs {
		h.snap = append(h.snap, c)
	}
	h.mu.Unlock()
	subs := h.snap
	workers := runtime.GOMAXPROCS(0)
	per := (len(subs) + workers - 1) / workers
	var sent atomic.Int64
	var wg sync.WaitGroup
	for lo := 0; lo < len(subs); lo += per {
		part := subs[lo:min(lo+per, len(subs))]
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := 0
			for _, c := range part {
				if err := c.WriteMessage(websocket.TextMessage, payload); err != nil {
					h.dropped.Add(1)
					log.Printf("wspush: dropping a client that fell behind: %v", err)
					c.Close()
					continue
				}
				n++
			}
			sent.Add(int64(n))
		}()
	}
	wg.Wait()
	clear(h.snap)
	return int(sent.Load())
}
