//go:build negcontrol && (linux || darwin || freebsd)

package poll

import "testing"

// TestServeGoFailControl is TestServeGoFailClosesConn's negative control:
// with the connection left open when its task cannot start, the test's
// descriptor count must see the leak.
func TestServeGoFailControl(t *testing.T) {
	brokenServeGoFail = true
	defer func() { brokenServeGoFail = false }()
	if _, leaked := goFailServe(t); leaked != 1 {
		t.Fatalf("%d descriptors leaked with the connection left open, want 1: TestServeGoFailClosesConn cannot fail", leaked)
	}
}
