//go:build amd64

package stackmap

// Per-architecture constants, mirroring internal/goarch and runtime/internal/sys.
const (
	// PCQuantum is the unit of the pc deltas in pc-value tables
	// (sys.PCQuantum): 1 on amd64, 4 on arm64.
	PCQuantum = 1

	// MinFrameSize is the size of the fixed area at the bottom of every
	// frame (sys.MinFrameSize): 0 on amd64, 8 (the saved LR) on arm64.
	MinFrameSize = 0

	// archSupported says the frame walk and SelfCheck have been verified on
	// this architecture.
	archSupported = true
)
