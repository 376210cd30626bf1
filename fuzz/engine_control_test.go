//go:build (amd64 || arm64) && !race && !purego && negcontrol

package fuzz

import (
	"maps"
	"os"
	"runtime/debug"
	"slices"
	"strings"
	"testing"

	"github.com/stackslice/stackslice/slice"
	"github.com/stackslice/stackslice/stackmap"
)

// brokenEngineEnv names the mechanism TestBrokenEngineControlChild breaks.
const brokenEngineEnv = "STACKSLICE_FUZZ_BREAK"

// TestBrokenEngineControl proves the harness would notice a broken engine:
// it runs the seed programs in a child process with the engine told to skip
// every relocation, or to drop every heap pointer from the shadow, and
// expects the child to fail (with an error, a panic or a fatal runtime
// error). The same child with nothing broken must pass, so that the failures
// are the breakage's.
func TestBrokenEngineControl(t *testing.T) {
	run := func(brk string) (string, error) {
		cmd := childCommand("-test.run=^TestBrokenEngineControlChild$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), brokenEngineEnv+"="+brk, "GODEBUG=gccheckmark=1,clobberfree=1")
		out, err := cmd.CombinedOutput()
		skipIfCannotExec(t, err)
		return string(out), err
	}
	if out, err := run("none"); err != nil || !strings.Contains(out, "--- PASS: TestBrokenEngineControlChild") {
		t.Fatalf("the seed programs fail even with nothing broken: %v\n%s", err, out)
	}
	for _, brk := range []string{"reloc", "shadow"} {
		t.Run(brk, func(t *testing.T) {
			out, err := run(brk)
			if err == nil {
				t.Fatalf("with the engine broken (%s), the seed programs still passed:\n%s", brk, out)
			}
			t.Logf("child failed as it should: %v\n%s", err, firstLines(out, 4))
		})
	}
}

// TestBrokenEngineControlChild is TestBrokenEngineControl's child.
func TestBrokenEngineControlChild(t *testing.T) {
	brk := os.Getenv(brokenEngineEnv)
	if brk == "" {
		t.Skip("only run by TestBrokenEngineControl")
	}
	if !slice.Engine().StackSlicing { // select the engine before breaking it
		t.Fatalf("the control needs the engine, but: %s", slice.Engine())
	}
	defer debug.SetGCPercent(debug.SetGCPercent(1))
	stackmap.BreakForControl(brk == "reloc", brk == "shadow")
	defer stackmap.BreakForControl(false, false)
	for _, name := range slices.Sorted(maps.Keys(seeds())) {
		if err := Check(seeds()[name].encode()); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
}
