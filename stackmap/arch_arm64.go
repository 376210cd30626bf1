//go:build arm64

package stackmap

// Per-architecture constants for arm64 (see arch_amd64.go for their meaning).
// The table decoding works on arm64, but the frame-pointer self-check and the
// engine's assembly have not been written for it yet, so archSupported is false.
const (
	pcQuantum     = 4
	minFrameSize  = 8
	archSupported = false
)
