package poll

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/stackslice/stackslice/sched"
)

// With its only carrier kept busy by a task that yields in a loop, the
// scheduler never waits in Poll: a read must still be woken by the busy
// carrier's own look for readiness (PollBusy), not left to the helper
// goroutine's 10 ms cadence.
func TestBusyCarrierNoticesReadiness(t *testing.T) {
	s := sched.New(sched.WithCarriers(1))
	defer s.Close()
	c, client := pair(t, schedEnvOn(s))

	var stop atomic.Bool
	spinner, _ := s.Go(func(ctx context.Context) {
		for !stop.Load() {
			sched.Yield()
		}
	})
	defer func() { stop.Store(true); spinner.Wait() }()
	var got int
	reader, _ := s.Go(func(ctx context.Context) {
		buf := make([]byte, 16)
		got, _ = c.Read(buf)
	})
	waitUntil(t, "the read to park", func() bool { return s.Stats().ParkedBy["poll: read"] >= 1 })
	before := StatsFor(s)
	if _, err := client.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	wait(t, reader.Done(), "the read")
	if err := reader.Wait(); err != nil {
		t.Fatal(err)
	}
	after := StatsFor(s)
	if got != 4 {
		t.Fatalf("read %d bytes, want 4", got)
	}
	if after.BusyPolls == before.BusyPolls {
		t.Fatalf("the read was woken without a busy poll (helper runs %d -> %d)", before.HelperRuns, after.HelperRuns)
	}
}
