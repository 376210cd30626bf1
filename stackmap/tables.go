package stackmap

import (
	"bytes"
	"fmt"
	"unsafe"
)

// Supported reports whether this Go version's runtime layout and this
// architecture are known to the package. When false, the decoders must not
// be used (they read the runtime's private structures at fixed offsets) and
// the engine falls back to its goroutine-based implementation.
const Supported = layoutSupported && archSupported

// Constants from internal/abi/symtab.go (identical in go1.26 and go1.27; the
// tests re-derive them from the running toolchain's source).
const (
	// PCDATA tables.
	PCDATA_UnsafePoint   = 0
	PCDATA_StackMapIndex = 1 // index into the locals/args stack maps
	PCDATA_InlTreeIndex  = 2
	PCDATA_ArgLiveIndex  = 3
	PCDATA_PanicBounds   = 4

	// FUNCDATA entries.
	FUNCDATA_ArgsPointerMaps    = 0
	FUNCDATA_LocalsPointerMaps  = 1
	FUNCDATA_StackObjects       = 2
	FUNCDATA_InlTree            = 3
	FUNCDATA_OpenCodedDeferInfo = 4
	FUNCDATA_ArgInfo            = 5
	FUNCDATA_ArgLiveInfo        = 6
	FUNCDATA_WrapInfo           = 7

	// Values of the PCDATA_UnsafePoint table.
	UnsafePointSafe           = -1
	UnsafePointUnsafe         = -2
	UnsafePointRestart1       = -3
	UnsafePointRestart2       = -4
	UnsafePointRestartAtEntry = -5

	// ArgsSizeUnknown is the ArgsSize of functions whose argument size is
	// unknown (assembly without an explicit size, C varargs).
	ArgsSizeUnknown = -0x80000000
)

// Func flag bits (abi.FuncFlag).
const (
	FlagTopFrame = 1 << 0 // the unwinder stops here (goexit, mstart, ...)
	FlagSPWrite  = 1 << 1 // writes SP arbitrarily: cannot be unwound through
	FlagAsm      = 1 << 2 // implemented in assembly
)

// Function IDs of special runtime functions (abi.FuncID).
const (
	FuncIDNormal = iota
	FuncID_abort
	FuncID_asmcgocall
	FuncID_asyncPreempt
	FuncID_cgocallback
	FuncID_corostart
	FuncID_debugCallV2
	FuncID_gcBgMarkWorker
	FuncID_goexit
	FuncID_gogo
	FuncID_gopanic
	FuncID_handleAsyncEvent
	FuncID_mcall
	FuncID_morestack
	FuncID_mstart
	FuncID_panicwrap
	FuncID_rt0_go
	FuncID_runtime_main
	FuncID_runFinalizers
	FuncID_runCleanups
	FuncID_sigpanic
	FuncID_systemstack
	FuncID_systemstack_switch
	FuncID_wrapper // abi.FuncIDWrapper: any compiler-generated code (method and go/defer wrappers, ...)
)

// funcRecord mirrors runtime._func (runtime/runtime2.go), a 44-byte record in
// the module's pclntable; identical in go1.26 and go1.27. It is followed by
// npcdata uint32 offsets into pctab (one per PCDATA table, 0 = absent) and
// then nfuncdata uint32 offsets from moduledata.gofunc (^0 = absent).
type funcRecord struct {
	entryOff    uint32 // entry pc, as offset from moduledata.text
	nameOff     int32  // offset into moduledata.funcnametab
	args        int32  // in/out args size
	deferreturn uint32 // offset of the deferreturn call from entry, if any
	pcsp        uint32 // pctab offset of the sp-delta table
	pcfile      uint32
	pcln        uint32
	npcdata     uint32
	cuOffset    uint32
	startLine   int32
	funcID      uint8
	flag        uint8
	_           [1]byte
	nfuncdata   uint8
}

// funcRecordSize is the size of runtime._func without its trailing arrays.
const funcRecordSize = 44

// Func describes one function of the binary. It has the same layout as
// runtime.funcInfo, so runtime functions returning or taking a funcInfo can
// be linknamed with Func in its place. The zero Func is invalid.
type Func struct {
	f     unsafe.Pointer // *runtime._func, in the module's pclntable
	datap unsafe.Pointer // *runtime.moduledata of the module holding f
}

// FindFunc returns the function containing pc, or false if pc is not in any
// Go function.
func FindFunc(pc uintptr) (Func, bool) {
	f := findfunc(pc)
	return f, f.f != nil
}

// Valid reports whether f describes a function.
func (f Func) Valid() bool { return f.f != nil }

func (f Func) rec() *funcRecord { return (*funcRecord)(f.f) }

// Entry returns the address of the function's first instruction. With a
// single text section (always on amd64) it is text + entryOff; otherwise the
// runtime's funcInfo.entry resolves the section.
func (f Func) Entry() uintptr {
	if f.mdSliceLen(mdTextsectmap) > 1 {
		return funcInfoEntry(f)
	}
	return f.mdWord(mdText) + uintptr(f.rec().entryOff)
}

// Name returns the function's symbol name, as runtime.FuncForPC(Entry()).Name()
// does (for a pc inside inlined code the runtime reports the inlined function;
// Name always reports the outer, physical function). The string points into
// the binary's read-only data: no allocation.
func (f Func) Name() string {
	off := f.rec().nameOff
	tab := f.mdBytes(mdFuncnametab)
	if off <= 0 || int(off) >= len(tab) {
		return ""
	}
	s := tab[off:]
	if n := bytes.IndexByte(s, 0); n >= 0 {
		s = s[:n]
	}
	return unsafe.String(unsafe.SliceData(s), len(s))
}

// FuncID returns the abi.FuncID of the function (FuncID_* constants).
func (f Func) FuncID() uint8 { return f.rec().funcID }

// Flag returns the abi.FuncFlag bits of the function (Flag* constants).
func (f Func) Flag() uint8 { return f.rec().flag }

// ArgsSize returns the size of the function's arguments and results on the
// stack, or ArgsSizeUnknown.
func (f Func) ArgsSize() int32 { return f.rec().args }

// DeferReturn returns the offset from Entry of the function's deferreturn
// call, or 0 if it has none.
func (f Func) DeferReturn() uint32 { return f.rec().deferreturn }

// SPDelta returns the distance from the frame's SP to the top of its frame
// (excluding the return address on amd64) at pc, like runtime.funcspdelta.
// The runtime uses the frame's pc itself (a return address for callers).
// It returns -1 if the function has no sp table or pc is not covered.
func (f Func) SPDelta(pc uintptr) int32 {
	return f.pcValue(f.rec().pcsp, pc)
}

// PCData returns the value of PCDATA table `table` at pc, like
// runtime.pcdatavalue, or -1 when the function has no such table or it does
// not cover pc. For the stack-map index of a caller frame, pass the return
// address minus 1 (the runtime backs up into the CALL instruction).
func (f Func) PCData(table uint32, pc uintptr) int32 {
	r := f.rec()
	if table >= r.npcdata {
		return -1
	}
	off := *(*uint32)(unsafe.Add(f.f, funcRecordSize+4*uintptr(table)))
	return f.pcValue(off, pc)
}

// FileLine returns the source position of pc, like runtime.funcline1 (for
// inlined code: the position inside the inlined function). It returns
// "?", 0 if unknown.
func (f Func) FileLine(pc uintptr) (file string, line int) {
	if !f.Valid() {
		return "?", 0
	}
	file, l := funcline1(f, pc, false)
	return file, int(l)
}

// funcdata returns the address of the function's i-th FUNCDATA, or nil, like
// runtime.funcdata: the offset after the pcdata offsets is relative to
// moduledata.gofunc, and ^uint32(0) means absent.
func (f Func) funcdata(i uint8) unsafe.Pointer {
	r := f.rec()
	if i >= r.nfuncdata {
		return nil
	}
	p := unsafe.Add(f.f, funcRecordSize+4*uintptr(r.npcdata)+4*uintptr(i))
	off := *(*uint32)(p)
	if off == ^uint32(0) {
		return nil
	}
	return unsafe.Add(f.mdPtr(mdGofunc), off)
}

// LocalsMaps returns the function's locals pointer maps
// (FUNCDATA_LocalsPointerMaps); N() is 0 if it has none.
func (f Func) LocalsMaps() StackMaps {
	return StackMaps{f.funcdata(FUNCDATA_LocalsPointerMaps)}
}

// ArgsMaps returns the function's argument pointer maps
// (FUNCDATA_ArgsPointerMaps); N() is 0 if it has none.
func (f Func) ArgsMaps() StackMaps {
	return StackMaps{f.funcdata(FUNCDATA_ArgsPointerMaps)}
}

// StackMaps is a runtime.stackmap: n bitmaps of nbit bits each (one bit per
// pointer-sized word), each starting on a byte boundary:
//
//	struct { n, nbit int32; bytedata [...]byte }
type StackMaps struct {
	p unsafe.Pointer // nil when the function has no such maps
}

// N returns the number of bitmaps (0 if there are none).
func (m StackMaps) N() int32 {
	if m.p == nil {
		return 0
	}
	return int32(load32(m.p))
}

// NBit returns the number of bits (words) in each bitmap.
func (m StackMaps) NBit() int32 {
	if m.p == nil {
		return 0
	}
	return int32(load32(unsafe.Add(m.p, 4)))
}

// Map returns bitmap i, like runtime.stackmapdata. It panics if i is out of
// range: the index comes from PCDATA_StackMapIndex, and a bad index means the
// caller looked up the wrong pc or function.
func (m StackMaps) Map(i int32) Bitvector {
	n := m.N()
	if i < 0 || i >= n {
		panicMapIndex(i, n)
	}
	nbit := m.NBit()
	return Bitvector{N: nbit, Bytes: (*byte)(unsafe.Add(m.p, 8+uintptr(i)*uintptr((nbit+7)>>3)))}
}

func panicMapIndex(i, n int32) {
	panic(fmt.Sprintf("stackmap: stack map index %d out of range [0, %d)", i, n))
}

// Bitvector is one pointer bitmap: bit i (least significant bit first in
// each byte) says whether word i of the covered area holds a pointer.
type Bitvector struct {
	N     int32 // number of bits
	Bytes *byte // (N+7)/8 bytes of read-only data
}

// Bit reports whether bit i is set. It panics if i is out of range.
func (b Bitvector) Bit(i int32) bool {
	if i < 0 || i >= b.N {
		panic(fmt.Sprintf("stackmap: bit %d out of range [0, %d)", i, b.N))
	}
	return *(*byte)(unsafe.Add(unsafe.Pointer(b.Bytes), i>>3))>>(i&7)&1 != 0
}

// StackObject is a runtime.stackObjectRecord: a local variable (or argument)
// whose address is taken, scanned by the GC only if something points to it.
type StackObject struct {
	// Off is the object's offset in the frame: if negative, from varp
	// (the frame's top minus the return address and saved frame pointer);
	// if non-negative, from argp (the caller's SP plus MinFrameSize).
	Off      int32
	Size     int32 // size in bytes
	PtrBytes int32 // length of the prefix that may hold pointers
	// GCMask is the type's pointer bitmap, one bit per word of the first
	// PtrBytes bytes (moduledata.rodata + gcdataoff, in both go1.26 and
	// go1.27: the linker resolves gcdataoff against rodata even though
	// go1.27 keeps type descriptors in their own range).
	GCMask *byte
}

// IsPtr reports whether word `word` of the object may hold a pointer.
func (o StackObject) IsPtr(word int32) bool {
	if word < 0 || int64(word)*ptrSize >= int64(o.PtrBytes) {
		return false
	}
	return *(*byte)(unsafe.Add(unsafe.Pointer(o.GCMask), word>>3))>>(word&7)&1 != 0
}

// stackObjectRecordSize is the size of runtime.stackObjectRecord
// {off, size, ptrBytes int32; gcdataoff uint32}.
const stackObjectRecordSize = 16

// ptrSize is the size of a pointer (goarch.PtrSize).
const ptrSize = 4 << (^uintptr(0) >> 63)

// NumStackObjects returns the number of stack objects of the function
// (allocation-free; see StackObjectAt).
func (f Func) NumStackObjects() int {
	p := f.funcdata(FUNCDATA_StackObjects)
	if p == nil {
		return 0
	}
	// The funcdata starts with a uintptr count (runtime getStackMap).
	return int(loadUintptr(p))
}

// StackObjectAt returns stack object i (0 <= i < NumStackObjects()).
func (f Func) StackObjectAt(i int) StackObject {
	n := f.NumStackObjects()
	if i < 0 || i >= n {
		panic(fmt.Sprintf("stackmap: stack object %d out of range [0, %d)", i, n))
	}
	p := unsafe.Add(f.funcdata(FUNCDATA_StackObjects), ptrSize+uintptr(i)*stackObjectRecordSize)
	// go1.26 may place this funcdata unaligned: load byte-wise (the
	// compiler turns load32 into one load on little-endian targets).
	return StackObject{
		Off:      int32(load32(p)),
		Size:     int32(load32(unsafe.Add(p, 4))),
		PtrBytes: int32(load32(unsafe.Add(p, 8))),
		GCMask:   (*byte)(unsafe.Add(f.mdPtr(mdRodata), load32(unsafe.Add(p, 12)))),
	}
}

// StackObjects returns the function's stack objects (FUNCDATA_StackObjects),
// copied out of read-only data. It allocates; hot paths should cache the
// result or use NumStackObjects and StackObjectAt.
func (f Func) StackObjects() []StackObject {
	n := f.NumStackObjects()
	if n == 0 {
		return nil
	}
	objs := make([]StackObject, n)
	for i := range objs {
		objs[i] = f.StackObjectAt(i)
	}
	return objs
}
