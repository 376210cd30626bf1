//go:build !race && !purego

package slice

// Where a saved region lies, on arm64 (see package arch's documentation):
// [Yield's SP, top - 8). Every Go frame saves its caller's frame pointer
// at its SP - 8, below itself, and sets R29 = SP - 8. Yield's saved frame
// pointer, just below the region, is not kept: it always holds the address
// of the first saved frame pointer in the region (Yield's caller's, at
// Yield's SP + its frame size - 8: yieldBPOff), which SwitchIn stores back.
// The region ends below the carrier's own saved frame pointer at top - 8.
// Keeping that word would cost a size class in common cases: at call depth
// 5 the region is 408 bytes with it left out, a 416-byte block, against a
// 448-byte one.

// regionTopGap is how far below top the region ends.
const regionTopGap = 8

// regionStart returns the region's start from suspend's frame pointer bp:
// Yield's SP, 8 above Yield's frame pointer, which suspend's prologue saved
// at bp.
//
//go:nosplit
func regionStart(bp uintptr) uintptr { return word(bp) + 8 }

// firstBPOff returns the offset from the region's start lo of its first
// saved frame pointer (Yield's caller's, whose address Yield's saved frame
// pointer holds), for suspend, whose frame pointer is bp.
//
//go:nosplit
func firstBPOff(bp, lo uintptr) uintptr { return word(word(bp)) - lo }

// regionFromYieldBP returns the region's start from the resumed Yield's
// frame pointer.
//
//go:nosplit
func regionFromYieldBP(yieldBP uintptr) uintptr { return yieldBP + 8 }

// clearCarrierBP does nothing on arm64: the outermost frame's saved frame
// pointer, the carrier's, is one of the plan's chained BPs there, kept as
// the offset len (the carrier's R29 is always top-8), so blocks saved at
// one place do not differ by the carrier they last ran on; and the
// region's last word belongs to the coroutine's function.
//
//go:nosplit
func clearCarrierBP(region []byte) {}
