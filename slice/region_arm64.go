//go:build !race && !purego

package slice

// Where a saved region lies, on arm64 (see package arch's documentation):
// [Yield's SP - 8, top - 8). Every Go frame saves its caller's frame
// pointer at its SP - 8, below itself, and sets R29 = SP - 8: so the region
// starts with Yield's saved frame pointer, at Yield's R29 (yieldBPOff is 0),
// and ends below the carrier's own saved frame pointer at top - 8.

// regionTopGap is how far below top the region ends.
const regionTopGap = 8

// regionStart returns the region's start from suspend's frame pointer bp:
// Yield's frame pointer, which suspend's prologue saved at bp.
//
//go:nosplit
func regionStart(bp uintptr) uintptr { return word(bp) }

// clearCarrierBP does nothing on arm64: the outermost frame's saved frame
// pointer, the carrier's, is one of the plan's chained BPs there, kept as
// the offset len (the carrier's R29 is always top-8), so blocks saved at
// one place do not differ by the carrier they last ran on; and the
// region's last word belongs to the coroutine's function.
//
//go:nosplit
func clearCarrierBP(region []byte) {}
