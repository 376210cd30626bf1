package stackmap

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"unsafe"
)

// SelfCheck verifies at run time that this package reads the running
// runtime's tables correctly: the moduledata layout (section bounds around
// known variables and types), names, entries and lines against the runtime's
// public API, the stack map index of each frame, a known stack object's GC
// mask, and (amd64, arm64) that the frame sizes it decodes reproduce the real
// frame-pointer chain. It takes well under a millisecond. It returns a descriptive error on the
// first mismatch; the engine must then not use the decoders.
func SelfCheck() error {
	if !Supported {
		return fmt.Errorf("stackmap: Go %s on %s is not supported", runtime.Version(), runtime.GOARCH)
	}
	var r selfCheckResult
	selfCheckRun(&r)
	if r.err != nil {
		return r.err
	}
	return nil
}

// selfCheckFrames is the number of frames of the known chain:
// selfCheckLeaf, selfCheckB, selfCheckA, selfCheckRun.
const selfCheckFrames = 4

var selfCheckNames = [selfCheckFrames]string{"selfCheckLeaf", "selfCheckB", "selfCheckA", "selfCheckRun"}

type selfCheckResult struct {
	walked  [selfCheckFrames]uintptr // pcs found by the frame-pointer walk
	callers [selfCheckFrames + 2]uintptr
	ncaller int
	err     error
}

// Variables placed in known sections, to check the moduledata offsets.
var (
	scNoptrdata = [2]uint64{1, 2} // initialized, no pointers: .noptrdata
	scData      = &scNoptrdata    // initialized pointer: .data
	scBss       *int              // zero pointer: .bss
	scNoptrbss  [2]uint64         // zero, no pointers: .noptrbss
)

// scObj is the type of selfCheckB's stack object: pointer words 0 and 2.
type scObj struct {
	a *int
	b int
	c *int
}

//go:noinline
func selfCheckRun(r *selfCheckResult) {
	selfCheckA(r)
	if r.err == nil {
		r.err = checkChain(r)
	}
}

//go:noinline
func selfCheckA(r *selfCheckResult) {
	selfCheckB(r)
}

//go:noinline
func selfCheckB(r *selfCheckResult) {
	var x int
	o := scObj{a: &x, c: &x} // address taken below: a stack object
	selfCheckLeaf(r, &o)
}

//go:noinline
func selfCheckLeaf(r *selfCheckResult, o *scObj) {
	if o.a != o.c {
		r.err = errors.New("stackmap: self-check corrupted")
	}
	if haveCallerFrame {
		pc, sp, bp := callerFrame()
		r.err = walkFramePointers(r, pc, sp, bp)
	}
	r.ncaller = runtime.Callers(1, r.callers[:])
}

// walkFramePointers walks selfCheckFrames frames from (pc, sp) using spDelta
// only, and checks at each frame with locals that the frame pointer register
// (bp, then each saved BP) points where spDelta says the saved BP is.
//
//go:nocheckptr
func walkFramePointers(r *selfCheckResult, pc uintptr, sp, bp unsafe.Pointer) error {
	for i := range r.walked {
		r.walked[i] = pc
		f, ok := FindFunc(pc)
		if !ok {
			return fmt.Errorf("stackmap: frame %d: no function for pc %#x", i, pc)
		}
		d := f.spDelta(pc)
		if d < 0 {
			return fmt.Errorf("stackmap: frame %d (%s): spDelta(%#x) = %d", i, f.name(), pc, d)
		}
		fpOff, retOff, savedOff, ok := frameSlots(0, d) // offsets from sp (savedOff may be negative)
		fp := unsafe.Add(sp, int(fpOff))                // the caller's SP
		if ok {
			if want := unsafe.Add(sp, int(savedOff)); bp != want {
				return fmt.Errorf("stackmap: frame %d (%s): spDelta(%#x) = %d gives saved BP at %p, but BP is %p",
					i, f.name(), pc, d, want, bp)
			}
			bp = *(*unsafe.Pointer)(bp)
		}
		pc = *(*uintptr)(unsafe.Add(sp, int(retOff)))
		sp = fp
	}
	return nil
}

// checkChain checks the tables of the captured chain against the runtime.
func checkChain(r *selfCheckResult) error {
	if r.ncaller < selfCheckFrames {
		return fmt.Errorf("stackmap: runtime.Callers returned %d frames", r.ncaller)
	}
	frames := runtime.CallersFrames(r.callers[:selfCheckFrames])
	for i := 0; i < selfCheckFrames; i++ {
		fr, _ := frames.Next()
		pc := r.callers[i]
		if err := checkFrame(pc, fr, selfCheckNames[i]); err != nil {
			return err
		}
		if haveCallerFrame && i > 0 && r.walked[i] != pc {
			return fmt.Errorf("stackmap: frame-pointer walk found pc %#x in frame %d, runtime.Callers %#x (%s)",
				r.walked[i], i, pc, fr.Function)
		}
	}
	fb, _ := FindFunc(r.callers[1])
	if err := checkStackObject(fb, r.callers[1]); err != nil {
		return err
	}
	return checkModule(fb)
}

// checkFrame compares our view of the return pc of one frame with the runtime's.
func checkFrame(pc uintptr, fr runtime.Frame, shortName string) error {
	f, ok := FindFunc(pc)
	if !ok {
		return fmt.Errorf("stackmap: FindFunc(%#x) failed for %s", pc, fr.Function)
	}
	rf := runtime.FuncForPC(pc)
	if name := f.name(); name != fr.Function || !strings.HasSuffix(name, "."+shortName) {
		return fmt.Errorf("stackmap: name at %#x is %q, runtime says %q (want *.%s)", pc, name, fr.Function, shortName)
	}
	if f.Entry() != rf.Entry() || f.Entry() != fr.Entry {
		return fmt.Errorf("stackmap: %s: entry %#x, runtime says %#x", fr.Function, f.Entry(), rf.Entry())
	}
	if file, line := f.fileLine(pc - 1); file != fr.File || line != fr.Line {
		return fmt.Errorf("stackmap: %s: position %s:%d, runtime says %s:%d", fr.Function, file, line, fr.File, fr.Line)
	}
	idx, n := f.pcdata(_PCDATA_StackMapIndex, pc-1), f.localsMaps().n()
	if idx < 0 || idx >= n {
		return fmt.Errorf("stackmap: %s: stack map index %d at %#x not in [0, %d)", fr.Function, idx, pc-1, n)
	}
	d := f.spDelta(pc)
	if d <= 0 || d%ptrSize != 0 {
		return fmt.Errorf("stackmap: %s: bad spDelta %d at %#x", fr.Function, d, pc)
	}
	// Plausibility of the maps (a wrong gofunc offset yields garbage here):
	// at most one bit per word of the frame, and few maps.
	if m := f.localsMaps(); m.nbit() < 0 || m.nbit() > d/ptrSize || n > 1<<12 {
		return fmt.Errorf("stackmap: %s: implausible locals maps (n=%d, nbit=%d) for a %d-byte frame", fr.Function, n, m.nbit(), d)
	}
	return nil
}

// checkStackObject checks selfCheckB's stack object of type scObj, which
// validates moduledata.gofunc (funcdata) and moduledata.rodata (GC mask).
// The count and offsets are checked for plausibility first, so that a wrong
// gofunc cannot make us scan garbage until something happens to match.
func checkStackObject(f Func, pc uintptr) error {
	n, frame := f.numStackObjects(), f.spDelta(pc)
	if n < 1 || n > 8 {
		return fmt.Errorf("stackmap: %s: implausible stack object count %d", f.name(), n)
	}
	for i := 0; i < n; i++ {
		o := f.stackObjectAt(i)
		if o.off < -frame || o.off >= 0 {
			return fmt.Errorf("stackmap: %s: stack object %d at offset %d outside a %d-byte frame", f.name(), i, o.off, frame)
		}
		if o.size == int32(unsafe.Sizeof(scObj{})) && o.ptrBytes == 3*ptrSize &&
			o.isPtr(0) && !o.isPtr(1) && o.isPtr(2) && !o.isPtr(3) {
			return nil
		}
	}
	return fmt.Errorf("stackmap: %s: no stack object matching %T among %d", f.name(), scObj{}, n)
}

// checkModule checks the moduledata offsets of f's module: its pcHeader
// must agree with the table slices, and known variables and types must lie
// in the section bounds read from it.
func checkModule(f Func) error {
	const pcHeaderMagic = 0xfffffff1 // abi.Go120PCLnTabMagic
	hdr := f.mdPtr(mdPCHeader)
	if m := load32(hdr); m != pcHeaderMagic {
		return fmt.Errorf("stackmap: pcHeader magic %#x, want %#x", m, uint32(pcHeaderMagic))
	}
	if q := *(*uint8)(unsafe.Add(hdr, 6)); q != pcQuantum {
		return fmt.Errorf("stackmap: pcHeader minLC %d, want pcQuantum %d", q, pcQuantum)
	}
	// pcHeader.{funcname,cu,filetab,pctab,pcln}Offset are at 32..64.
	for i, off := range [...]uintptr{mdFuncnametab, mdCutab, mdFiletab, mdPctab, mdPclntable} {
		want := unsafe.Add(hdr, loadUintptr(unsafe.Add(hdr, 32+8*uintptr(i))))
		if got := f.mdPtr(off); got != want {
			return fmt.Errorf("stackmap: moduledata slice at offset %d starts at %p, pcHeader says %p", off, got, want)
		}
	}
	var typ any = scNoptrdata
	checks := [...]struct {
		name   string
		p      uintptr
		lo, hi uintptr // moduledata offsets of the bounds
	}{
		{"text", f.Entry(), mdText, mdEtext},
		{"noptrdata", uintptr(unsafe.Pointer(&scNoptrdata)), mdNoptrdata, mdEnoptrdata},
		{"data", uintptr(unsafe.Pointer(&scData)), mdData, mdEdata},
		{"bss", uintptr(unsafe.Pointer(&scBss)), mdBss, mdEbss},
		{"noptrbss", uintptr(unsafe.Pointer(&scNoptrbss)), mdNoptrbss, mdEnoptrbss},
		{"types", uintptr((*[2]unsafe.Pointer)(unsafe.Pointer(&typ))[0]), mdTypes, mdEtypes},
		{"gofunc", uintptr(f.funcdata(_FUNCDATA_LocalsPointerMaps)), mdGofunc, mdEpclntab},
	}
	for _, c := range checks {
		p, lo, hi := c.p, f.mdWord(c.lo), f.mdWord(c.hi)
		if p < lo || p >= hi {
			return fmt.Errorf("stackmap: %s address %#x outside moduledata bounds [%#x, %#x)", c.name, p, lo, hi)
		}
	}
	return nil
}
