//go:build arm64 && !purego

#include "textflag.h"
#include "go_asm.h"

#include "g_arm64.h"

// SwitchIn itself is in switchin_arm64.s (switchin_control_arm64.s in
// negcontrol builds), its body in switchin_arm64.h.

// enter is SwitchIn's last step, the only one that writes RSP: R29 = R7,
// RSP = R8, then jump to R9. A profiling signal in its three instructions
// cannot unwind (the unwinder stops at a function that writes SP); anywhere
// else in SwitchIn it can. (It reads R29 first: vet's framepointer check
// assumes a frameless function never sets R29, and this one does so on
// purpose.)
TEXT ·enter(SB), NOSPLIT|NOFRAME, $0-0
	MOVD	R29, R10
	MOVD	R7, R29
	MOVD	R8, RSP			// the coroutine's SP, as after its call returned
	JMP	(R9)

// func SwitchOut(topOff uintptr)
//
// It unwinds exactly like the outermost frame's own epilogue would: R29 =
// the carrier's frame pointer (top-8: every Go frame's R29 is its SP - 8,
// and the carrier's SP is top), RSP = top, and on to SwitchIn's return
// address, which SwitchIn kept at top+8. The register writes are in leave,
// so that a profiling signal in SwitchOut's loads still unwinds through
// the coroutine's frames.
//
//   R0  topOff, R8 top, R7 the carrier's frame pointer, R9 the return address
TEXT ·SwitchOut(SB), NOSPLIT|NOFRAME, $0-8
	MOVD	topOff+0(FP), R0
	MOVD	g_stackhi(g), R8
	SUB	R0, R8, R8
	SUB	$8, R8, R7
	MOVD	8(R8), R9
	JMP	·leave(SB)

// leave is SwitchOut's SP write: R29 = R7, RSP = R8, jump to R9 (the
// carrier does not read LR after its call: it saved its own on entry).
TEXT ·leave(SB), NOSPLIT|NOFRAME, $0-0
	MOVD	R29, R10
	MOVD	R7, R29
	MOVD	R8, RSP
	JMP	(R9)

// func SwitchOutReturn(topOff uintptr, state *uint32, v uint32)
//
// SwitchOut, then the return of the carrier frame and of its caller (see
// the amd64 version): g's current word gets SwitchIn's outer argument
// (top+40) back; the carrier frame saved its caller's frame pointer at
// top-8, and that caller saved its own caller's at 0(R29) and its LR at
// 8(R29); every Go frame's R29 is its SP - 8. v goes to *state with a
// release store, after every other write.
//
//   R0  topOff, then the result; R1 state; R2 v; R3 the caller's R29; R7
//   its caller's R29; R8 top, then its caller's SP; R9 the return address
TEXT ·SwitchOutReturn(SB), NOSPLIT|NOFRAME, $0-20
	MOVD	topOff+0(FP), R0
	MOVD	state+8(FP), R1
	MOVWU	v+16(FP), R2
	MOVD	g_stackhi(g), R8
	SUB	R0, R8, R8
	MOVD	40(R8), R0		// outer
	MOVD	R0, g_current(g)
	MOVD	-8(R8), R3		// the carrier frame's caller's frame pointer
	MOVD	8(R3), R9		// the caller's saved LR
	MOVD	(R3), R7		// its caller's frame pointer
	ADD	$8, R7, R8		// its caller's SP
	STLRW	R2, (R1)		// publish
	MOVD	$0, R0			// done = false
	JMP	·leaveReturn(SB)

// leaveReturn is SwitchOutReturn's register writes: R29 = R7, RSP = R8,
// jump to R9.
TEXT ·leaveReturn(SB), NOSPLIT|NOFRAME, $0-0
	MOVD	R29, R10
	MOVD	R7, R29
	MOVD	R8, RSP
	JMP	(R9)

// func FramePointer() uintptr
TEXT ·FramePointer(SB), NOSPLIT|NOFRAME, $0-8
	MOVD	R29, ret+0(FP)
	RET

// func G() unsafe.Pointer
TEXT ·G(SB), NOSPLIT|NOFRAME, $0-8
	MOVD	g, ret+0(FP)
	RET
