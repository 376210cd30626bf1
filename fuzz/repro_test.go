package fuzz

import (
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/stackslice/stackslice/slice"
)

// Regression tests for engine bugs the harness found, reduced to the slice
// API. Each runs in a child process, so that a fatal runtime error fails the
// test instead of killing the test binary.

// runReproChild runs the test named child in a child process and fails if it
// fails or crashes.
func runReproChild(t *testing.T, child string) {
	t.Helper()
	cmd := childCommand("-test.run=^"+child+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "STACKSLICE_REPRO_CHILD=1")
	out, err := cmd.CombinedOutput()
	skipIfCannotExec(t, err)
	if err != nil {
		t.Fatalf("%s failed: %v\n%s", child, err, firstLines(string(out), 30))
	}
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	return strings.Join(lines[:min(n, len(lines))], "\n")
}

func reproChild(t *testing.T) {
	if os.Getenv("STACKSLICE_REPRO_CHILD") == "" {
		t.Skip("run by its TestRepro_ parent")
	}
}

// TestRepro_ExactFitBlock_1: a GC that runs while a resumed coroutine runs
// finds "pointer to free object" when the coroutine's saved block filled its
// allocation exactly (header + region + relocation table == a size class,
// with no relocations): something live on the carrier (presumably the
// resumeSlice frame's arch.Context.Relocs = h.relocs(), one past the end of
// the block) points at the next object of the span, which is free.
// Fixed in slice by never forming a pointer past a block's end.
// Fuzz input: testdata/fuzz/FuzzRelocate/repro_exact_fit_block_1.
func TestRepro_ExactFitBlock_1(t *testing.T) {
	runReproChild(t, "TestReproChild_ExactFitBlock_1")
}

func TestReproChild_ExactFitBlock_1(t *testing.T) {
	reproChild(t)
	// Frames of 1 to 24 words below the coroutine's function: the blocks
	// of many of them fit their size class exactly (16-byte header, no
	// relocations). Before each, garbage of every nearby size class is
	// freed, so that the object after the block is likely free.
	for _, f := range exactFits {
		for range 4 {
			for i := range exactFitGarbage {
				exactFitGarbage[i] = make([]byte, 64+16*(i%40))
			}
			clear(exactFitGarbage)
			runtime.GC()
			e := &exactFit{}
			c := slice.New(func() {
				f(e)
				runtime.GC() // the region is back on the stack: the GC scans the carrier
				e.n++
			})
			if c.Resume() || !c.Resume() || e.n != 2 {
				t.Fatalf("n = %d", e.n)
			}
		}
	}
}

var exactFitGarbage = make([][]byte, 4000)

type exactFit struct{ n int }

//go:noinline
func exactFit1(e *exactFit) { var p [1]uint64; p[e.n%1] = 1; slice.Yield(); e.n += int(p[0]) }

//go:noinline
func exactFit2(e *exactFit) { var p [2]uint64; p[e.n%2] = 1; slice.Yield(); e.n += int(p[0]) }

//go:noinline
func exactFit3(e *exactFit) { var p [3]uint64; p[e.n%3] = 1; slice.Yield(); e.n += int(p[0]) }

//go:noinline
func exactFit4(e *exactFit) { var p [4]uint64; p[e.n%4] = 1; slice.Yield(); e.n += int(p[0]) }

//go:noinline
func exactFit5(e *exactFit) { var p [5]uint64; p[e.n%5] = 1; slice.Yield(); e.n += int(p[0]) }

//go:noinline
func exactFit6(e *exactFit) { var p [6]uint64; p[e.n%6] = 1; slice.Yield(); e.n += int(p[0]) }

//go:noinline
func exactFit7(e *exactFit) { var p [7]uint64; p[e.n%7] = 1; slice.Yield(); e.n += int(p[0]) }

//go:noinline
func exactFit8(e *exactFit) { var p [8]uint64; p[e.n%8] = 1; slice.Yield(); e.n += int(p[0]) }

//go:noinline
func exactFit9(e *exactFit) { var p [9]uint64; p[e.n%9] = 1; slice.Yield(); e.n += int(p[0]) }

//go:noinline
func exactFit10(e *exactFit) { var p [10]uint64; p[e.n%10] = 1; slice.Yield(); e.n += int(p[0]) }

//go:noinline
func exactFit11(e *exactFit) { var p [11]uint64; p[e.n%11] = 1; slice.Yield(); e.n += int(p[0]) }

//go:noinline
func exactFit12(e *exactFit) { var p [12]uint64; p[e.n%12] = 1; slice.Yield(); e.n += int(p[0]) }

//go:noinline
func exactFit13(e *exactFit) { var p [13]uint64; p[e.n%13] = 1; slice.Yield(); e.n += int(p[0]) }

//go:noinline
func exactFit14(e *exactFit) { var p [14]uint64; p[e.n%14] = 1; slice.Yield(); e.n += int(p[0]) }

//go:noinline
func exactFit15(e *exactFit) { var p [15]uint64; p[e.n%15] = 1; slice.Yield(); e.n += int(p[0]) }

//go:noinline
func exactFit16(e *exactFit) { var p [16]uint64; p[e.n%16] = 1; slice.Yield(); e.n += int(p[0]) }

//go:noinline
func exactFit17(e *exactFit) { var p [17]uint64; p[e.n%17] = 1; slice.Yield(); e.n += int(p[0]) }

//go:noinline
func exactFit18(e *exactFit) { var p [18]uint64; p[e.n%18] = 1; slice.Yield(); e.n += int(p[0]) }

//go:noinline
func exactFit19(e *exactFit) { var p [19]uint64; p[e.n%19] = 1; slice.Yield(); e.n += int(p[0]) }

//go:noinline
func exactFit20(e *exactFit) { var p [20]uint64; p[e.n%20] = 1; slice.Yield(); e.n += int(p[0]) }

//go:noinline
func exactFit21(e *exactFit) { var p [21]uint64; p[e.n%21] = 1; slice.Yield(); e.n += int(p[0]) }

//go:noinline
func exactFit22(e *exactFit) { var p [22]uint64; p[e.n%22] = 1; slice.Yield(); e.n += int(p[0]) }

//go:noinline
func exactFit23(e *exactFit) { var p [23]uint64; p[e.n%23] = 1; slice.Yield(); e.n += int(p[0]) }

//go:noinline
func exactFit24(e *exactFit) { var p [24]uint64; p[e.n%24] = 1; slice.Yield(); e.n += int(p[0]) }

var exactFits = []func(*exactFit){exactFit1, exactFit2, exactFit3, exactFit4, exactFit5, exactFit6, exactFit7, exactFit8, exactFit9, exactFit10, exactFit11, exactFit12, exactFit13, exactFit14, exactFit15, exactFit16, exactFit17, exactFit18, exactFit19, exactFit20, exactFit21, exactFit22, exactFit23, exactFit24}
