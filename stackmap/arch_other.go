//go:build !amd64 && !arm64

package stackmap

// Placeholder constants so the package compiles on architectures the engine
// does not support. Supported is false there and the engine falls back.
const (
	pcQuantum     = 1
	minFrameSize  = 0
	archSupported = false
)
