//go:build (amd64 || arm64) && !race && !purego

package slice

import "testing"

// TestCompressStatsBalance packs and unpacks coroutines at every yield, at
// varying depths (so a block is sometimes larger than its payload needs), in
// every mode, and checks that the counters of packed blocks come back to
// where they were once every coroutine has finished, and are right while one
// is packed; Packs counts every yield (each tries a pack) and Unpacks every
// packed block resumed, bare template-mode ones (counted by the template
// registry) included.
func TestCompressStatsBalance(t *testing.T) {
	if !Engine().StackSlicing {
		t.Skip("no blocks on the fallback")
	}
	for _, m := range packModes {
		t.Run(m.String(), func(t *testing.T) {
			before := ReadCompressionStats()
			sum := 0
			c := New(func() {
				for i := 0; i < 40; i++ {
					sum += suspendedAt([]int{30, 2, 9, 1}[i%4], i)
				}
			})
			c.SetCompression(m)
			yields, packed := 0, 0
			for !c.Resume() {
				yields++
				mid := ReadCompressionStats()
				if c.flags&flagPacked == 0 {
					continue
				}
				packed++
				if d := mid.Packed - before.Packed; d != 1 {
					t.Fatalf("Packed went up by %d with one packed coroutine", d)
				}
				if d := mid.PackedBytes - before.PackedBytes; d != c.packedBytes() {
					t.Fatalf("PackedBytes went up by %d, packed block holds %d", d, c.packedBytes())
				}
				if m == CompressTemplate && (mid.TemplateUsers-before.TemplateUsers != 1 || mid.Templates-before.Templates != 1) {
					t.Fatalf("%d templates, %d users for one packed coroutine", mid.Templates-before.Templates, mid.TemplateUsers-before.TemplateUsers)
				}
			}
			after := ReadCompressionStats()
			if after.Packed != before.Packed || after.PackedBytes != before.PackedBytes || after.UnpackedBytes != before.UnpackedBytes ||
				after.Templates != before.Templates || after.TemplateUsers != before.TemplateUsers {
				t.Fatalf("counters did not come back:\nbefore %+v\nafter  %+v", before, after)
			}
			if after.Unpacks == before.Unpacks {
				t.Fatal("nothing was unpacked")
			}
			if d := after.Packs - before.Packs; d != int64(yields) {
				t.Errorf("Packs went up by %d for %d yields", d, yields)
			}
			if d := after.Unpacks - before.Unpacks; d != int64(packed) {
				t.Errorf("Unpacks went up by %d for %d packed blocks resumed", d, packed)
			}
		})
	}
}
