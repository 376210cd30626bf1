//go:build cgo

package slice

import (
	"testing"

	"github.com/stackslice/stackslice/slice/internal/cgocall"
)

func TestYieldInCgoCallbackRefused(t *testing.T) {
	c := New(func() { cgocall.Call(Yield) })
	mustPanic(t, "cgo callback", func() { c.Resume() })
}
