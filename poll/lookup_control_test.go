//go:build negcontrol && (linux || darwin || freebsd)

package poll

import (
	"context"
	"testing"
	"time"

	"github.com/stackslice/stackslice/sched"
)

// TestLookupOffCarrierControl breaks lookup's offload (the resolver runs
// on the task's carrier) and checks that what TestLookupDoesNotBlockCarrier
// looks for is then seen: no other task runs on the only carrier while the
// lookup blocks.
func TestLookupOffCarrierControl(t *testing.T) {
	brokenLookupOnCarrier = true
	defer func() { brokenLookupOnCarrier = false }()
	ln := stdListener(t)
	// Stand-ins off: a lookup that blocked the carrier would get one after
	// a few milliseconds, and the other task would run anyway.
	s := newScheduler(t, sched.WithCarriers(1), sched.WithStandIns(0))
	b := newBlockingLookup(t, false)
	dialer, err := s.Go(func(ctx context.Context) {
		if c, err := Dial(ctx, s, "tcp", "stub.invalid:"+port(ln.Addr())); err == nil {
			c.Close()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if !waitClosed(t, b.entered, "lookup started") {
		return
	}
	ran := make(chan struct{})
	if _, err := s.Go(func(context.Context) { close(ran) }); err != nil {
		t.Fatal(err)
	}
	// The carrier is blocked until the lookup is released, so the other
	// task cannot have run, however long this waits.
	time.Sleep(100 * time.Millisecond)
	select {
	case <-ran:
		t.Error("another task ran while the lookup blocked the only carrier: the control did not break the offload")
	default:
	}
	if got := s.Stats().ParkedBy["await"]; got != 0 {
		t.Errorf("%d tasks parked in Await with the offload broken", got)
	}
	b.free()
	waitClosed(t, ran, "the other task after the lookup")
	waitClosed(t, dialer.Done(), "dial")
}
