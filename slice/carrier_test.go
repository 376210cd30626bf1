package slice

import (
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// A Carrier tells a goroutine blocked on a channel or in a system call
// from one that runs; on the fallback it cannot tell.
func TestCarrierBlocked(t *testing.T) {
	if !Engine().StackSlicing {
		if CurrentCarrier().Blocked() {
			t.Fatal("the fallback's Carrier claims to know")
		}
		t.Skip("the fallback cannot tell")
	}
	if CurrentCarrier().Blocked() {
		t.Fatal("the running goroutine reads as blocked")
	}
	var p [2]int
	if err := syscall.Pipe(p[:]); err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(p[0])
	defer syscall.Close(p[1])
	ch := make(chan struct{})
	for _, block := range []struct {
		name    string
		block   func()
		release func()
	}{
		{"chan", func() { <-ch }, func() { ch <- struct{}{} }},
		{"syscall", func() { var b [1]byte; syscall.Read(p[0], b[:]) }, func() { syscall.Write(p[1], []byte{1}) }},
	} {
		got := make(chan Carrier)
		done := make(chan struct{})
		go func() {
			got <- CurrentCarrier()
			block.block()
			close(done)
		}()
		c := <-got
		deadline := time.Now().Add(10 * time.Second)
		for !c.Blocked() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: a goroutine blocked for 10s never read as blocked", block.name)
			}
			time.Sleep(time.Millisecond)
		}
		block.release()
		<-done
	}
	// A spinning goroutine is running or runnable, never blocked.
	var stop atomic.Bool
	got := make(chan Carrier)
	go func() {
		got <- CurrentCarrier()
		for !stop.Load() {
			runtime.Gosched()
		}
	}()
	c := <-got
	for range 1000 {
		if c.Blocked() {
			stop.Store(true)
			t.Fatal("a spinning goroutine read as blocked")
		}
	}
	stop.Store(true)
	if (Carrier{}).Blocked() {
		t.Fatal("the zero Carrier reads as blocked")
	}
}
