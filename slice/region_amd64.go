//go:build !race && !purego

package slice

import "unsafe"

// Where a saved region lies, on amd64 (see region_arm64.go for arm64, and
// package arch's documentation for both): from SwitchIn's top (the address
// of its return address into resumeSlice) down to Yield's SP at its call to
// suspend.

// regionTopGap is how far below top the region ends: on amd64 it ends at
// top (the outermost frame's saved BP is its last word).
const regionTopGap = 0

// regionStart returns the region's start from suspend's frame pointer bp:
// Yield's SP at the call, above suspend's saved BP and return address.
//
//go:nosplit
func regionStart(bp uintptr) uintptr { return bp + 16 }

// firstBPOff returns the offset from the region's start lo of its first
// saved frame pointer, Yield's (its BP), for suspend, whose frame pointer
// is bp.
//
//go:nosplit
func firstBPOff(bp, lo uintptr) uintptr { return word(bp) - lo }

// regionFromYieldBP returns the region's start from the resumed Yield's
// frame pointer.
//
//go:nosplit
func regionFromYieldBP(yieldBP uintptr) uintptr { return yieldBP - yieldBPOff }

// clearCarrierBP zeroes the last word of a saved region: the outermost
// frame's saved BP, which points into the carrier that ran the coroutine
// and which SwitchIn overwrites with the next carrier's BP on every
// resume. Left in the block it would make blocks saved at one place differ
// by the carrier stack they last ran on, and so need a template each.
//
//go:nosplit
func clearCarrierBP(region []byte) {
	if len(region) >= 8 {
		*(*uintptr)(unsafe.Pointer(&region[len(region)-8])) = 0
	}
}
