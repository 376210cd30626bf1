//go:build amd64 && !purego && !negcontrol

#include "textflag.h"
#include "go_asm.h"

#include "g_amd64.h"

// func SwitchIn(ctx *Context, co unsafe.Pointer, owner any, outer uintptr)
TEXT ·SwitchIn(SB), NOSPLIT, $0-40
#include "switchin_amd64.h"
