//go:build negcontrol

package slice

import (
	"os"
	"strings"
	"testing"

	"github.com/stackslice/stackslice/stackmap"
)

// tortureBreakEnv names the mechanism TestTortureControlChild breaks.
const tortureBreakEnv = "STACKSLICE_TORTURE_BREAK"

// TestTortureControl proves the torture test can fail: with relocations
// skipped, or the pointer shadow dropped (stackmap.BreakForControl), it must.
// The same child with nothing broken must pass, so that the failures are the
// breakage's.
func TestTortureControl(t *testing.T) {
	if !Engine().StackSlicing {
		t.Skip("the negative controls break the engine, which does not run here: " + Engine().String())
	}
	run := func(brk string) (string, error) {
		cmd := childCommand("-test.run=^TestTortureControlChild$", "-test.count=1", "-test.short", "-test.v")
		cmd.Env = append(os.Environ(), tortureBreakEnv+"="+brk, "GOGC=1", "GODEBUG=clobberfree=1")
		out, err := cmd.CombinedOutput()
		skipIfCannotExec(t, err)
		return string(out), err
	}
	if out, err := run("none"); err != nil || !strings.Contains(out, "--- PASS: TestTortureControlChild") {
		t.Fatalf("the torture subprocess fails even unbroken: %v\n%s", err, out)
	}
	for _, brk := range []string{"reloc", "shadow"} {
		out, err := run(brk)
		if err == nil {
			t.Errorf("torture test passed with %s broken: it cannot detect that failure\n%s", brk, out)
			continue
		}
		first := strings.SplitN(strings.TrimSpace(out), "\n", 6)
		t.Logf("with %s broken the torture test fails as it should: %s", brk, strings.Join(first[:min(5, len(first))], " | "))
	}
}

// TestTortureControlChild is TestTortureControl's child: the torture test
// with the mechanism tortureBreakEnv names broken.
func TestTortureControlChild(t *testing.T) {
	brk := os.Getenv(tortureBreakEnv)
	if brk == "" {
		t.Skip("only run by TestTortureControl")
	}
	// Select the engine first: its self-test would notice the breakage
	// and fall back to goroutines.
	if !Engine().StackSlicing {
		t.Fatalf("negative control needs the engine, but: %s", Engine())
	}
	stackmap.BreakForControl(brk == "reloc", brk == "shadow")
	defer stackmap.BreakForControl(false, false)
	TestTorture(t)
}
