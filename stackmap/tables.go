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
	_PCDATA_UnsafePoint   = 0
	_PCDATA_StackMapIndex = 1 // index into the locals/args stack maps
	_PCDATA_InlTreeIndex  = 2
	_PCDATA_ArgLiveIndex  = 3
	_PCDATA_PanicBounds   = 4

	// FUNCDATA entries.
	_FUNCDATA_ArgsPointerMaps    = 0
	_FUNCDATA_LocalsPointerMaps  = 1
	_FUNCDATA_StackObjects       = 2
	_FUNCDATA_InlTree            = 3
	_FUNCDATA_OpenCodedDeferInfo = 4
	_FUNCDATA_ArgInfo            = 5
	_FUNCDATA_ArgLiveInfo        = 6
	_FUNCDATA_WrapInfo           = 7

	// Values of the _PCDATA_UnsafePoint table.
	_UnsafePointSafe           = -1
	_UnsafePointUnsafe         = -2
	_UnsafePointRestart1       = -3
	_UnsafePointRestart2       = -4
	_UnsafePointRestartAtEntry = -5

	// _ArgsSizeUnknown is the argsSize of functions whose argument size is
	// unknown (assembly without an explicit size, C varargs).
	_ArgsSizeUnknown = -0x80000000
)

// Func flag bits (abi.FuncFlag).
const (
	flagTopFrame = 1 << 0 // the unwinder stops here (goexit, mstart, ...)
	flagSPWrite  = 1 << 1 // writes SP arbitrarily: cannot be unwound through
	flagAsm      = 1 << 2 // implemented in assembly
)

// Function IDs of special runtime functions (abi.FuncID).
const (
	funcIDNormal = iota
	funcID_abort
	funcID_asmcgocall
	funcID_asyncPreempt
	funcID_cgocallback
	funcID_corostart
	funcID_debugCallV2
	funcID_gcBgMarkWorker
	funcID_goexit
	funcID_gogo
	funcID_gopanic
	funcID_handleAsyncEvent
	funcID_mcall
	funcID_morestack
	funcID_mstart
	funcID_panicwrap
	funcID_rt0_go
	funcID_runtime_main
	funcID_runFinalizers
	funcID_runCleanups
	funcID_sigpanic
	funcID_systemstack
	funcID_systemstack_switch
	funcID_wrapper // abi.FuncIDWrapper: any compiler-generated code (method and go/defer wrappers, ...)
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

// valid reports whether f describes a function.
func (f Func) valid() bool { return f.f != nil }

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

// name returns the function's symbol name, as runtime.FuncForPC(Entry()).Name()
// does (for a pc inside inlined code the runtime reports the inlined function;
// name always reports the outer, physical function). The string points into
// the binary's read-only data: no allocation.
func (f Func) name() string {
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

// funcID returns the abi.FuncID of the function (funcID* constants).
func (f Func) funcID() uint8 { return f.rec().funcID }

// flag returns the abi.FuncFlag bits of the function (flag* constants).
func (f Func) flag() uint8 { return f.rec().flag }

// argsSize returns the size of the function's arguments and results on the
// stack, or _ArgsSizeUnknown.
func (f Func) argsSize() int32 { return f.rec().args }

// spDelta returns the distance from the frame's SP to the top of its frame
// (excluding the return address on amd64) at pc, like runtime.funcspdelta.
// The runtime uses the frame's pc itself (a return address for callers).
// It returns -1 if the function has no sp table or pc is not covered.
func (f Func) spDelta(pc uintptr) int32 {
	return f.pcValue(f.rec().pcsp, pc)
}

// pcdata returns the value of PCDATA table `table` at pc, like
// runtime.pcdatavalue, or -1 when the function has no such table or it does
// not cover pc. For the stack-map index of a caller frame, pass the return
// address minus 1 (the runtime backs up into the CALL instruction).
func (f Func) pcdata(table uint32, pc uintptr) int32 {
	r := f.rec()
	if table >= r.npcdata {
		return -1
	}
	off := *(*uint32)(unsafe.Add(f.f, funcRecordSize+4*uintptr(table)))
	return f.pcValue(off, pc)
}

// fileLine returns the source position of pc, like runtime.funcline1 (for
// inlined code: the position inside the inlined function). It returns
// "?", 0 if unknown.
func (f Func) fileLine(pc uintptr) (file string, line int) {
	if !f.valid() {
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

// localsMaps returns the function's locals pointer maps
// (_FUNCDATA_LocalsPointerMaps); n() is 0 if it has none.
func (f Func) localsMaps() stackMaps {
	return stackMaps{f.funcdata(_FUNCDATA_LocalsPointerMaps)}
}

// argsMaps returns the function's argument pointer maps
// (_FUNCDATA_ArgsPointerMaps); n() is 0 if it has none.
func (f Func) argsMaps() stackMaps {
	return stackMaps{f.funcdata(_FUNCDATA_ArgsPointerMaps)}
}

// stackMaps is a runtime.stackmap: n bitmaps of nbit bits each (one bit per
// pointer-sized word), each starting on a byte boundary:
//
//	struct { n, nbit int32; bytedata [...]byte }
type stackMaps struct {
	p unsafe.Pointer // nil when the function has no such maps
}

// n returns the number of bitmaps (0 if there are none).
func (m stackMaps) n() int32 {
	if m.p == nil {
		return 0
	}
	return int32(load32(m.p))
}

// nbit returns the number of bits (words) in each bitmap.
func (m stackMaps) nbit() int32 {
	if m.p == nil {
		return 0
	}
	return int32(load32(unsafe.Add(m.p, 4)))
}

// bitmap returns bitmap i, like runtime.stackmapdata. It panics if i is out of
// range: the index comes from _PCDATA_StackMapIndex, and a bad index means the
// caller looked up the wrong pc or function.
func (m stackMaps) bitmap(i int32) bitvector {
	n := m.n()
	if i < 0 || i >= n {
		panicMapIndex(i, n)
	}
	nbit := m.nbit()
	return bitvector{n: nbit, data: (*byte)(unsafe.Add(m.p, 8+uintptr(i)*uintptr((nbit+7)>>3)))}
}

func panicMapIndex(i, n int32) {
	panic(fmt.Sprintf("stackmap: stack map index %d out of range [0, %d)", i, n))
}

// bitvector is one pointer bitmap: bit i (least significant bit first in
// each byte) says whether word i of the covered area holds a pointer.
type bitvector struct {
	n    int32 // number of bits
	data *byte // (n+7)/8 bytes of read-only data
}

// bit reports whether bit i is set. It panics if i is out of range.
func (b bitvector) bit(i int32) bool {
	if i < 0 || i >= b.n {
		panic(fmt.Sprintf("stackmap: bit %d out of range [0, %d)", i, b.n))
	}
	return *(*byte)(unsafe.Add(unsafe.Pointer(b.data), i>>3))>>(i&7)&1 != 0
}

// stackObject is a runtime.stackObjectRecord: a local variable (or argument)
// whose address is taken, scanned by the GC only if something points to it.
type stackObject struct {
	// off is the object's offset in the frame: if negative, from varp
	// (the frame's top minus the return address and saved frame pointer);
	// if non-negative, from argp (the caller's SP plus minFrameSize).
	off      int32
	size     int32 // size in bytes
	ptrBytes int32 // length of the prefix that may hold pointers
	// gcMask is the type's pointer bitmap, one bit per word of the first
	// ptrBytes bytes (moduledata.rodata + gcdataoff, in both go1.26 and
	// go1.27: the linker resolves gcdataoff against rodata even though
	// go1.27 keeps type descriptors in their own range).
	gcMask *byte
}

// isPtr reports whether word `word` of the object may hold a pointer.
func (o stackObject) isPtr(word int32) bool {
	if word < 0 || int64(word)*ptrSize >= int64(o.ptrBytes) {
		return false
	}
	return *(*byte)(unsafe.Add(unsafe.Pointer(o.gcMask), word>>3))>>(word&7)&1 != 0
}

// stackObjectRecordSize is the size of runtime.stackObjectRecord
// {off, size, ptrBytes int32; gcdataoff uint32}.
const stackObjectRecordSize = 16

// ptrSize is the size of a pointer (goarch.PtrSize).
const ptrSize = 4 << (^uintptr(0) >> 63)

// numStackObjects returns the number of stack objects of the function
// (allocation-free; see stackObjectAt).
func (f Func) numStackObjects() int {
	p := f.funcdata(_FUNCDATA_StackObjects)
	if p == nil {
		return 0
	}
	// The funcdata starts with a uintptr count (runtime getStackMap).
	return int(loadUintptr(p))
}

// stackObjectAt returns stack object i (0 <= i < numStackObjects()).
func (f Func) stackObjectAt(i int) stackObject {
	n := f.numStackObjects()
	if i < 0 || i >= n {
		panic(fmt.Sprintf("stackmap: stack object %d out of range [0, %d)", i, n))
	}
	p := unsafe.Add(f.funcdata(_FUNCDATA_StackObjects), ptrSize+uintptr(i)*stackObjectRecordSize)
	// go1.26 may place this funcdata unaligned: load byte-wise (the
	// compiler turns load32 into one load on little-endian targets).
	return stackObject{
		off:      int32(load32(p)),
		size:     int32(load32(unsafe.Add(p, 4))),
		ptrBytes: int32(load32(unsafe.Add(p, 8))),
		gcMask:   (*byte)(unsafe.Add(f.mdPtr(mdRodata), load32(unsafe.Add(p, 12)))),
	}
}

// stackObjects returns the function's stack objects (_FUNCDATA_StackObjects),
// copied out of read-only data. It allocates; hot paths should cache the
// result or use numStackObjects and stackObjectAt.
func (f Func) stackObjects() []stackObject {
	n := f.numStackObjects()
	if n == 0 {
		return nil
	}
	objs := make([]stackObject, n)
	for i := range objs {
		objs[i] = f.stackObjectAt(i)
	}
	return objs
}
