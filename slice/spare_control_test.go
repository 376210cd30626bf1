//go:build negcontrol && (amd64 || arm64) && !race && !purego

package slice

import "testing"

// The negative control of TestTemplateSpare: with bare unpacks leaving the
// spare block on the template (breakSpare), two coroutines get one block,
// and checkSpare must say so.
func TestTemplateSpareControl(t *testing.T) {
	breakSpare = true
	defer func() { breakSpare = false }()
	if err := checkSpare(4); err == nil {
		t.Fatal("two coroutines could share a block and checkSpare did not notice: the test cannot fail")
	} else {
		t.Log("caught:", err)
	}
}
