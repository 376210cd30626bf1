//go:build negcontrol

package sched

import (
	"sync/atomic"
	"testing"

	"github.com/stackslice/stackslice/slice"
)

// TestSweepSkipsSweptTasksControl is the negative control of
// TestSweepSkipsSweptTasks: with the sweeper looking at swept tasks too
// (sweepAll), a pass over idle tasks that were all swept must count them.
func TestSweepSkipsSweptTasksControl(t *testing.T) {
	if !slice.Engine().StackSlicing {
		t.Skip("no sweeper on the fallback: " + slice.Engine().String())
	}
	sweepAll = true
	defer func() { sweepAll = false }()
	const n = 200
	var received atomic.Int64
	visited, s, _, _ := sweepIdle(t, n, &received)
	if visited != n {
		t.Fatalf("with sweepAll, a sweep over %d swept idle tasks looked at %d, want %d: the test cannot tell", n, visited, n)
	}
	s.Close()
}
