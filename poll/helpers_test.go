//go:build linux || darwin || freebsd

package poll

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stackslice/stackslice/timers"
)

// newTestPoller returns a poller driven by two goroutines of the test (one
// polls, one runs the timers), stopped at cleanup.
func newTestPoller(t testing.TB) *poller {
	t.Helper()
	w := timers.New()
	p, err := newPoller(w)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		w.Run(ctx)
	}()
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			p.Poll(-1)
		}
	}()
	t.Cleanup(func() {
		cancel()
		p.Wake()
		wg.Wait()
		p.Close()
	})
	return p
}

// The tests wait for what the poller or the scheduler should bring about
// with these helpers, from the test's goroutine: each fails the test with
// a message once hangBound has passed, instead of hanging until the test
// binary's timeout.

// waitUntil waits for cond, failing the test if it is not true within
// hangBound.
func waitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(hangBound)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", hangBound, what)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// wait waits for done to be closed, failing the test after hangBound.
func wait(t testing.TB, done <-chan struct{}, what string) {
	t.Helper()
	recv(t, done, what)
}

// recv receives from ch, failing the test if nothing comes within
// hangBound.
func recv[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(hangBound):
		t.Fatalf("%s: did not happen within %v", what, hangBound)
		panic("unreachable")
	}
}

// waitClosed is wait that goes on after a failure: it reports whether ch
// was closed, and marks the test failed if not.
func waitClosed(t testing.TB, ch <-chan struct{}, what string) bool {
	t.Helper()
	select {
	case <-ch:
		return true
	case <-time.After(hangBound):
		t.Errorf("%s: did not happen within %v", what, hangBound)
		return false
	}
}

// waitGroup waits for wg, failing the test after hangBound.
func waitGroup(t testing.TB, wg *sync.WaitGroup, what string) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		wg.Wait()
	}()
	wait(t, done, what)
}
