//go:build negcontrol && (amd64 || arm64) && !race && !purego

package slice

import (
	"testing"
	"unsafe"

	"github.com/stackslice/stackslice/arch"
)

// TestCurrentControl proves TestCurrentAfterEveryExit can fail: with
// Resume leaving g's record of the running coroutine behind
// (breakCurrent), Current must be wrong after some exit.
func TestCurrentControl(t *testing.T) {
	if !Engine().StackSlicing {
		t.Skip("the fallback keeps no such record")
	}
	done := make(chan error)
	go func() {
		breakCurrent = true
		err := currentAfterExits()
		breakCurrent = false
		// Leave no stale record on a goroutine the runtime will reuse.
		*(*uintptr)(unsafe.Add(arch.G(), gCurrent)) = 0
		done <- err
	}()
	err := <-done
	if err == nil {
		t.Fatal("Current stayed right with its record left behind: the test cannot fail")
	}
	t.Logf("with the record left behind the check fails as it should: %v", err)
}
