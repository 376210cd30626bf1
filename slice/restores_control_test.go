//go:build negcontrol && (amd64 || arm64) && !race && !purego

package slice

import (
	"math/rand/v2"
	"testing"
)

// The negative control of TestTemplateRestores: with restores accepting
// any pointer where its template has a token (breakRestores), the check
// against unswizzle must fail.
func TestTemplateRestoresControl(t *testing.T) {
	breakRestores = true
	defer func() { breakRestores = false }()
	if err := checkRestores(rand.New(rand.NewPCG(1, 2)), 300); err == nil {
		t.Fatal("restores accepted wrong pointers and checkRestores did not notice: the test cannot fail")
	} else {
		t.Log("caught:", err.Error()[:min(len(err.Error()), 80)], "...")
	}
}
