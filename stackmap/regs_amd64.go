//go:build amd64 && !purego

package stackmap

import "unsafe"

// haveCallerFrame says callerFrame works, so SelfCheck can verify spDelta
// against the real frame-pointer chain.
const haveCallerFrame = true

// callerFrame returns its caller's pc (the return address of this call), SP
// and frame pointer register (regs_amd64.s).
func callerFrame() (pc uintptr, sp, bp unsafe.Pointer)

// returnAddrOffset is the distance from a frame's top (the caller's SP) down
// to its return address, and savedBPOffset the distance to the saved frame
// pointer (pushed right below the return address by every Go function with a
// frame on amd64; the BP register then points at it).
const (
	returnAddrOffset = 8
	savedBPOffset    = 16
)
