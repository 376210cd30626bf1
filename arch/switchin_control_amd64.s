//go:build amd64 && !purego && negcontrol

#include "textflag.h"
#include "go_asm.h"

#include "g_amd64.h"

// func SwitchIn(ctx *Context, co unsafe.Pointer, owner any, outer uintptr)
//
// The negcontrol build's SwitchIn: with breakUnwind set it runs the same
// body in switchInSPWrite, which writes SP, as the switch routines did
// before, so the profiler cannot unwind out of it.
TEXT ·SwitchIn(SB), NOSPLIT, $0-40
	CMPB	·breakUnwind(SB), $0
	JNE	broken
#include "switchin_amd64.h"
broken:
	JMP	·switchInSPWrite(SB)

// func switchInSPWrite(ctx *Context, co unsafe.Pointer, owner any, outer uintptr)
TEXT ·switchInSPWrite(SB), NOSPLIT, $0-40
	MOVQ	SP, AX
	MOVQ	AX, SP			// a no-op, but it makes this an SPWRITE function
#include "switchin_amd64.h"
