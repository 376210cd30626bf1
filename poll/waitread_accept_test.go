//go:build linux || darwin || freebsd

package poll

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// TestWaitReadOnlyWhenReadable: WaitRead returns nil only when something
// is pending. The client sends one byte a round, after the server's
// answer to the last; the server's WaitRead must not return before the
// client has begun to send the next (as it did when the edge of a byte
// already read woke the wait: httpserve's idle connections then read
// with their buffers lent).
func TestWaitReadFirstByteBeforeAccept(t *testing.T) {
	for _, withCtx := range []bool{false, true} {
		name := "nil"
		if withCtx {
			name = "ctx"
		}
		t.Run(name, func(t *testing.T) {
			forEachEnv(t, func(t *testing.T, e env) {
				testWaitReadOnlyWhenReadable(t, e, withCtx)
			})
		})
	}
}

func testWaitReadOnlyWhenReadable(t *testing.T, e env, withCtx bool) {
	ln, err := e.listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var ctx context.Context
	if withCtx {
		c, cancel := context.WithCancel(context.Background())
		defer cancel()
		ctx = c
	}
	// Many connections whose first byte is there before the accept:
	// the poller's first event for them, which reports it, may come
	// late, after the byte was read (what caught WaitRead).
	for range 30 {
		cc, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer cc.Close()
		cc.SetDeadline(time.Now().Add(serveHang))
		var sent atomic.Int32 // bytes the client has begun to send
		sent.Add(1)
		buf := make([]byte, 1)
		if _, err := cc.Write(buf); err != nil {
			t.Fatal(err)
		}
		const rounds = 3
		early := int32(-1) // the round in which WaitRead returned early
		var werr error
		done := e.spawn(func() {
			sc, err := ln.AcceptConn()
			if err != nil {
				werr = err
				return
			}
			defer sc.Close()
			buf := make([]byte, 1)
			for i := int32(0); i < rounds; i++ {
				if werr = sc.WaitRead(ctx); werr != nil {
					return
				}
				if sent.Load() <= i && early < 0 {
					early = i
				}
				if _, werr = sc.Read(buf); werr != nil {
					return
				}
				if _, werr = sc.Write(buf); werr != nil {
					return
				}
			}
		})
		for i := range rounds {
			if i > 0 {
				time.Sleep(time.Millisecond) // room for an early return to show
				sent.Add(1)
				if _, err := cc.Write(buf); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := cc.Read(buf); err != nil {
				t.Fatal(err)
			}
		}
		wait(t, done, "the server's rounds")
		if werr != nil {
			t.Fatal(werr)
		}
		if early >= 0 {
			t.Fatalf("WaitRead returned in round %d before the client sent anything", early)
		}
	}
}
