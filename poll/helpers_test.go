//go:build linux || darwin || freebsd

package poll

import (
	"context"
	"sync"
	"testing"

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
