//go:build amd64 && !purego

#include "textflag.h"
#include "go_asm.h"

#include "g_amd64.h"

// SwitchIn itself is in switchin_amd64.s (switchin_control_amd64.s in
// negcontrol builds), its body in switchin_amd64.h.

// enter is SwitchIn's last step, the only one that writes SP: BP = BX,
// SP = R11, then jump to DX. A profiling signal in its three instructions
// cannot unwind (the unwinder stops at a function that writes SP); anywhere
// else in SwitchIn it can. (XCHGQ rather than MOVQ into BP: see SwitchOut.)
TEXT ·enter(SB), NOSPLIT|NOFRAME, $0-0
	XCHGQ	BP, BX
	MOVQ	R11, SP			// the coroutine's SP, as after its call returned
	JMP	DX

// func SwitchOut(topOff uintptr)
//
// It unwinds exactly like the outermost frame's own epilogue would: BP = the
// carrier's BP that frame saved at top-8, SP = top, return through
// top. The SP write is in leave, so that a profiling signal in SwitchOut's
// loads still unwinds through the coroutine's frames.
//
//   AX  topOff, CX g, BX top, DX the carrier's BP
TEXT ·SwitchOut(SB), NOSPLIT, $0-8
	MOVQ	topOff+0(FP), AX
	MOVQ	(TLS), CX
	MOVQ	g_stackhi(CX), BX
	SUBQ	AX, BX
	MOVQ	-8(BX), DX
	JMP	·leave(SB)

// leave is SwitchOut's SP write: BP = DX, SP = BX, return through top.
// (XCHGQ BP, DX rather than MOVQ DX, BP: vet's framepointer check assumes a
// frameless function never sets BP, and this one does so on purpose.)
//
// It returns with a jump rather than RET: the return stack buffer holds the
// coroutine's return addresses here (its last call was to SwitchOut), so a
// RET would always be mispredicted, while the indirect jump is predicted
// from its own history (it nearly always goes back to resumeSlice).
TEXT ·leave(SB), NOSPLIT|NOFRAME, $0-0
	XCHGQ	BP, DX
	MOVQ	(BX), AX		// the carrier's return address at top
	LEAQ	8(BX), SP		// as RET leaves it
	JMP	AX

// func SwitchOutReturn(topOff uintptr, state *uint32, v uint32)
//
// SwitchOut, then the return of the carrier frame that called SwitchIn and
// of that frame's caller, in one step: it puts SwitchIn's outer argument
// (at top+40) back in g's current word, stores v in *state (the last
// write: x86-TSO keeps stores in order), and returns from the caller to its
// caller with a false bool result (an ABIInternal result, in AX), as the
// two frames' epilogues would. The carrier frame's BP is the one saved at
// top-8; each frame's BP points at its saved BP, with its return address
// above it. Both frames are abandoned: they must have nothing left to do
// after a yield but that store, and no defer record on g (an open-coded
// defer's state lives in its frame).
//
//   AX  topOff, then the result; BX top, then the caller's caller's SP; CX
//   g, then the return address; DX frame pointers; SI state; DI v
TEXT ·SwitchOutReturn(SB), NOSPLIT, $0-20
	MOVQ	topOff+0(FP), AX
	MOVQ	state+8(FP), SI
	MOVL	v+16(FP), DI
	MOVQ	(TLS), CX
	MOVQ	g_stackhi(CX), BX
	SUBQ	AX, BX
	MOVQ	40(BX), AX		// outer
	MOVQ	AX, g_current(CX)
	MOVQ	CX, R14			// ABIInternal: R14 = g
	XORPS	X15, X15		// ABIInternal: X15 = 0
	MOVQ	-8(BX), DX		// the carrier frame's BP
	MOVQ	(DX), DX		// its caller's BP
	MOVQ	8(DX), CX		// the caller's return address
	LEAQ	16(DX), BX		// its caller's SP after that return
	MOVQ	(DX), DX		// its caller's BP
	MOVL	DI, (SI)		// publish: after every other write
	XORL	AX, AX			// done = false
	JMP	·leaveReturn(SB)

// leaveReturn is SwitchOutReturn's SP write: BP = DX, SP = BX, jump to CX
// (predicted from its own history, as in leave: the return stack buffer
// holds the coroutine's calls here, so the two returns this replaces were
// always mispredicted).
TEXT ·leaveReturn(SB), NOSPLIT|NOFRAME, $0-0
	XCHGQ	BP, DX
	MOVQ	BX, SP
	JMP	CX

// func FramePointer() uintptr
TEXT ·FramePointer(SB), NOSPLIT, $0-8
	MOVQ	BP, ret+0(FP)
	RET

// func G() unsafe.Pointer
TEXT ·G(SB), NOSPLIT, $0-8
	MOVQ	(TLS), AX
	MOVQ	AX, ret+0(FP)
	RET
