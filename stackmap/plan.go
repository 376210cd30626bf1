package stackmap

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"sync/atomic"
	"unsafe"
)

// A Plan is the static shape of one suspended region: which of its words the
// GC would treat as live pointers, where its saved frame pointers are, and
// which stack objects it may contain. It depends only on the chain of return
// addresses in the region, so one plan serves every region saved at the same
// place: plans are cached by (innermost PC, region length) and each use checks
// the chain again (see Lookup).
//
// Offsets are bytes from the region's start (its lowest address). The region
// is [lo, top): its innermost frame's SP is lo+regionBelowSP (lo on amd64
// and arm64; on arm64 that frame's saved frame pointer, at lo-8, is outside
// the region) and the
// outermost frame's fp is top+8 (amd64: its return address sits at top,
// just outside the region; arm64: top is the carrier's SP-8, whose word the
// carrier owns).
type Plan struct {
	pc    uintptr // innermost frame's PC (a return address into it)
	size  uintptr // region length
	chain []retSlot

	// Slots are the live pointer words of every frame (locals and args
	// maps at the frame's PC), sorted, without duplicates.
	Slots []uint32
	// BPs are the saved frame-pointer words that must point into the
	// region. On amd64 the outermost frame's saved BP (at top-8) is not
	// among them: it points into the carrier and is rewritten on every
	// resume. On arm64 it is (see fpChainEnd): it points just past the
	// region, at the carrier's own saved frame pointer.
	BPs []uint32
	// Objects are the stack objects of all frames, sorted by offset. One is
	// live only if a live word (or another live object) points into it.
	Objects []Object
	// frames is the number of frames, for statistics and dumps.
	frames int
	// paired says each return address of the chain sits just above a
	// saved frame pointer of BPs (chain[i].off == BPs[i]+8), as in every
	// Go frame with a frame pointer on amd64 and arm64 alike: Quick then
	// checks both in one pass, and Hinted leaves the chain to it.
	paired bool
	// links is the frame-pointer chain as Quick walks it, one entry per
	// saved BP, built once with the plan; nil when Quick cannot serve the
	// plan (no saved BP, more words than a uint16 indexes, or stack
	// objects Quick cannot track: see unpackObjects).
	links []link
}

// link is one saved frame pointer of a plan whose saved BPs form the
// plain chain: the word at off must hold the region's start plus next (the
// next saved BP's offset; the chain's end, size-fpChainEnd, for the last),
// and, if pc is not 0, the word above it the return address pc.
type link struct {
	off, next uint32
	pc        uintptr
}

// retSlot is one return address in the region, checked on every use of a
// cached plan.
type retSlot struct {
	off uint32
	pc  uintptr
}

// Object is a stack object within a region.
type Object struct {
	off, size uint32
	obj       stackObject
	// ptrs are the region offsets of the object's pointer words (its GC
	// mask, unpacked once for Quick).
	ptrs []uint32
}

// Errors for regions that cannot be saved. The walker wraps them with the
// frame at fault.
var (
	errCgo     = errors.New("a cgo callback is on the stack: C frames cannot be saved")
	errReflect = errors.New("a frame made by reflect (MakeFunc or a method value) is on the stack: it has no ordinary stack map")
	errFrame   = errors.New("a frame cannot be saved")
)

// build walks the frames of a region copy and returns its plan. region is a
// copy of the stack bytes [lo, lo+len(region)); pc is the innermost frame's
// PC (the return address of its call into the frame below the region). The
// outermost frame must end exactly at the region's top (its fp is top+8, see
// Plan) and have saved a frame pointer: the restore makes it the new
// carrier's frame pointer.
func build(region []byte, lo, pc uintptr) (*Plan, error) {
	w := walker{region: region, lo: lo, top: lo + uintptr(len(region))}
	p := &Plan{pc: pc, size: uintptr(len(region))}
	sp := lo + regionBelowSP
	for {
		f, ok := FindFunc(pc)
		if !ok {
			return nil, fmt.Errorf("%w: no function contains pc %#x", errFrame, pc)
		}
		if err := checkFrameFunc(f); err != nil {
			return nil, err
		}
		fp, ret, saved, err := w.frame(p, f, pc, sp)
		if err != nil {
			return nil, err
		}
		p.frames++
		if w.in(ret) { // on arm64, the outermost frame's too (a constant: see package arch)
			p.chain = append(p.chain, retSlot{uint32(ret - lo), w.word(uint32(ret - lo))})
		}
		if fp == w.top+8 { // outermost frame
			if !saved { // the runtime's varp > sp rule
				return nil, fmt.Errorf("%w: the coroutine's function %s saves no frame pointer (a nosplit function without locals?)", errFrame, f.name())
			}
			break
		}
		if fp > w.top+8 || fp <= sp || !w.in(ret) {
			return nil, fmt.Errorf("%w: frame of %s (pc %#x) does not end inside the region", errFrame, f.name(), pc)
		}
		pc = w.word(uint32(ret - lo))
		sp = fp
	}
	p.finish()
	if err := p.checkDisjoint(); err != nil {
		return nil, err
	}
	return p, nil
}

// checkFrameFunc refuses functions whose frames cannot be moved.
func checkFrameFunc(f Func) error {
	switch f.funcID() {
	case funcID_cgocallback, funcID_asmcgocall:
		return fmt.Errorf("%w (%s)", errCgo, f.name())
	case funcIDNormal, funcID_wrapper:
	default:
		return fmt.Errorf("%w: %s is a special runtime function", errFrame, f.name())
	}
	if f.flag()&(flagSPWrite|flagTopFrame) != 0 {
		return fmt.Errorf("%w: %s switches stacks", errFrame, f.name())
	}
	if f.argsSize() == _ArgsSizeUnknown {
		return fmt.Errorf("%w (%s)", errReflect, f.name())
	}
	return nil
}

type walker struct {
	region  []byte
	lo, top uintptr
}

func (w *walker) word(off uint32) uintptr {
	return *(*uintptr)(unsafe.Pointer(&w.region[off]))
}

func (w *walker) in(addr uintptr) bool { return addr >= w.lo && addr < w.top }

// frame records one frame's live words, saved BP and stack objects, following
// the runtime's own rules (traceback.go and stkframe.go getStackMap), and
// returns the frame's fp (the caller's SP), the address of its return
// address, and whether it saved its caller's frame pointer.
func (w *walker) frame(p *Plan, f Func, pc, sp uintptr) (fp, ret uintptr, saved bool, err error) {
	delta := f.spDelta(pc)
	if delta < 0 { // -1: no table; other negatives: the function popped its return address
		return 0, 0, false, fmt.Errorf("%w: no usable frame size for %s at pc %#x", errFrame, f.name(), pc)
	}
	fp, ret, bp, saved := frameSlots(sp, delta)
	if saved && w.in(bp) && bp != w.top-fpChainEnd { // amd64: not the outermost's, at top-8
		p.BPs = append(p.BPs, uint32(bp-w.lo))
	}
	varp := fp - retPushed
	if varp > sp { // traceback.go: the frame-pointer word below varp
		varp -= 8
	}
	idx := int32(-1)
	if pc != f.Entry() {
		idx = f.pcdata(_PCDATA_StackMapIndex, pc-1) // back up to the CALL
	}
	if idx == -1 {
		idx = 0
	}
	if size := varp - sp; size > minLocalsSize {
		m := f.localsMaps()
		if m.n() <= 0 {
			return 0, 0, false, fmt.Errorf("%w: %s has %d bytes of locals and no stack map", errFrame, f.name(), size)
		}
		if m.nbit() > 0 {
			w.bits(p, m, idx, f, varp-uintptr(m.bitmap(idx).n)*8)
		}
	}
	argp := fp + minFrameSize
	if f.argsSize() > 0 && argp < w.top {
		m := f.argsMaps()
		if m.n() <= 0 {
			return 0, 0, false, fmt.Errorf("%w: %s has arguments and no stack map", errFrame, f.name())
		}
		if m.nbit() > 0 {
			w.bits(p, m, idx, f, argp)
		}
	}
	for i, n := 0, f.numStackObjects(); i < n; i++ {
		o := f.stackObjectAt(i)
		base := argp + uintptr(int64(o.off))
		if o.off < 0 {
			base = varp + uintptr(int64(o.off))
		}
		if w.in(base) && o.ptrBytes > 0 {
			p.Objects = append(p.Objects, Object{off: uint32(base - w.lo), size: uint32(o.size), obj: o})
		}
	}
	return fp, ret, saved, nil
}

// bits appends the words of map idx whose bit is set, starting at base.
func (w *walker) bits(p *Plan, m stackMaps, idx int32, f Func, base uintptr) {
	if idx < 0 || idx >= m.n() {
		panic(fmt.Sprintf("stackmap: stack map index %d out of range [0, %d) for %s", idx, m.n(), f.name()))
	}
	bv := m.bitmap(idx)
	for i := int32(0); i < bv.n; i++ {
		if a := base + uintptr(i)*8; bv.bit(i) && w.in(a) {
			p.Slots = append(p.Slots, uint32(a-w.lo))
		}
	}
}

// finish sorts and de-duplicates the plan's lists.
func (p *Plan) finish() {
	p.Slots = sortUnique(p.Slots)
	p.BPs = sortUnique(p.BPs)
	sort.Slice(p.Objects, func(i, j int) bool { return p.Objects[i].off < p.Objects[j].off })
	p.paired = len(p.chain) == len(p.BPs)
	for i := 0; p.paired && i < len(p.chain); i++ {
		p.paired = p.chain[i].off == p.BPs[i]+8
	}
	if p.unpackObjects() && len(p.BPs) > 0 && p.size/8 <= 1<<16-1 {
		p.links = make([]link, len(p.BPs))
		for i, off := range p.BPs {
			l := link{off: off, next: uint32(p.size - fpChainEnd)}
			if i+1 < len(p.BPs) {
				l.next = p.BPs[i+1]
			}
			if p.paired {
				l.pc = p.chain[i].pc
			}
			p.links[i] = l
		}
	}
}

// maxQuickObjects is how many stack objects Quick tracks: one bit each in
// a word.
const maxQuickObjects = 64

// unpackObjects reports whether Quick can find the plan's live stack objects
// itself, and unpacks their pointer words for it. It can when they are few
// (maxQuickObjects) and no saved frame pointer lies inside one. A live slot
// may lie inside one (the compiler keeps some address-taken variables in
// the stack maps too): Run visits such a word once, as a slot, since slots
// come first, so the object's list leaves it out.
func (p *Plan) unpackObjects() bool {
	if len(p.Objects) > maxQuickObjects {
		return false
	}
	for i := range p.Objects {
		o := &p.Objects[i]
		if containsAny(p.BPs, o.off, o.size) {
			return false
		}
		for w := int32(0); int64(w)*ptrSize < int64(o.obj.ptrBytes); w++ {
			off := o.off + uint32(w)*ptrSize
			if _, slot := slices.BinarySearch(p.Slots, off); o.obj.isPtr(w) && !slot {
				o.ptrs = append(o.ptrs, off)
			}
		}
	}
	return true
}

// containsAny reports whether any of the sorted offsets lies in [off, off+size).
func containsAny(offs []uint32, off, size uint32) bool {
	i, _ := slices.BinarySearch(offs, off)
	return i < len(offs) && offs[i]-off < size
}

// objectBit returns the bit of the stack object containing region offset
// d (see Quick), or 0 if d is in none.
func (p *Plan) objectBit(d uintptr) uint64 {
	for i := range p.Objects {
		if o := &p.Objects[i]; d-uintptr(o.off) < uintptr(o.size) {
			return 1 << i
		}
	}
	return 0
}

func sortUnique(s []uint32) []uint32 {
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

// checkDisjoint makes sure stack objects do not overlap (the runtime throws
// on overlapping objects too, so this also guards the decoding). A live slot
// may lie inside a stack object: the compiler reuses a dead object's storage
// for other variables; Scan handles each word once.
func (p *Plan) checkDisjoint() error {
	for i := 1; i < len(p.Objects); i++ {
		if prev := p.Objects[i-1]; prev.off+prev.size > p.Objects[i].off {
			return fmt.Errorf("%w: stack objects at offsets %d and %d overlap", errFrame, prev.off, p.Objects[i].off)
		}
	}
	return nil
}

// BPChain reports whether the region's saved frame pointers form the plain
// chain a restore can follow instead of listing them: the innermost at
// offset first, each pointing at the next one's slot, the last at the
// chain's end (len(region)-fpChainEnd: on amd64 the outermost frame's slot,
// on arm64 the carrier's, just past the region). A scan told so (see
// Scan.ChainBPs) still turns them into offsets but leaves them out of the
// relocations.
func (p *Plan) BPChain(region []byte, lo uintptr, first uint32) bool {
	if len(p.BPs) == 0 || p.BPs[0] != first {
		return false
	}
	for i, off := range p.BPs {
		next := uintptr(len(region) - fpChainEnd)
		if i+1 < len(p.BPs) {
			next = uintptr(p.BPs[i+1])
		}
		if *(*uintptr)(unsafe.Pointer(&region[off])) != lo+next {
			return false
		}
	}
	return true
}

// matches reports whether the plan fits region: same PC, same length, same
// chain of return addresses (hence the same frames at the same offsets).
func (p *Plan) matches(region []byte, pc uintptr) bool {
	if p.pc != pc || p.size != uintptr(len(region)) {
		return false
	}
	// Every r.off lies inside a region of p.size bytes: no bounds checks.
	base := unsafe.Pointer(unsafe.SliceData(region))
	for _, r := range p.chain {
		if *(*uintptr)(unsafe.Add(base, r.off)) != r.pc {
			return false
		}
	}
	return true
}

// The plan cache: set-associative, lock-free, plans immutable once
// published. Every save has the same PC (Yield's call into the engine), so
// a set is chosen by the region's length and its first return address (the
// frame that called Yield), and a set holds several plans: coroutines parked
// at different places with regions of one length (two handlers of equal
// frame size waiting in the same Chan.Recv) would otherwise evict each
// other and rebuild their plans at every switch.
const (
	cacheWays = 4
	cacheSets = 256
)

var (
	cache       [cacheSets * cacheWays]atomic.Pointer[Plan]
	cacheVictim atomic.Uint32 // picks the way a miss replaces in a full set
	builds      atomic.Int64
)

func cacheSet(pc, size, ret uintptr) uintptr {
	h := (uint64(pc) ^ uint64(size)*0x9E3779B97F4A7C15 ^ uint64(ret)*0xD6E8FEB86659FD93) * 0xBF58476D1CE4E5B9
	return uintptr(h>>56) % cacheSets * cacheWays
}

// firstReturn is the region's first return address (the innermost frame's),
// or 0 if the region is too short to hold one. Its offset follows from the
// SP delta at pc (frameSlots), remembered for the last pc (saves all have
// the same one).
func firstReturn(region []byte, pc uintptr) uintptr {
	m := lastDelta.Load()
	if m == nil || m.pc != pc {
		m = &pcDelta{pc: pc, delta: -1}
		if f, ok := FindFunc(pc); ok {
			m.delta = f.spDelta(pc)
		}
		lastDelta.Store(m)
	}
	if m.delta < 0 {
		return 0
	}
	_, ret, _, _ := frameSlots(regionBelowSP, m.delta) // as an offset
	if ret+8 > uintptr(len(region)) {
		return 0
	}
	return *(*uintptr)(unsafe.Pointer(&region[ret]))
}

type pcDelta struct {
	pc    uintptr
	delta int32
}

var lastDelta atomic.Pointer[pcDelta]

// Lookup returns the plan for region (see build), from the cache when a plan
// with the same PC, length and chain of return addresses is there.
func Lookup(region []byte, lo, pc uintptr) (*Plan, error) {
	p, _, err := LookupHint(region, lo, pc, 0)
	return p, err
}

// LookupHint is Lookup starting with the cache entry hint names (a value
// LookupHint returned for an earlier region, or 0 for none): a coroutine
// that yields where it yielded last time finds its plan there with one
// check of the chain, without hashing or searching. It returns the plan
// and the hint to pass next time. A hint is only a cache position: a wrong
// or stale one costs a search, never a wrong plan.
func LookupHint(region []byte, lo, pc uintptr, hint uint32) (*Plan, uint32, error) {
	if hint-1 < uint32(len(cache)) {
		if p := cache[hint-1].Load(); p != nil && p.matches(region, pc) {
			return p, hint, nil
		}
	}
	base := cacheSet(pc, uintptr(len(region)), firstReturn(region, pc))
	set := cache[base:][:cacheWays]
	for i := range set {
		if p := set[i].Load(); p != nil && p.matches(region, pc) {
			return p, uint32(base+uintptr(i)) + 1, nil
		}
	}
	p, err := build(region, lo, pc)
	if err != nil {
		return nil, 0, err
	}
	builds.Add(1)
	for i := range set {
		if set[i].CompareAndSwap(nil, p) {
			return p, uint32(base+uintptr(i)) + 1, nil
		}
	}
	i := uintptr(cacheVictim.Add(1) % cacheWays)
	set[i].Store(p)
	return p, uint32(base+i) + 1, nil
}

// Hinted returns the plan at hint if it may be region's, else nil: the
// cheapest lookup, for a caller that has a slower path anyway. It checks
// the PC and the length, and the chain of return addresses unless the
// plan's Quick checks it (then only a Quick that succeeds proves the plan
// is region's: use such a plan for nothing else).
func Hinted(region []byte, pc uintptr, hint uint32) *Plan {
	if hint-1 < uint32(len(cache)) {
		if p := cache[hint-1].Load(); p != nil && p.pc == pc && p.size == uintptr(len(region)) && (p.paired || p.matches(region, pc)) {
			return p
		}
	}
	return nil
}

// HintBits is how many bits a LookupHint hint needs.
const HintBits = 11 // len(cache)+1 values

func init() {
	if len(cache)+1 > 1<<HintBits {
		panic("stackmap: HintBits too small for the plan cache")
	}
}

// Builds returns how many plans have been built so far: cache misses of
// the saves (for telemetry and tests; a steady program stops building).
func Builds() int64 { return builds.Load() }

// ReturnPCs returns the PCs of a region's frames, innermost first: pc, then
// each return address found by walking the frames of the region copy (whose
// words may already hold relocation offsets: return addresses never do). It
// stops at the first frame it cannot size, so it is safe on any region that
// build accepted.
func ReturnPCs(region []byte, pc uintptr) []uintptr {
	pcs := []uintptr{pc}
	off := uintptr(regionBelowSP) // the frame's SP, as an offset
	for {
		f, ok := FindFunc(pc)
		if !ok {
			return pcs
		}
		delta := f.spDelta(pc)
		if delta < 0 {
			return pcs
		}
		fp, ret, _, _ := frameSlots(off, delta) // as offsets
		if fp > uintptr(len(region)) || ret+8 > uintptr(len(region)) {
			return pcs // the outermost frame: its caller is the carrier
		}
		pc = *(*uintptr)(unsafe.Pointer(&region[ret]))
		pcs = append(pcs, pc)
		off = fp
	}
}

// abi0Entry returns a PC inside this package's code, to find its module.
func abi0Entry() uintptr { return reflect.ValueOf(build).Pointer() }
