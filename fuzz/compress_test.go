package fuzz

import (
	"math/rand"
	"os"
	"testing"

	"github.com/stackslice/stackslice/slice"
)

// The relocation programs again with every yield packed (SetCompression):
// each resume then unpacks a block, in every compression mode, before
// relocating it. Results must still match the programs run without
// coroutines.

func TestSeedsCompressed(t *testing.T) {
	for _, m := range []slice.Compression{slice.CompressS2, slice.CompressZstd, slice.CompressTemplate} {
		t.Run(m.String(), func(t *testing.T) {
			defer slice.SetCompression(slice.SetCompression(m))
			for name, p := range seeds() {
				if err := Check(p.encode()); err != nil {
					t.Fatalf("seed %s: %v", name, err)
				}
			}
		})
	}
}

func TestRandomProgramsCompressed(t *testing.T) {
	defer slice.SetCompression(slice.SetCompression(slice.CompressTemplate))
	r := rand.New(rand.NewSource(3))
	count := 100
	if testing.Short() {
		count = 25
	}
	for i := 0; i < count; i++ {
		data := randomProgram(r, 16+r.Intn(400))
		if err := Check(data); err != nil {
			t.Fatalf("program %d (input %x): %v", i, data, err)
		}
	}
}

// FuzzRelocate runs with compression on when STACKSLICE_FUZZ_COMPRESS names
// a mode (s2, zstd or template), so the fuzzer can search packed resumes too.
func init() {
	modes := map[string]slice.Compression{"s2": slice.CompressS2, "zstd": slice.CompressZstd, "template": slice.CompressTemplate}
	if m, ok := modes[os.Getenv("STACKSLICE_FUZZ_COMPRESS")]; ok {
		slice.SetCompression(m)
	}
}
