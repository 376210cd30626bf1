//go:build !(amd64 || arm64) || purego

package stackmap

import "unsafe"

// Without the assembly helper SelfCheck skips the frame-pointer walk.
const haveCallerFrame = false

func callerFrame() (pc uintptr, sp, bp unsafe.Pointer) { return 0, nil, nil }
