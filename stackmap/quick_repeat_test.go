package stackmap

import (
	"fmt"
	"testing"
	"unsafe"
)

// TestQuickNeedsNoMoreThanCount: the slow path of a save sizes the shadow
// by Count, so Quick must fit in what Count reports, also when a heap
// pointer repeats a few words apart (a task's pointer in its function's
// context argument and in the frame that parks, say); otherwise every
// later save of such a region fails Quick and takes the slow path again.
// With that room, Quick writes what ScanSimple writes.
func TestQuickNeedsNoMoreThanCount(t *testing.T) {
	objs := make([]*[4]int, 6)
	for i := range objs {
		objs[i] = new([4]int)
	}
	for _, seq := range []string{"aba", "abca", "abcda", "abcdea", "abcdeb", "aabba", "abcdedcba", "abcdefabcdef", "abab", "abcabcabc"} {
		t.Run(seq, func(t *testing.T) {
			// A region of one frame: its saved frame pointer at 0
			// (pointing at the outermost slot, size-8, as BPChain
			// expects), then the pointers of seq.
			region := make([]uintptr, len(seq)+2)
			lo := uintptr(0x1000) // where the region was copied from
			size := uintptr(len(region) * 8)
			p := &Plan{size: size, links: []link{{off: 0, next: uint32(size - 8)}}}
			for i := range seq {
				p.Slots = append(p.Slots, uint32(8+8*i))
			}
			fill := func() []byte {
				region[0] = lo + size - 8
				for i, ch := range seq {
					region[1+i] = uintptr(unsafe.Pointer(objs[ch-'a']))
				}
				return unsafe.Slice((*byte)(unsafe.Pointer(&region[0])), size)
			}
			heap, _ := p.Count(fill(), lo, 0, 0, Alive{})
			want := make([]unsafe.Pointer, heap)
			if _, n, err := p.ScanSimple(fill(), lo, 0, 0, Alive{}, true, nil, want); err != nil || n != heap {
				t.Fatalf("ScanSimple: %d entries, %v; Count: %d", n, err, heap)
			}
			shadow := make([]unsafe.Pointer, heap)
			q := QuickScan{Lo: lo, Shadow: shadow}
			ok, err := p.Quick(fill(), &q)
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				t.Fatalf("Quick gave up with the shadow room Count reports (%d entries)", heap)
			}
			if q.NShadow != heap || fmt.Sprint(shadow) != fmt.Sprint(want) {
				t.Fatalf("Quick wrote %d shadow entries %v, ScanSimple %d %v", q.NShadow, shadow, heap, want)
			}
		})
	}
}
