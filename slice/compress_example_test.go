package slice_test

import (
	"fmt"

	"github.com/stackslice/stackslice/slice"
)

// A program that runs coroutines itself decides when to pack them: here,
// as it leaves a few generators idle. Resume unpacks them transparently.
// (Package sched does this for tasks parked for a while.)
func ExampleCoroutine_Compress() {
	vals := make([]int, 3)
	gens := make([]*slice.Coroutine, len(vals))
	for i := range gens {
		gens[i] = slice.New(func() {
			for n := i; ; n += len(vals) {
				vals[i] = n
				slice.Yield()
			}
		})
		gens[i].Resume()
	}
	for _, c := range gens {
		c.Compress(slice.CompressTemplate) // false on the goroutine-backed fallback
	}
	for _, c := range gens {
		c.Resume()
	}
	fmt.Println(vals)
	// Output: [3 4 5]
}
