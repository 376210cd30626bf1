//go:build linux || darwin || freebsd

package httpserve

import (
	"testing"
	"unsafe"
)

// TestConnSizeBudget: the conn is what an idle connection keeps of this
// package (with its task's frames and poll's Conn); everything a request
// needs belongs in the pooled active part. 80 bytes is a size class.
func TestConnSizeBudget(t *testing.T) {
	if got := unsafe.Sizeof(conn{}); got > 80 {
		t.Fatalf("conn is %d bytes, over its budget of 80: move what a request needs to active", got)
	}
}
