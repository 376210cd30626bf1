package stackmap

import (
	"fmt"
	"math/bits"
	"sort"
	"unsafe"
)

// Scan classifies, for one save, the words of a region copy that a Plan marks
// as live, the way the GC's scanstack would:
//
//   - a word pointing into the region is rewritten in the copy as an offset
//     from the region's start and its word index goes to Relocs (the restore
//     adds the new start back); the stack object it points into, if any, is
//     live and scanned in turn;
//   - any other non-nil pointer goes to Shadow, so the GC keeps its
//     referent alive while the region is only bytes, except pointers into
//     the binary's own text and data, which the GC never frees;
//   - a pointer into the carrier's stack outside the region is an error: it
//     would dangle once the region moves.
//
// A Scan keeps its buffers between uses: reuse one (through a pool) rather
// than allocating one per save, and call Release when done with Shadow.
type Scan struct {
	Relocs []uint32
	Shadow []unsafe.Pointer

	// StackLo and StackHi bound the carrier goroutine's stack, to catch
	// pointers into it from outside the region.
	StackLo, StackHi uintptr
	// ChainBPs leaves saved frame pointers out of Relocs (see
	// Plan.BPChain); they are still turned into offsets.
	ChainBPs bool
	// Alive are pointers kept alive elsewhere: not put in Shadow.
	Alive Alive

	region []byte
	lo     uintptr
	plan   *Plan
	live   []objState // per object of plan
	next   int        // the lowest-numbered object found live and not yet scanned, or len(live)
	// seen has a bit per region word already classified: a word can be
	// both a live slot and inside a live object, and must be converted
	// only once.
	seen  []uint64
	class classifier
}

// Release drops the Scan's references to heap objects (Shadow's entries) so
// a pooled Scan keeps nothing alive.
func (s *Scan) Release() {
	clear(s.Shadow)
	s.Shadow = s.Shadow[:0]
	s.region, s.plan = nil, nil
}

// Run scans region (a copy of [lo, lo+len(region))) with plan p. Extra roots
// (byte offsets of words that hold pointers outside any stack map, such as
// the fn field of stack-allocated defer records) are scanned like live slots.
//
//go:nocheckptr
func (s *Scan) Run(p *Plan, region []byte, lo uintptr, roots []uint32) error {
	s.region, s.lo, s.plan = region, lo, p
	s.Relocs, s.Shadow = s.Relocs[:0], s.Shadow[:0]
	s.class = classifier{lo: lo, size: uintptr(len(region)), stackLo: s.StackLo, stackHi: s.StackHi, alive: s.Alive}
	s.seen = resize(s.seen, (len(region)/8+63)/64)
	s.live, s.next = resize(s.live, len(p.Objects)), len(p.Objects)
	for _, off := range p.Slots {
		if err := s.pointer(off); err != nil {
			return err
		}
	}
	for _, off := range roots {
		if err := s.pointer(off); err != nil {
			return err
		}
	}
	for _, off := range p.BPs {
		v := s.load(off)
		if v-lo > uintptr(len(region))-fpChainEnd {
			return fmt.Errorf("%w: saved frame pointer %#x at offset %d points outside the region", errFrame, v, off)
		}
		if s.ChainBPs {
			*(*uintptr)(unsafe.Pointer(&region[off])) = v - lo
		} else {
			s.relocate(off, v)
		}
	}
	// The live objects, lowest-numbered first, as Quick visits them:
	// the order decides which repeated heap pointers the shadow drops, so
	// a save that took this path leaves Quick room for the next one.
	for s.next < len(s.live) {
		i := s.next
		if s.live[i] != objFound {
			s.next++
			continue
		}
		s.live[i] = objScanned
		if err := s.object(&p.Objects[i]); err != nil {
			return err
		}
	}
	return nil
}

// objState is what a Scan knows of a stack object.
type objState uint8

const (
	objDead    objState = iota // no live word points into it (yet)
	objFound                   // live, its words not scanned yet
	objScanned                 // live and scanned
)

func (s *Scan) load(off uint32) uintptr {
	return *(*uintptr)(unsafe.Pointer(&s.region[off]))
}

// pointer classifies the pointer-typed word at off.
//
//go:nocheckptr
func (s *Scan) pointer(off uint32) error {
	w := off / 8
	if s.seen[w/64]&(1<<(w%64)) != 0 {
		return nil
	}
	s.seen[w/64] |= 1 << (w % 64)
	v := s.load(off)
	switch s.class.kind(v) {
	case wordRegion:
		if !skipReloc {
			s.relocate(off, v)
		}
		s.markObject(uint32(v - s.lo))
	case wordCarrier:
		return errCarrier(off)
	case wordHeap:
		if !dropShadow {
			s.Shadow = append(s.Shadow, *(*unsafe.Pointer)(unsafe.Pointer(&s.region[off])))
		}
	}
	return nil
}

func errCarrier(off uint32) error {
	return fmt.Errorf("%w: word at offset %d points into the carrier's stack outside the region", errFrame, off)
}

// relocate turns the region pointer v at off into an offset.
func (s *Scan) relocate(off uint32, v uintptr) {
	*(*uintptr)(unsafe.Pointer(&s.region[off])) = v - s.lo
	s.Relocs = append(s.Relocs, off/8)
}

// markObject queues the stack object containing off, if any and not yet seen.
func (s *Scan) markObject(off uint32) {
	objs := s.plan.Objects
	i := sort.Search(len(objs), func(i int) bool { return objs[i].off+objs[i].size > off })
	if i == len(objs) || objs[i].off > off {
		return
	}
	if s.live[i] != objDead {
		return
	}
	s.live[i] = objFound
	s.next = min(s.next, i)
}

// object scans the pointer words of a live stack object.
func (s *Scan) object(o *Object) error {
	for w := int32(0); int64(w)*8 < int64(o.obj.ptrBytes); w++ {
		if o.obj.isPtr(w) {
			if err := s.pointer(o.off + uint32(w)*8); err != nil {
				return err
			}
		}
	}
	return nil
}

// resize returns s with length n and every element zero, reusing its array.
func resize[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	s = s[:n]
	clear(s)
	return s
}

// wordKind is what a live pointer word of a region holds.
type wordKind uint8

const (
	wordSkip    wordKind = iota // nil, static, kept alive elsewhere, or a repeat of a recent shadow entry
	wordRegion                  // points into the region: relocate
	wordCarrier                 // points into the carrier's stack outside the region: an error
	wordHeap                    // a new shadow entry
)

// classifier holds the rules every scan applies to a live pointer word, in
// one place: Count sizes what ScanSimple writes, so they must agree exactly.
type classifier struct {
	lo, size         uintptr
	stackLo, stackHi uintptr
	alive            Alive
	recent           recentPointers
}

func (c *classifier) kind(v uintptr) wordKind {
	switch {
	case v == 0:
		return wordSkip
	case v-c.lo < c.size:
		return wordRegion
	case v >= c.stackLo && v < c.stackHi:
		return wordCarrier
	case isStatic(v) || c.alive.has(v) || c.recent.seen(v):
		return wordSkip
	}
	return wordHeap
}

// Count counts what ScanSimple will write for a region copy: shadow entries
// (non-nil live words pointing neither into the region, nor into the
// carrier's stack, nor into the binary's static memory, repeats within
// ScanSimple's window dropped) and
// relocations of live words pointing into the region (saved frame pointers
// not included).
func (p *Plan) Count(region []byte, lo, stackLo, stackHi uintptr, alive Alive) (heap, inRegion int) {
	c := classifier{lo: lo, size: uintptr(len(region)), stackLo: stackLo, stackHi: stackHi, alive: alive}
	for _, off := range p.Slots {
		switch c.kind(*(*uintptr)(unsafe.Pointer(&region[off]))) {
		case wordRegion:
			inRegion++
		case wordHeap:
			heap++
		}
	}
	return heap, inRegion
}

// Alive names up to two pointers the caller keeps alive anyway (the
// coroutine and its function's closure, say): they need no shadow entry.
type Alive [2]uintptr

func (a *Alive) has(v uintptr) bool { return a[0] == v || a[1] == v }

// recentPointers remembers the last few heap pointers put in a shadow. Frames
// pass the same pointers down (receivers, arguments, closures), and the
// shadow needs each referent only once: a small window catches most repeats
// for the price of a few compares.
type recentPointers struct {
	w [4]uintptr
	i int
}

// seen reports whether v is in the window, and adds it if not.
func (r *recentPointers) seen(v uintptr) bool {
	if r.w[0] == v || r.w[1] == v || r.w[2] == v || r.w[3] == v {
		return true
	}
	r.w[r.i&3] = v
	r.i++
	return false
}

// ScanSimple is Run for the common case of a plan without stack objects and
// no extra roots, writing straight into caller-provided storage: relocs must
// have room for the relocations Count reports (plus len(p.BPs) unless
// chainBPs) and shadow for the heap pointers it reports. It returns how many of each it wrote. With
// chainBPs, saved frame pointers are turned into offsets but not listed. With no
// objects every live word is visited once, so no bookkeeping is needed.
//
//go:nocheckptr
func (p *Plan) ScanSimple(region []byte, lo, stackLo, stackHi uintptr, alive Alive, chainBPs bool, relocs []uint16, shadow []unsafe.Pointer) (nreloc, nshadow int, err error) {
	if len(p.Objects) != 0 {
		panic("stackmap: ScanSimple called on a plan with stack objects")
	}
	size := uintptr(len(region))
	c := classifier{lo: lo, size: size, stackLo: stackLo, stackHi: stackHi, alive: alive}
	for _, off := range p.Slots {
		w := (*uintptr)(unsafe.Pointer(&region[off]))
		switch c.kind(*w) {
		case wordRegion:
			if !skipReloc {
				*w -= lo
				relocs[nreloc] = uint16(off / 8)
				nreloc++
			}
		case wordCarrier:
			return 0, 0, errCarrier(off)
		case wordHeap:
			if !dropShadow {
				shadow[nshadow] = *(*unsafe.Pointer)(unsafe.Pointer(w))
				nshadow++
			}
		}
	}
	for _, off := range p.BPs {
		w := (*uintptr)(unsafe.Pointer(&region[off]))
		if *w-lo > size-fpChainEnd {
			return 0, 0, fmt.Errorf("%w: saved frame pointer %#x at offset %d points outside the region", errFrame, *w, off)
		}
		*w -= lo
		if !chainBPs {
			relocs[nreloc] = uint16(off / 8)
			nreloc++
		}
	}
	return nreloc, nshadow, nil
}

// staticLo and staticHi bound the main module's text and data (from its
// moduledata: text up to enoptrbss). Pointers there (funcvals, globals,
// type descriptors) need no shadow entry: the GC never frees that memory.
var staticLo, staticHi = staticRange()

func staticRange() (lo, hi uintptr) {
	f, ok := FindFunc(abi0Entry())
	if !ok {
		return 0, 0
	}
	lo, hi = f.mdWord(mdText), f.mdWord(mdEnoptrbss)
	if lo >= hi || f.mdWord(mdData) < lo || f.mdWord(mdData) >= hi {
		return 0, 0 // not the layout expected: shadow everything
	}
	return lo, hi
}

// isStatic reports whether v points into the main module's text or data.
func isStatic(v uintptr) bool { return v-staticLo < staticHi-staticLo }

// Quick is Run in one pass, for the common case and within the room
// given: it requires region to be p's (its chain of return addresses is
// checked again here when Hinted left that to it), a plan whose stack
// objects it can track (see unpackObjects; it finds the live ones as Run
// does), saved frame pointers
// forming the plain chain from q.First (see BPChain; they become offsets
// and are not listed), and room in q.Relocs and q.Shadow for what it finds.
// When any of that fails it reports ok false and leaves region and q.Shadow
// as they were (nil entries), and the caller takes the general path (Count,
// then ScanSimple or Run). A pointer into the carrier's stack is an error,
// as in ScanSimple. Of repeated heap pointers it drops those Count and
// ScanSimple drop, so it fits in the shadow room Count reports. The region
// was copied from [q.Lo, q.Lo+len(region)), which must lie inside the
// carrier's stack [q.StackLo, q.StackHi) unless that is empty (then no
// word may point into the region).
//
//go:nocheckptr
func (p *Plan) Quick(region []byte, q *QuickScan) (ok bool, err error) {
	// The save of every round trip runs this: it is written for the
	// compiler to keep the loops in registers, with the rare exits out
	// of line.
	links := p.links
	if len(links) == 0 || links[0].off != q.First || uintptr(len(region)) != p.size {
		return false, nil
	}
	// Every offset in p lies inside a region of p.size bytes, and
	// len(region) == p.size: no bounds checks needed.
	base := unsafe.Pointer(unsafe.SliceData(region))
	lo := q.Lo
	// The frame pointers: each must hold the next one's address (the
	// last, the chain's end at size-fpChainEnd), and, for a paired
	// plan, the word above it the return address the plan was built
	// with (see Hinted): the plan is region's only if every one
	// matches. Each becomes its offset.
	for i := range links {
		l := &links[i]
		w := (*uintptr)(unsafe.Add(base, l.off))
		if *w != lo+uintptr(l.next) || l.pc != 0 && *(*uintptr)(unsafe.Add(base, l.off+8)) != l.pc {
			p.unchain(base, lo, i)
			return false, nil
		}
		*w = uintptr(l.next)
	}
	// The loop keeps only what changes in registers and reads the rest
	// from q (loads the compiler cannot hoist past the stores through w,
	// and cheaper than the spills it made when they were locals).
	q.size, q.nreloc, q.nshadow, q.prev, q.live = p.size, 0, 0, 0, 0
	for _, off := range p.Slots {
		w := (*uintptr)(unsafe.Add(base, off))
		v := *w
		if v == 0 {
			continue
		}
		if v-q.StackLo < q.StackHi-q.StackLo {
			// On the carrier's stack, where the region lies: a
			// pointer into the region, or an error. (Heap pointers,
			// the common case, take this one test.)
			d := v - q.Lo
			if d >= q.size {
				return false, errCarrier(off)
			}
			if !q.reloc(w, d, off) {
				p.undo(base, q.Lo, q.Relocs[:q.nreloc], q.Shadow[:q.nshadow])
				return false, nil
			}
			if len(p.Objects) != 0 {
				q.live |= p.objectBit(d)
			}
			continue
		}
		if v-staticLo < staticHi-staticLo || v == q.Alive[0] || v == q.Alive[1] || v == q.prev {
			continue
		}
		if !q.keep(w, v) && !q.keepFull(w, v) {
			p.undo(base, q.Lo, q.Relocs[:q.nreloc], q.Shadow[:q.nshadow])
			return false, nil
		}
	}
	if q.live != 0 {
		if ok, err := p.quickObjects(base, q); !ok {
			if err == nil {
				p.undo(base, q.Lo, q.Relocs[:q.nreloc], q.Shadow[:q.nshadow])
			}
			return false, err
		}
	}
	q.NReloc, q.NShadow = q.nreloc, q.nshadow
	return true, nil
}

// quickObjects is Quick's pass over the live stack objects (q.live, a bit
// per object of p, set by the slots that point into them): it classifies
// their pointer words as Quick classifies slots, and an object they point
// into becomes live in turn, as in Run, and in Run's order (the
// lowest-numbered pending object first), so that what Run left room for
// fits. Each object is visited once, and
// its list leaves out the words that are slots too (see unpackObjects), so
// no word is converted twice.
// It reports false when the room runs out, with an error for a pointer
// into the carrier's stack.
//
//go:nocheckptr
func (p *Plan) quickObjects(base unsafe.Pointer, q *QuickScan) (ok bool, err error) {
	for done := uint64(0); q.live&^done != 0; {
		i := bits.TrailingZeros64(q.live &^ done)
		done |= 1 << i
		for _, off := range p.Objects[i].ptrs {
			w := (*uintptr)(unsafe.Add(base, off))
			v := *w
			switch {
			case v == 0:
			case v-q.StackLo < q.StackHi-q.StackLo:
				d := v - q.Lo
				if d >= q.size {
					return false, errCarrier(off)
				}
				if !q.reloc(w, d, off) {
					return false, nil
				}
				q.live |= p.objectBit(d)
			case v-staticLo < staticHi-staticLo || v == q.Alive[0] || v == q.Alive[1] || v == q.prev:
			case !q.keep(w, v) && !q.keepFull(w, v):
				return false, nil
			}
		}
	}
	return true, nil
}

// reloc turns the region pointer at w into its offset d and lists it, or
// reports false if Relocs has no room left.
//
//go:nocheckptr
func (q *QuickScan) reloc(w *uintptr, d uintptr, off uint32) bool {
	if q.nreloc >= len(q.Relocs) {
		return false
	}
	if !skipReloc {
		*w = d
		q.Relocs[q.nreloc] = uint16(off / 8)
		q.nreloc++
	}
	return true
}

// keep puts the heap pointer v at w in the shadow, or reports false if
// Shadow has no room left.
//
//go:nocheckptr
func (q *QuickScan) keep(w *uintptr, v uintptr) bool {
	if q.nshadow >= len(q.Shadow) {
		return false
	}
	if !dropShadow {
		q.Shadow[q.nshadow] = *(*unsafe.Pointer)(unsafe.Pointer(w))
		q.nshadow++
		q.prev = v
	}
	return true
}

// keepFull is keep when the shadow has no room left: it drops v if it
// repeats one of the last entries, else compacts the shadow and tries
// again; false if there is still no room. Out of line: Quick's loop
// calls it only when keep fails.
//
//go:noinline
//go:nocheckptr
func (q *QuickScan) keepFull(w *uintptr, v uintptr) bool {
	if q.recent(v) {
		return true
	}
	q.compact()
	if q.recent(v) {
		return true
	}
	if q.nshadow >= len(q.Shadow) {
		return false
	}
	q.Shadow[q.nshadow] = *(*unsafe.Pointer)(unsafe.Pointer(w))
	q.nshadow++
	q.prev = v
	return true
}

// compact drops from the shadow entries written so far the repeats that
// Count and ScanSimple drop (a pointer among the four entries before it,
// see recentPointers) and Quick's loop, which looks only at the entry
// before it, kept. The slow path sizes the shadow by Count: without
// this, a region with a pointer repeated a few words apart (a task's
// pointer in its function's context argument and in the frame that
// parks, say) would never fit, and every save of it would take the slow
// path again. Running only when the room is full, it costs the common
// path nothing. Every entry dropped, here or by keepFull, is a repeat of
// one kept: the shadow still holds every heap pointer of the region.
func (q *QuickScan) compact() {
	s := q.Shadow[:q.nshadow]
	n := 0
	for _, p := range s {
		if !recentIn(s[:n], uintptr(p)) {
			s[n] = p
			n++
		}
	}
	clear(s[n:])
	q.nshadow = n
}

// recent reports whether v is among the last four shadow entries (so
// kept already, as Count's window would find it).
func (q *QuickScan) recent(v uintptr) bool { return recentIn(q.Shadow[:q.nshadow], v) }

// recentIn reports whether v is among the last four entries of s.
func recentIn(s []unsafe.Pointer, v uintptr) bool {
	for i := len(s) - 1; i >= 0 && i >= len(s)-4; i-- {
		if uintptr(s[i]) == v {
			return true
		}
	}
	return false
}

// unchain puts back the first n saved frame pointers Quick turned into
// offsets before it met one that does not fit.
//
//go:nocheckptr
func (p *Plan) unchain(base unsafe.Pointer, lo uintptr, n int) {
	if skipUndo {
		return
	}
	for _, l := range p.links[:n] {
		*(*uintptr)(unsafe.Add(base, l.off)) += lo
	}
}

// QuickScan holds Quick's inputs, and its outputs.
type QuickScan struct {
	Lo               uintptr // the region's address when copied
	StackLo, StackHi uintptr // the carrier stack's bounds
	Alive            Alive
	First            uint32           // the innermost saved frame pointer's offset
	Relocs           []uint16         // room for relocations
	Shadow           []unsafe.Pointer // room for heap pointers (nil entries)
	NReloc, NShadow  int              // set by Quick: how many it wrote

	// Quick's working state.
	size, prev      uintptr
	nreloc, nshadow int
	live            uint64 // the stack objects found live, a bit per object of the plan
}

// undo puts back what an abandoned Quick changed: the frame pointers' and
// relocated words' addresses, and nil in the shadow entries it wrote.
//
//go:nocheckptr
func (p *Plan) undo(base unsafe.Pointer, lo uintptr, relocs []uint16, shadow []unsafe.Pointer) {
	clear(shadow)
	if skipUndo {
		return
	}
	for _, off := range p.BPs {
		*(*uintptr)(unsafe.Add(base, off)) += lo
	}
	for _, r := range relocs {
		*(*uintptr)(unsafe.Add(base, uintptr(r)*8)) += lo
	}
}
