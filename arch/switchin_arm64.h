// The body of SwitchIn (see switch_arm64.s), included by each file that
// defines a SwitchIn. It never writes RSP or R29 itself, nor LR: it leaves
// that to enter, so that a profiling signal landing anywhere in the copy
// and relocation (most of a switch's time) unwinds through SwitchIn's $0
// frame (its return address still in LR) to its caller, as it would not
// from a function that writes SP (SPWRITE).
//
// Registers (ABI0: any but R18, the platform register, R26 the closure
// context, R27 the assembler's, R28 g, R29 the frame pointer):
//   R0   ctx
//   R1   top: RSP at entry, the carrier's SP (its saved LR at 0(top),
//        SwitchIn's arguments above)
//   R2   end: top-8, the region's end; the word there is the carrier's own
//        saved frame pointer and stays as it is
//   R3   newLo: the region's new start, end - ctx.Len
//   R4, R5, R6  copy source, destination, count; then relocation cursor/count
//   R7-R10  scratch; then enter's R29, RSP, jump target
	MOVD	ctx+0(FP), R0
	MOVD	RSP, R1
	// SwitchOut returns through LR, kept in ctx's slot (read above).
	MOVD	R30, 8(R1)
	// g.current := g.stack.hi - top.
	MOVD	g_stackhi(g), R7
	SUB	R1, R7, R7
	MOVD	R7, g_current(g)
	SUB	$8, R1, R2
	MOVD	Context_Len(R0), R6
	SUB	R6, R2, R3
	// Clear ctx.Zero bytes below the region: [newLo-Zero, newLo).
	MOVD	Context_Zero(R0), R7
	CBZ	R7, cleared
	SUB	R7, R3, R5
	TBZ	$3, R7, zero16
	MOVD.P	ZR, 8(R5)
	SUB	$8, R7, R7
zero16:
	CBZ	R7, cleared
	STP.P	(ZR, ZR), 16(R5)
	SUB	$16, R7, R7
	B	zero16
cleared:
	MOVD	Context_Src(R0), R4
	CBNZ	R4, resume

	// Start: enter the coroutine's function as if the carrier had called
	// it (LR still holds the return address into the carrier, RSP = top,
	// R29 the carrier's frame pointer, R28 g, as ABIInternal wants).
	MOVD	Context_Fn(R0), R26	// closure context register = *funcval
	MOVD	0(R26), R9		// funcval.fn
	JMP	(R9)

resume:
	// block -> [newLo, end) in 32- then 16-byte moves (Len is a multiple of 8).
	MOVD	R3, R5
	TBZ	$3, R6, copy32
	MOVD.P	8(R4), R7
	MOVD.P	R7, 8(R5)
	SUB	$8, R6, R6
copy32:
	CMP	$32, R6
	BLT	copy16
	LDP.P	16(R4), (R7, R8)
	LDP.P	16(R4), (R9, R10)
	STP.P	(R7, R8), 16(R5)
	STP.P	(R9, R10), 16(R5)
	SUB	$32, R6, R6
	B	copy32
copy16:
	CBZ	R6, copied
	LDP.P	16(R4), (R7, R8)
	STP.P	(R7, R8), 16(R5)
	SUB	$16, R6, R6
	B	copy16
copied:

	MOVD	Context_Relocs(R0), R4
	MOVD	Context_NReloc(R0), R6
	MOVD	Context_Wide(R0), R7
	CBNZ	R7, wide
narrow:
	CBZ	R6, relocated
	MOVHU.P	2(R4), R7
	ADD	R7<<3, R3, R8
	MOVD	(R8), R9
	ADD	R3, R9, R9		// offset -> address
	MOVD	R9, (R8)
	SUB	$1, R6, R6
	B	narrow
wide:
	CBZ	R6, relocated
	MOVWU.P	4(R4), R7
	ADD	R7<<3, R3, R8
	MOVD	(R8), R9
	ADD	R3, R9, R9
	MOVD	R9, (R8)
	SUB	$1, R6, R6
	B	wide

relocated:
	MOVD	Context_BPChain(R0), R7
	CBZ	R7, chained
	// Follow the saved-frame-pointer chain from the innermost frame's slot,
	// turning each offset into an address, up to the outermost frame's,
	// whose offset Len becomes end: the carrier's frame pointer.
	MOVD	Context_BPOff(R0), R4
	ADD	R3, R4, R4		// R4 = the innermost saved-FP slot
chain:
	MOVD	(R4), R7
	ADD	R3, R7, R7
	MOVD	R7, (R4)
	CMP	R2, R7
	BEQ	chained
	MOVD	R7, R4
	B	chain
chained:
	// The innermost frame's saved frame pointer, just below the region and
	// not kept in the block, holds the address of the first one in it.
	MOVD	Context_BPOff(R0), R7
	ADD	R3, R7, R7
	MOVD	R7, -8(R3)
	SUB	$8, R3, R7		// R29 := the innermost frame's frame pointer
	MOVD	R3, R8			// RSP := the innermost frame's SP, the region's start
	MOVD	Context_PC(R0), R9
	JMP	·enter(SB)
