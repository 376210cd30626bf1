//go:build !amd64 && !arm64

package stackmap

// Placeholder constants so the package compiles on architectures the engine
// does not support. Supported is false there and the engine falls back.
const (
	PCQuantum     = 1
	MinFrameSize  = 0
	archSupported = false
)
