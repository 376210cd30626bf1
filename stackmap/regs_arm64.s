//go:build arm64 && !purego

#include "textflag.h"

// func callerFrame() (pc uintptr, sp, bp unsafe.Pointer)
//
// Returns its caller's state at the call: the return address (in LR, a pc
// inside the caller), the caller's SP (RSP: this function has no frame) and
// the caller's frame pointer register (R29, which a frameless function
// leaves alone).
TEXT ·callerFrame(SB), NOSPLIT|NOFRAME, $0-24
	MOVD	R30, pc+0(FP)
	MOVD	RSP, R0
	MOVD	R0, sp+8(FP)
	MOVD	R29, bp+16(FP)
	RET
