// The body of SwitchIn (see switch_amd64.s), included by each file that
// defines a SwitchIn. It never writes SP itself: it leaves that to enter,
// so that a profiling signal landing anywhere in the copy and relocation
// (most of a switch's time) unwinds through SwitchIn's $0 frame to its
// caller, as it would not from a function that writes SP (SPWRITE).
//
// Registers:
//   R12  ctx
//   R13  top: SP at entry, the slot holding the return address into the carrier
//   R11  newLo: the region's new start, top - ctx.Len
//   SI, DI, CX  copy source, destination, count; then relocation cursor/count
//   AX   scratch (relocation index), BX scratch (new BP), DX jump target
	MOVQ	ctx+0(FP), R12
	// g.current := g.stack.hi - top (top = SP at entry).
	MOVQ	(TLS), AX
	MOVQ	g_stackhi(AX), BX
	SUBQ	SP, BX
	MOVQ	BX, g_current(AX)
	// Clear ctx.Zero bytes below the region: [top-Len-Zero, top-Len).
	MOVQ	Context_Zero(R12), CX
	SHRQ	$3, CX
	JEQ	cleared
	MOVQ	SP, DI
	SUBQ	Context_Len(R12), DI
	SUBQ	Context_Zero(R12), DI
	XORQ	AX, AX
	CLD
	REP;	STOSQ
cleared:
	MOVQ	Context_Src(R12), SI
	TESTQ	SI, SI
	JNE	resume

	// Start: enter the coroutine's function as if the carrier had called it.
	MOVQ	Context_Fn(R12), DX	// closure context register = *funcval
	MOVQ	(TLS), R14		// ABIInternal: R14 = g
	XORPS	X15, X15		// ABIInternal: X15 = 0
	MOVQ	0(DX), BX		// funcval.fn
	JMP	BX

resume:
	MOVQ	SP, R13
	MOVQ	Context_Len(R12), CX
	MOVQ	R13, DI
	SUBQ	CX, DI
	MOVQ	DI, R11
	// block -> [newLo, top) in 64- then 16-byte moves (Len is a multiple of 8):
	// about 5% faster per round trip here than REP MOVSB, whose
	// fast-string stores the resumed frames read back at once.
	TESTQ	$8, CX
	JEQ	copy64
	MOVQ	(SI), AX
	MOVQ	AX, (DI)
	ADDQ	$8, SI
	ADDQ	$8, DI
	SUBQ	$8, CX
copy64:
	CMPQ	CX, $64
	JB	copy16
	MOVOU	(SI), X0
	MOVOU	16(SI), X1
	MOVOU	32(SI), X2
	MOVOU	48(SI), X3
	MOVOU	X0, (DI)
	MOVOU	X1, 16(DI)
	MOVOU	X2, 32(DI)
	MOVOU	X3, 48(DI)
	ADDQ	$64, SI
	ADDQ	$64, DI
	SUBQ	$64, CX
	JMP	copy64
copy16:
	TESTQ	CX, CX
	JEQ	copied
	MOVOU	(SI), X0
	MOVOU	X0, (DI)
	ADDQ	$16, SI
	ADDQ	$16, DI
	SUBQ	$16, CX
	JMP	copy16
copied:

	MOVQ	Context_Relocs(R12), SI
	MOVQ	Context_NReloc(R12), CX
	CMPQ	Context_Wide(R12), $0
	JNE	wide
narrow:
	TESTQ	CX, CX
	JEQ	relocated
	MOVWQZX	(SI), AX
	ADDQ	R11, (R11)(AX*8)	// offset -> address
	ADDQ	$2, SI
	DECQ	CX
	JMP	narrow
wide:
	TESTQ	CX, CX
	JEQ	relocated
	MOVLQZX	(SI), AX
	ADDQ	R11, (R11)(AX*8)
	ADDQ	$4, SI
	DECQ	CX
	JMP	wide

relocated:
	CMPQ	Context_BPChain(R12), $0
	JEQ	chained
	// Follow the saved-BP chain from the innermost frame to the
	// outermost frame's slot at top-8, turning each offset into an address.
	MOVQ	R11, SI
	ADDQ	Context_BPOff(R12), SI	// SI = the innermost saved-BP slot
	LEAQ	-8(R13), DI		// DI = the outermost frame's slot: the end
chain:
	CMPQ	SI, DI
	JEQ	chained
	MOVQ	(SI), AX
	ADDQ	R11, AX
	MOVQ	AX, (SI)
	MOVQ	AX, SI
	JMP	chain
chained:
	MOVQ	BP, -8(R13)		// outermost frame's saved BP := this carrier's BP
	MOVQ	R11, BX
	ADDQ	Context_BPOff(R12), BX
	MOVQ	Context_PC(R12), DX
	MOVQ	(TLS), R14
	XORPS	X15, X15
	JMP	·enter(SB)		// BP = BX, SP = R11, jump to DX
