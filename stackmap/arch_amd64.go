//go:build amd64

package stackmap

// Per-architecture constants, mirroring internal/goarch and runtime/internal/sys.
const (
	// pcQuantum is the unit of the pc deltas in pc-value tables
	// (sys.PCQuantum): 1 on amd64, 4 on arm64.
	pcQuantum = 1

	// minFrameSize is the size of the fixed area at the bottom of every
	// frame (sys.MinFrameSize): 0 on amd64, 8 (the saved LR) on arm64.
	minFrameSize = 0

	// archSupported says the frame walk and SelfCheck have been verified on
	// this architecture.
	archSupported = true
)
