//go:build !amd64 && !arm64

package stackmap

// Placeholder constants so the package compiles on architectures the engine
// does not support. Supported is false there and the engine falls back.
const (
	pcQuantum     = 1
	minFrameSize  = 0
	archSupported = false
	retPushed     = 0
	regionBelowSP = 0
	fpChainEnd    = 0
	minLocalsSize = 0
)

func frameSlots(sp uintptr, delta int32) (fp, ret, savedFP uintptr, ok bool) {
	return sp + uintptr(delta), sp, sp, false
}
