//go:build negcontrol

package slice

import "testing"

// The negative control of the template tests: with unswizzle putting back
// the wrong pointers (mixUnswizzle), the coroutines must compute wrong
// results.
func TestTemplateSwizzleControl(t *testing.T) {
	if !Engine().StackSlicing {
		t.Skip("no blocks on the fallback")
	}
	mixUnswizzle = true
	defer func() { mixUnswizzle = false }()
	if _, err := templateRoundTrip(50); err == nil {
		t.Fatal("coroutines computed right results with their pointers mixed up: the swizzle test cannot fail")
	}
}
