//go:build amd64 && !purego

#include "textflag.h"

// func callerFrame() (pc uintptr, sp, bp unsafe.Pointer)
//
// Returns its caller's state at the CALL: the return address (a pc inside
// the caller), the caller's SP (just above our return address) and the
// caller's frame pointer register. A frame size of 0 means the assembler
// neither pushes BP nor moves SP, so BP still holds the caller's value.
TEXT ·callerFrame(SB), NOSPLIT, $0-24
	MOVQ 0(SP), AX
	MOVQ AX, pc+0(FP)
	LEAQ pc+0(FP), AX // the first result slot is at the caller's SP
	MOVQ AX, sp+8(FP)
	MOVQ BP, bp+16(FP)
	RET
