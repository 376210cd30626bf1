//go:build amd64 && !race && !purego

package slice

import (
	"slices"
	"testing"
)

// The compactor's queue pops entries in due order.
func TestPendingHeapOrder(t *testing.T) {
	var h pendingHeap
	dues := []int64{5, 3, 9, 1, 1, 7, 2, 8, 6, 4, 0, 3}
	for _, d := range dues {
		h.push(pending{due: d})
	}
	want := slices.Sorted(slices.Values(dues))
	for i, w := range want {
		if e := h.pop(); e.due != w {
			t.Fatalf("pop %d: due %d, want %d", i, e.due, w)
		}
	}
	if len(h) != 0 {
		t.Fatalf("%d entries left", len(h))
	}
}
