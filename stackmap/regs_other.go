//go:build !amd64 || purego

package stackmap

import "unsafe"

// Without the assembly helper SelfCheck skips the frame-pointer walk.
const haveCallerFrame = false

func callerFrame() (pc uintptr, sp, bp unsafe.Pointer) { return 0, nil, nil }

const (
	returnAddrOffset = 8
	savedBPOffset    = 16
)
