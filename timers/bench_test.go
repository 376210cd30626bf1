package timers

import (
	"testing"
	"time"
)

// BenchmarkTimers measures one schedule+stop pair per op: a timer about one
// second out is scheduled and then stopped before it fires.
func BenchmarkTimers(b *testing.B) {
	fn := func() {}
	b.Run("wheel", func(b *testing.B) {
		w := New()
		b.ReportAllocs()
		for b.Loop() {
			t := w.Add(time.Second, fn)
			t.Stop()
		}
		b.StopTimer()
		if w.Len() != 0 {
			b.Fatalf("Len = %d after stopping every timer", w.Len())
		}
		reportPairs(b)
	})
	b.Run("runtime", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			time.AfterFunc(time.Second, fn).Stop()
		}
		reportPairs(b)
	})
}

func reportPairs(b *testing.B) {
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(b.N)/s, "pairs/s")
	}
}
