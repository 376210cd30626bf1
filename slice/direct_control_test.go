//go:build negcontrol && (amd64 || arm64) && !race && !purego

package slice

import (
	"testing"
	"unsafe"

	"github.com/stackslice/stackslice/arch"
)

// TestDirectReturnControl proves TestCurrentAfterEveryExit checks the
// record a yield's direct return to Resume puts back (arch.SwitchOutReturn,
// see flagDirect): with SwitchIn given a wrong one (breakDirect), the check
// must fail.
func TestDirectReturnControl(t *testing.T) {
	if !Engine().StackSlicing {
		t.Skip("the fallback keeps no such record")
	}
	done := make(chan error)
	go func() {
		breakDirect = true
		err := currentAfterExits()
		breakDirect = false
		// Leave no stale record on a goroutine the runtime will reuse.
		*(*uintptr)(unsafe.Add(arch.G(), gCurrent)) = 0
		done <- err
	}()
	err := <-done
	if err == nil {
		t.Fatal("a wrong record after a yield went unnoticed: the test cannot fail")
	}
	t.Logf("with a wrong record after a yield the check fails as it should: %v", err)
}
