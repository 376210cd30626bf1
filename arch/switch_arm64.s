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

// func SwitchOutReturn(topOff uintptr)
//
// SwitchOut, and then the return of the carrier frame that called SwitchIn,
// in one step, reporting false (an ABIInternal bool result, in R0): R29 =
// the carrier frame's saved frame pointer (at top-8, just below its
// frame), RSP = that + 8 (every Go frame's R29 is its SP - 8), and on to
// the carrier frame's saved LR (at top, the bottom of its frame); g's
// current word gets back the outer value the carrier passed to SwitchIn
// (at top+40). The carrier frame is abandoned, never resumed: its epilogue
// does not run, so it must hold no defer record (open-coded defers only)
// and have nothing left to do on a yield.
//
//   R0  topOff, then the result; R8 top, then the caller's SP; R7 the
//   caller's frame pointer; R9 the return address
TEXT ·SwitchOutReturn(SB), NOSPLIT|NOFRAME, $0-8
	MOVD	topOff+0(FP), R0
	MOVD	g_stackhi(g), R8
	SUB	R0, R8, R8
	MOVD	40(R8), R0		// outer
	MOVD	R0, g_current(g)
	MOVD	(R8), R9		// the carrier frame's saved LR
	MOVD	-8(R8), R7		// its saved frame pointer: the caller's
	ADD	$8, R7, R8		// the caller's SP
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
