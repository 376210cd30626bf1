//go:build (amd64 || arm64) && !race && !purego

package fuzz

import (
	"testing"

	"github.com/stackslice/stackslice/slice"
)

// TestUsesEngine makes sure the harness tests the stack-slicing engine, not
// the goroutine-backed fallback, in builds that have the engine.
func TestUsesEngine(t *testing.T) {
	if !slice.Engine().StackSlicing {
		t.Fatalf("the fuzz harness would test the fallback: %s", slice.Engine())
	}
}
