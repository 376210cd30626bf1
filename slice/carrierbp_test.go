//go:build (amd64 || arm64) && !race && !purego

package slice

import "testing"

// TestCarrierBPShared checks that coroutines parked at one place share one
// template, packed bare, though they last ran on carrier stacks of
// different depths (the outermost frame's saved BP, which points into the
// carrier, is not kept: see clearCarrierBP).
func TestCarrierBPShared(t *testing.T) {
	if !Engine().StackSlicing {
		t.Skip("no blocks on the fallback")
	}
	before := ReadCompressionStats()
	cs := make([]*Coroutine, 4)
	for i := range cs {
		cs[i] = New(func() { parkedSame() })
		atDepth(i*3, cs[i].Resume) // each started at its own depth
		atDepth(i*5+1, cs[i].Resume)
		if !cs[i].Compress(CompressTemplate) {
			t.Fatal("not packed")
		}
	}
	mid := ReadCompressionStats()
	for _, c := range cs {
		for !c.Resume() {
		}
	}
	if d := mid.Templates - before.Templates; d != 1 {
		t.Errorf("%d templates for %d coroutines parked at one place, run from carrier stacks of different depths; want 1", d, len(cs))
	}
	if d := mid.PackedBytes - before.PackedBytes; d != 0 {
		t.Errorf("%d bytes packed for coroutines equal to their template, want 0", d)
	}
}

// parkedSame yields twice at one place.
//
//go:noinline
func parkedSame() {
	for range 2 {
		parkedFrame(1)
	}
}

//go:noinline
func parkedFrame(n int) int {
	Yield()
	return n
}
