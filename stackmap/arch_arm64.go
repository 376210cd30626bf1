//go:build arm64

package stackmap

// Per-architecture constants for arm64 (see arch_amd64.go for their
// meaning), from cmd/internal/obj/arm64 (obj7.go: the prologue), runtime
// traceback.go and stkframe.go, the same in go1.26 and go1.27.
const (
	pcQuantum    = 4
	minFrameSize = 8 // the saved LR at 0(SP)

	// archSupported: the frame walk and SelfCheck are verified on arm64
	// (regs_arm64.s); without the assembly (purego) the engine is not
	// built anyway.
	archSupported = true

	// A call leaves the return address in LR: fp = sp + spdelta.
	retPushed = 0

	// A function with a frame saves its caller's frame pointer at -8(SP),
	// below its own frame. A region starts at the innermost frame's SP:
	// the innermost frame's saved frame pointer, just below, always holds
	// the address of the region's first saved frame pointer, and the
	// restore stores it back (see package arch), so it is not kept.
	regionBelowSP = 0

	// The outermost frame saved the carrier's frame pointer, which is the
	// address just past the region (top-8: the carrier's SP - 8, see
	// package arch), at its own SP - 8, inside the region: it is one of a
	// plan's BPs, kept as the offset len and relocated like the others,
	// and the chain ends at the region's end.
	fpChainEnd = 0

	// stkframe.go getStackMap: on arm64 a frame has locals only above
	// sys.StackAlign bytes (its saved LR and the frame-pointer word).
	minLocalsSize = 16
)

// frameSlots returns, for a frame at sp with SP delta delta: its fp (the
// caller's SP), the address of its return address into its caller, and
// where it saved its caller's frame pointer (ok false: it saved none). On
// arm64 a function with a frame saves LR at 0(SP) and the caller's R29 at
// -8(SP) (obj7.go's prologue), and sets R29 = SP-8.
func frameSlots(sp uintptr, delta int32) (fp, ret, savedFP uintptr, ok bool) {
	return sp + uintptr(delta), sp, sp - 8, delta > 0
}
