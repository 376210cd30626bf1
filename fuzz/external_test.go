package fuzz_test

import (
	"testing"

	"github.com/stackslice/stackslice/fuzz"
)

// FuzzEngine is the target the package documentation shows, written from
// outside the package as a user would: Check is all it needs.
func FuzzEngine(f *testing.F) {
	f.Add([]byte{1, 3, 0x01, 0x00, 0x00, 2, 0x02, 0x00, 0x08, 0x01})
	f.Fuzz(func(t *testing.T, input []byte) {
		if err := fuzz.Check(input); err != nil {
			t.Fatal(err)
		}
	})
}
