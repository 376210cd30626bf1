//go:build !race && !purego

package slice

import (
	"runtime"
	"strings"
	"testing"
)

// TestEngineOnARM64: on linux/arm64 (go1.26, go1.27) the stack-slicing
// engine runs, not the goroutine fallback, and Engine says so.
func TestEngineOnARM64(t *testing.T) {
	v := runtime.Version()
	if !strings.HasPrefix(v, "go1.26") && !strings.HasPrefix(v, "go1.27") {
		t.Skip("no stack-map layout for " + v)
	}
	e := Engine()
	if !e.StackSlicing || !strings.HasPrefix(e.String(), "stack-slicing engine") || !strings.Contains(e.String(), "arm64") {
		t.Fatalf("on %s/arm64 Engine() = %q, want the stack-slicing engine", runtime.GOOS, e)
	}
	c := New(func() { Yield() })
	if c.Resume() || c.savedSize() == 0 || !c.Resume() {
		t.Fatal("a coroutine did not yield into a saved block and finish")
	}
}
