package sched

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stackslice/stackslice/slice"
)

func TestDumpAndStatsCompressed(t *testing.T) {
	if !slice.Engine().StackSlicing {
		t.Skip("no blocks to pack on the fallback: " + slice.Engine().String())
	}
	s := newSched(t, WithCompression(CompressionPolicy{Mode: slice.CompressTemplate, After: 0}))
	ch := NewChan[int](0)
	tk := mustGo(t, s, func(ctx context.Context) { dumpTarget(ch) })
	waitParked(t, tk)
	st := s.Stats()
	if st.Compression.Packed < 1 || st.Compression.Templates < 1 || st.Compression.UnpackedBytes <= 0 {
		t.Fatalf("compression stats %+v", st.Compression)
	}
	var b strings.Builder
	s.Dump(&b)
	out := b.String()
	if !strings.Contains(out, "compression: ") || !strings.Contains(out, "sched.dumpTarget(...)") {
		t.Fatalf("dump of a packed task:\n%s", out)
	}
	ch.Close()
	waitTask(t, tk)
}

// Tasks get the scheduler's compression policy, DefaultCompression unless
// WithCompression says otherwise; with CompressNone they follow slice's
// global mode.
func TestTaskCompressionPolicy(t *testing.T) {
	if !slice.Engine().StackSlicing {
		t.Skip("no blocks to pack on the fallback: " + slice.Engine().String())
	}
	// parkedPacked parks a task of s and reports whether the sweeper,
	// which runs asynchronously, packs it: if want, it waits for that up
	// to hangBound (a loaded machine may delay the sweeper well past the
	// policy's After), else it looks once after 20ms, far less than
	// DefaultCompression's After (1s).
	parkedPacked := func(s *Scheduler, want bool) bool {
		ch := NewChan[int](0)
		tk := mustGo(t, s, func(ctx context.Context) { dumpTarget(ch) })
		waitParked(t, tk)
		packed := false
		if want {
			for end := time.Now().Add(hangBound); !packed && time.Now().Before(end); {
				time.Sleep(time.Millisecond)
				packed = tk.co.Packed()
			}
		} else {
			time.Sleep(20 * time.Millisecond)
			packed = tk.co.Packed()
		}
		ch.Close()
		waitTask(t, tk)
		return packed
	}
	fast := CompressionPolicy{Mode: slice.CompressTemplate, After: time.Millisecond}
	if !parkedPacked(newSched(t, WithCompression(fast)), true) {
		t.Fatalf("a task parked for %v under After: 1ms was not packed", hangBound)
	}
	if parkedPacked(newSched(t), false) {
		t.Fatal("a task parked for 20ms was packed under DefaultCompression (After: 1s)")
	}
	defer slice.SetCompression(slice.SetCompression(slice.CompressTemplate))
	if parkedPacked(newSched(t), false) {
		t.Fatal("the global mode overrode the scheduler's policy")
	}
	if !parkedPacked(newSched(t, WithCompression(CompressionPolicy{})), true) {
		t.Fatal("a task of a scheduler without a policy did not follow the global one")
	}
}
