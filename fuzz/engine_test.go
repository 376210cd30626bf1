//go:build amd64 && !race && !purego

package fuzz

import (
	"maps"
	"os"
	"os/exec"
	"runtime/debug"
	"slices"
	"testing"

	"github.com/stackslice/stackslice/slice"
	"github.com/stackslice/stackslice/stackmap"
)

// TestUsesEngine makes sure the harness tests the stack-slicing engine, not
// the goroutine-backed fallback, in builds that have the engine.
func TestUsesEngine(t *testing.T) {
	if !slice.Engine().StackSlicing {
		t.Fatalf("the fuzz harness would test the fallback: %s", slice.Engine())
	}
}

// TestHarnessCatchesBrokenEngine proves the harness would notice a broken
// engine: it runs the seed programs in a child process with the engine told
// to skip every relocation, or to drop every heap pointer from the shadow, and
// expects the child to fail (with an error, a panic or a fatal runtime error).
func TestHarnessCatchesBrokenEngine(t *testing.T) {
	if testing.Short() {
		t.Skip("runs child processes")
	}
	for _, brk := range []string{"reloc", "shadow"} {
		t.Run(brk, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestBrokenEngineChild$", "-test.count=1")
			cmd.Env = append(os.Environ(), "STACKSLICE_FUZZ_BREAK="+brk, "GODEBUG=gccheckmark=1,clobberfree=1")
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("with the engine broken (%s), the seed programs still passed:\n%s", brk, out)
			}
			t.Logf("child failed as it should: %v\n%s", err, firstLines(string(out), 4))
		})
	}
}

// TestBrokenEngineChild is TestHarnessCatchesBrokenEngine's child.
func TestBrokenEngineChild(t *testing.T) {
	brk := os.Getenv("STACKSLICE_FUZZ_BREAK")
	if brk == "" {
		t.Skip("only run by TestHarnessCatchesBrokenEngine")
	}
	if !slice.Engine().StackSlicing { // select the engine before breaking it
		t.Skip(slice.Engine())
	}
	defer debug.SetGCPercent(debug.SetGCPercent(1))
	stackmap.SkipRelocForTest = brk == "reloc"
	stackmap.DropShadowForTest = brk == "shadow"
	for _, name := range slices.Sorted(maps.Keys(seeds())) {
		if err := Check(seeds()[name].Encode()); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
}
