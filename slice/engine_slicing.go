//go:build (amd64 || arm64) && !race && !purego

package slice

import (
	"runtime"
	"runtime/debug"
	"sync/atomic"
	"unsafe"

	"github.com/stackslice/stackslice/arch"
	"github.com/stackslice/stackslice/stackmap"
)

// The stack-slicing engine. See doc.go for the model; in short:
//
//	carrier frames ... Resume -> resumeSlice -> [arch.SwitchIn: no frame]
//	top:    return address into resumeSlice      (never part of the region)
//	        c.fn's frame (saved BP at top-8)      \
//	        ... the coroutine's frames ...         } the region [lo, top)
//	lo:     Yield's frame (innermost)             /
//
// (That is amd64's picture. On arm64 the return address into resumeSlice is
// the bottom word of c.fn's frame, and the region is [lo, top-8): see
// region_arm64.go and package arch.)
//
// SwitchIn starts a coroutine by jumping to c.fn with SP at top, so c.fn's
// return address is the carrier's: when it returns, the coroutine is done and
// resumeSlice continues as if SwitchIn had returned.
//
// Yield calls suspend, which copies [lo, top) into the coroutine's block,
// classifies its words with the stackmap plan, and calls arch.SwitchOut,
// which returns from SwitchIn (or, usually, arch.SwitchOutReturn, which
// returns from resumeSlice and ResumeFor as well: see switchOut). Resume
// later calls SwitchIn again, usually
// with a different top; SwitchIn copies the block below it, relocates, and
// continues Yield as if its call to suspend had returned.

func engineUnavailable() string {
	if !stackmap.Supported {
		return "no stack-map layout for " + runtime.Version() + " (supported: go1.26, go1.27)"
	}
	return ""
}

var (
	// carrierEntry is resumeSlice's entry PC: the frame just above every
	// coroutine's region is resumeSlice's.
	carrierEntry uintptr
	// resumePC is the return address of Yield's call to suspend, where every
	// resumed coroutine continues. Set by the first save.
	resumePC uintptr
	// yieldBPOff is the offset in every saved region of its innermost
	// saved BP, Yield's. Set by the first save, with resumePC.
	yieldBPOff uintptr
)

// Offsets into runtime.g (the same in go1.26 and go1.27, runtime2.go; the
// self-test checks the stack bounds against a local variable's address and
// the status against the running goroutine's).
const (
	gStackLo = 0
	gStackHi = 8
	gPanic   = 32
	gDefer   = 40
	gStatus  = 144 // atomicstatus, after sched (a 6-word gobuf) and 5 words
	gGoPC    = 288 // gopc: the PC of the go statement that created g
	gStartPC = 304 // startpc: the entry of g's function
	// gCurrent (racectx, unused without -race) holds hi-top of the
	// innermost running coroutine, or 0 (see arch.GCurrent).
	gCurrent = arch.GCurrent

	// Goroutine statuses (runtime2.go, the same in go1.26 and go1.27).
	gsRunning = 2
	gsSyscall = 3
	gsWaiting = 4
	gsScan    = 0x1000 // added while the GC scans the stack
)

// gStatusChecked is set by the self-test once g's status reads as
// expected; until then (or if it did not) Carriers cannot tell whether
// their goroutine is blocked.
var gStatusChecked bool

// gstatus reads g's status, without the GC's scan bit.
//
//go:nocheckptr
func gstatus(g unsafe.Pointer) uint32 {
	return (*atomic.Uint32)(unsafe.Add(g, gStatus)).Load() &^ gsScan
}

func carrierG() unsafe.Pointer {
	if !gStatusChecked {
		return nil
	}
	return arch.G()
}

func gBlocked(g unsafe.Pointer) bool {
	s := gstatus(g)
	return s == gsSyscall || s == gsWaiting
}

// gword reads a word of g. Like every helper called between taking a stack
// address and its last use, it is nosplit: with inlining off (-N -l) it is a
// real call, and a stack check there could move the stack under the caller.
//
//go:nosplit
func gword(g unsafe.Pointer, off uintptr) uintptr { return *(*uintptr)(unsafe.Add(g, off)) }

// at turns a stack address into a pointer. The engine keeps stack addresses
// as uintptr because the stack can move under them; every use of at happens
// where it cannot (see suspend and findCurrent).
//
//go:nosplit
func at(a uintptr) unsafe.Pointer { return *(*unsafe.Pointer)(unsafe.Pointer(&a)) }

// word loads the word at stack address a.
//
//go:nosplit
func word(a uintptr) uintptr { return *(*uintptr)(at(a)) }

// resumeSlice enters c on the calling goroutine, for owner (see ResumeFor),
// and reports whether it finished (rather than yielded). fromResume says
// the caller is ResumeFor, which a yield may then return from directly
// (see switchOut).
//
//go:noinline
func (c *Coroutine) resumeSlice(owner any, fromResume bool) (done bool) {
	var ctx arch.Context
	if c.flags&flagPacked != 0 {
		c.unpack()
	}
	if h := c.header(); c.flags&flagSaved != 0 {
		ctx.Src = h.stack()
		ctx.Len = uintptr(h.size)
		ctx.Relocs = h.relocs()
		ctx.NReloc = uintptr(h.count())
		ctx.Wide = uintptr(h.nreloc & relocWide)
		ctx.BPChain = uintptr(h.nreloc & relocChain)
		ctx.BPOff = yieldBPOff
		ctx.PC = resumePC
	} else {
		ctx.Fn = *(*unsafe.Pointer)(unsafe.Pointer(&c.fn)) // the *funcval
		ctx.Zero = zeroWindow
	}
	g := arch.G()
	// (ctx's address stands for the frame's: the slack covers the
	// difference, and it costs no call.)
	if n := ctx.Len + ctx.Zero + 3*stackSlack; uintptr(unsafe.Pointer(&ctx))-gword(g, gStackLo) < n {
		// Fewer than n bytes free below this frame: grow the stack
		// the ordinary way first.
		growStack(n)
	}
	c.flags &^= flagSaved
	// SwitchIn sets g's current word to c; it must get the outer
	// coroutine's (or 0) back however SwitchIn returns: below when it
	// returns, in the deferred call when a panic or runtime.Goexit
	// unwinds through here. The deferred call does nothing else on a
	// return: the common path stays out of calls.
	outer := gword(g, gCurrent)
	returned := false
	d := gword(g, gDefer)
	defer func() {
		if !returned {
			c.unwound(recover(), g, outer)
			done = true
		}
	}()
	// A yield returns from this frame and ResumeFor straight to
	// ResumeFor's caller (see switchOut) when the deferred call above
	// put no record on g: it is open-coded, as it is unless
	// optimizations are off.
	c.flags &^= flagDirect
	if fromResume && gword(g, gDefer) == d && !breakCurrent {
		c.flags |= flagDirect
	}
	putBack := outer // g's current word for arch.SwitchOutReturn to restore
	if breakDirect {
		putBack ^= 0x10
	}
	arch.SwitchIn(&ctx, unsafe.Pointer(c), owner, putBack)
	runtime.KeepAlive(owner) // its copy in SwitchIn's arguments is not scanned
	returned = true
	if !breakCurrent {
		*(*uintptr)(unsafe.Add(g, gCurrent)) = outer
	}
	if c.flags&flagSaved == 0 {
		c.release()
		return true
	}
	return false
}

// unwound ends c when a panic (r, recovered from it) or runtime.Goexit (r
// nil) unwound out of its function: Resume re-panics with the panic, and
// in a Goexit the carrier itself unwinds on.
func (c *Coroutine) unwound(r any, g unsafe.Pointer, outer uintptr) {
	if !breakCurrent {
		*(*uintptr)(unsafe.Add(g, gCurrent)) = outer
	}
	if r != nil {
		c.ext_().panic = &PanicError{Value: r, Stack: debug.Stack()}
		c.ext.panicked = true
		// Resume panics with it, unless the panic was raised by a
		// deferred call during a Goexit: the runtime then goes on with
		// the Goexit, past Resume, which must find c finished.
	} else {
		c.ext_().goexit = true
	}
	c.state.Store(stateDone)
	c.release()
}

// zeroWindow is how much stack below its region a coroutine gets cleared
// when it starts (see arch.Context.Zero): blocks saved at the same place
// then differ only in what their code wrote, which is what templates
// exploit. Clearing it on every resume too was measured to save an idle
// echo connection under 2 bytes of template diff (pointers are swizzled
// anyway) for ~2 KiB of stores per switch: not done.
const zeroWindow = 2048

// stackSlack is the free stack a resumed region needs below it: Yield's
// nosplit path after the switch runs there before any stack check.
const stackSlack = 1024

// growStack uses n bytes of stack in 1 KiB frames, so the runtime grows
// (copies) the stack as it would for any deep call.
//
//go:noinline
func growStack(n uintptr) {
	var pad [1024]byte
	growSink = pad[n%1024]
	if n > 1024 {
		growStack(n - 1024)
	}
}

var growSink byte

// Yield suspends the calling coroutine; the Resume that ran it returns false.
// Yield returns when the coroutine is next resumed.
//
// Yield panics if called outside a coroutine, inside a cgo callback, through
// a frame made by reflect.MakeFunc or a reflect method value, from a deferred
// call run by a panic or runtime.Goexit in the coroutine (even after it
// called recover), or while a function in the coroutine has a
// range-over-func loop whose body has a defer statement (from the loop's
// start until the function returns): the engine cannot move those frames or
// the runtime's records in them. Deferred calls run by a normal return,
// open-coded or not, and those run after a panic is recovered may yield.
//
//go:noinline
func Yield() {
	// Yield's frame is part of every saved block, so it has no locals, and
	// it is the only caller of suspend (resumes continue at that call).
	if !engineMayRun() {
		yieldFallback()
		return
	}
	suspend()     // returns only when the coroutine is resumed
	afterResume() // nosplit: no stack growth before the defers are back
}

// afterResume finishes a resume in the resumed Yield: the defer records go
// back on g before any call that could copy the stack (copystack adjusts
// only the records it sees), then the shadow is cleared.
//
//go:nosplit
func afterResume() {
	c, _ := findCurrent()
	if c.ext != nil && c.ext.defers != nil {
		reattachDefers(c, word(arch.FramePointer())) // Yield's BP
	}
	c.clearShadow()
}

// findCurrent returns the innermost coroutine running on this goroutine and
// its top as an offset from g.stack.hi, or nil outside a coroutine. SwitchIn
// keeps that offset in g (arch.GCurrent), and the Coroutine sits in
// SwitchIn's arguments above top: no walk, whatever the depth.
//
//go:nosplit
//go:nocheckptr
func findCurrent() (*Coroutine, uintptr) {
	g := arch.G()
	off := gword(g, gCurrent)
	if off == 0 {
		return nil, 0
	}
	top := gword(g, gStackHi) - off
	return *(**Coroutine)(at(top + 16)), off
}

func currentSlice() *Coroutine {
	c, _ := findCurrent()
	return c
}

// ownerSlice returns the owner given to the Resume that runs the innermost
// coroutine: SwitchIn's owner argument, at top+24 (see arch.SwitchIn).
//
//go:nocheckptr
func ownerSlice() any {
	c, topOff := findCurrent()
	if c == nil {
		return nil
	}
	top := gword(arch.G(), gStackHi) - topOff
	return *(*any)(at(top + 24))
}

// yieldMisplaced panics for a Yield that found no coroutine.
func yieldMisplaced() {
	if inCgo() {
		yieldInCgo()
	}
	yieldOutside()
}

// suspend saves the caller's (Yield's) region [lo, top) into the current
// coroutine's block and switches to the carrier: it never returns the
// ordinary way. When SwitchIn resumes the block, the resumed Yield continues
// as if suspend had returned. Between taking lo and the last use of it no
// call may grow the stack; everything after the copy works on the copy.
//
//go:noinline
//go:nocheckptr
func suspend() {
	g := arch.G()
	topOff := gword(g, gCurrent) // see findCurrent
	if topOff == 0 {
		yieldMisplaced()
	}
	c := *(**Coroutine)(at(gword(g, gStackHi) - topOff + 16))
	bp := arch.FramePointer()
	if c.flags&flagHintMask != 0 && c.saveFast(g, topOff, bp) {
		switchOut(c, topOff)
	}
	// The general path: the first save, a block too small, defer
	// records to take along, or a misplaced Yield.
	size := regionSize(g, topOff, bp)
	ndefer := checkFrames(g, topOff, bp) // nosplit
	ds := newDeferState(ndefer)          // may move the stack
	blk := c.blockFor(size)              // likewise

	bp = arch.FramePointer() // fresh after any stack move
	lo := regionStart(bp)    // amd64: Yield's SP at its call to suspend; arm64: 8 below
	pc := word(bp + 8)       // suspend's return address into Yield
	region := unsafe.Slice((*byte)(blk.stack()), size)
	copy(region, unsafe.Slice((*byte)(at(lo)), size))
	clearCarrierBP(region)
	bpOff := firstBPOff(bp, lo)
	ds.fill(g, lo, size) // nosplit: lo still valid
	stackLo, stackHi := gword(g, gStackLo), gword(g, gStackHi)

	if resumePC == 0 {
		resumePC, yieldBPOff = pc, bpOff
	} else if pc != resumePC || bpOff != yieldBPOff {
		panic("slice: internal error: suspend called from an unexpected place")
	}
	if ds != nil || !c.saveQuick(c.hinted(region, pc), blk, region, lo, stackLo, stackHi) {
		c.saveScan(blk, region, lo, pc, stackLo, stackHi, ds)
	}
	c.flags |= flagSaved
	if ndefer > 0 {
		c.ext_().defers = ds
		detachDefers(g, ndefer)
	}
	switchOut(c, topOff)
}

// switchOut ends suspend, whose save is done: back to the Resume that
// runs c. With flagDirect it finishes that Resume's work itself: it packs
// c if its mode says so (as ResumeFor would, here on the coroutine's stack
// below the saved region), then arch.SwitchOutReturn restores g's current
// word, publishes c as suspended with the switch's last store (as
// publishSuspended does) and returns from resumeSlice and ResumeFor at
// once. Those two returns, after a switch, always missed the return stack
// buffer's prediction (it holds the coroutine's calls then); the jump
// that replaces them is predicted. Otherwise SwitchOut returns into
// resumeSlice.
func switchOut(c *Coroutine, topOff uintptr) {
	if c.flags&flagDirect != 0 {
		if c.mayPackAtYield() {
			c.packAtYield()
		}
		arch.SwitchOutReturn(topOff, (*uint32)(unsafe.Pointer(&c.state)), stateSuspended)
	}
	arch.SwitchOut(topOff)
}

// saveFast is suspend's common path, for a coroutine saved before (its
// plan hint is set): it saves the region of suspend's caller (bp is
// suspend's frame pointer) into c's block and reports true, or reports
// false, having changed nothing, when the block is too small, the region
// holds defer or panic records, or the call is not the expected one. It is
// nosplit, and so is everything it calls before the copy: until then bp
// must stay valid (see gword).
//
//go:nosplit
//go:nocheckptr
func (c *Coroutine) saveFast(g unsafe.Pointer, topOff, bp uintptr) bool {
	stackHi := gword(g, gStackHi)
	lo, top := regionStart(bp), stackHi-topOff
	size := top - regionTopGap - lo
	h := c.header()
	if h.capacity() < headerSize+size || word(bp+8) != resumePC || firstBPOff(bp, lo) != yieldBPOff {
		return false
	}
	if p := gword(g, gPanic); p-lo < size {
		return false // yieldInDefer, on the general path
	}
	if d := *(**rtDefer)(unsafe.Add(g, gDefer)); d != nil && d.sp-lo < size {
		return false // records to detach
	}
	h.size = uint32(size)
	region := unsafe.Slice((*byte)(h.stack()), size)
	copy(region, unsafe.Slice((*byte)(at(lo)), size)) // memmove: nosplit
	clearCarrierBP(region)
	// From here on everything works on the copy.
	stackLo := gword(g, gStackLo)
	if !c.saveQuick(c.hinted(region, resumePC), h, region, lo, stackLo, stackHi) {
		c.saveScan(h, region, lo, resumePC, stackLo, stackHi, nil)
	}
	c.flags |= flagSaved
	return true
}

// regionSize is the region's length for suspend, whose frame pointer is
// bp: top - regionTopGap - lo.
//
//go:nosplit
func regionSize(g unsafe.Pointer, topOff, bp uintptr) uintptr {
	return gword(g, gStackHi) - topOff - regionTopGap - regionStart(bp)
}

// currentWord is g's record of the running coroutine (see findCurrent), for
// tests.
func currentWord() uintptr { return gword(arch.G(), gCurrent) }
