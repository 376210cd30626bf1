//go:build arm64 && !purego && !negcontrol

#include "textflag.h"
#include "go_asm.h"

#include "g_arm64.h"

// func SwitchIn(ctx *Context, co unsafe.Pointer, owner any, outer uintptr)
TEXT ·SwitchIn(SB), NOSPLIT|NOFRAME, $0-40
#include "switchin_arm64.h"
