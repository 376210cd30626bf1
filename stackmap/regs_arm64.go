//go:build arm64 && !purego

package stackmap

import "unsafe"

// haveCallerFrame says callerFrame works, so SelfCheck can verify spDelta
// against the real frame-pointer chain.
const haveCallerFrame = true

// callerFrame returns its caller's pc (the return address of this call), SP
// and frame pointer register (regs_arm64.s).
func callerFrame() (pc uintptr, sp, bp unsafe.Pointer)
