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

	// retPushed is what a call pushes on the stack: the return address
	// on amd64, nothing on arm64 (it goes to LR). fp = sp + spdelta +
	// retPushed (traceback.go).
	retPushed = 8

	// regionBelowSP is how far below the innermost frame's SP a saved
	// region starts: on amd64 nothing of that frame lies below its SP.
	regionBelowSP = 0

	// fpChainEnd locates the end of a region's chain of saved frame
	// pointers, from the region's end: on amd64 the outermost frame saved
	// the carrier's BP in the region's last word, len-8, which SwitchIn
	// rewrites on every resume (it is not among a plan's BPs), and the
	// chain ends at that slot.
	fpChainEnd = 8

	// minLocalsSize is the size of locals above which a frame must have a
	// locals stack map (stkframe.go getStackMap: sys.MinFrameSize, but
	// sys.StackAlign on arm64).
	minLocalsSize = minFrameSize
)

// frameSlots returns, for a frame at sp with SP delta delta: its fp (the
// caller's SP), the address of its return address into its caller, and
// where it saved its caller's frame pointer (ok false: it saved none). On
// amd64 the call pushed the return address just below fp, and a function
// with a frame pushes BP just below that.
func frameSlots(sp uintptr, delta int32) (fp, ret, savedFP uintptr, ok bool) {
	fp = sp + uintptr(delta) + 8
	return fp, fp - 8, fp - 16, delta > 0
}
