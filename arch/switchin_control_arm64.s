//go:build arm64 && !purego && negcontrol

#include "textflag.h"
#include "go_asm.h"

#include "g_arm64.h"

// func SwitchIn(ctx *Context, co unsafe.Pointer, owner any, outer uintptr)
//
// The negcontrol build's SwitchIn: with breakUnwind set it runs the same
// body in switchInSPWrite, which writes SP, so the profiler cannot unwind
// out of it.
TEXT ·SwitchIn(SB), NOSPLIT|NOFRAME, $0-40
	MOVBU	·breakUnwind(SB), R0
	CBNZ	R0, broken
#include "switchin_arm64.h"
broken:
	JMP	·switchInSPWrite(SB)

// func switchInSPWrite(ctx *Context, co unsafe.Pointer, owner any, outer uintptr)
TEXT ·switchInSPWrite(SB), NOSPLIT|NOFRAME, $0-40
	MOVD	RSP, R0
	MOVD	R0, RSP			// a no-op, but it makes this an SPWRITE function
#include "switchin_arm64.h"
