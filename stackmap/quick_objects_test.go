//go:build amd64 || arm64

package stackmap

import (
	"fmt"
	"math/rand"
	"slices"
	"testing"
	"unsafe"
)

// Quick finds live stack objects itself (a deferred closure, an
// address-taken local): an object counts when a live slot, or a live
// object, points into it, as in Run. These tests compare Quick with Run on
// random regions of one frame: the same words converted, the same
// relocations, the same heap pointers kept, and a dead object's words left
// alone. The regions are of 64-bit words: the engine runs on amd64 and
// arm64 only.

var quickStatic int // a static address: never shadowed

// quickRegion is a random one-frame region: its saved frame pointer at
// offset 0, then slots and stack objects over the other words.
type quickRegion struct {
	words []uintptr
	plan  *Plan
	lo    uintptr
	masks [][]byte // the objects' GC masks (kept alive for the plan)
}

// quickHeap are the heap pointers the regions hold, and dead the one only
// dead objects hold: it must never reach a shadow.
var quickHeap, quickDead = func() ([]*[2]int, *[2]int) {
	h := make([]*[2]int, 6)
	for i := range h {
		h[i] = new([2]int)
	}
	return h, new([2]int)
}()

// newQuickRegion makes a random region; with slotInObject, some slots lie
// inside objects (the compiler lists some address-taken variables in its
// stack maps too).
func newQuickRegion(r *rand.Rand, slotInObject bool) *quickRegion {
	n := 16 + r.Intn(48)
	q := &quickRegion{words: make([]uintptr, n), lo: 0x7f0000010000}
	size := uint32(n * 8)
	p := &Plan{size: uintptr(size), BPs: []uint32{0}}
	// Objects: up to four disjoint runs of 1-6 words, each word a
	// pointer word with probability 1/2.
	inObj := make([]int, n) // object index + 1
	for k, w := 0, 1+r.Intn(3); k < 1+r.Intn(4) && w < n-1; k++ {
		words := 1 + r.Intn(6)
		if w+words > n-1 {
			break
		}
		mask := make([]byte, 1)
		ptrWords := 0
		for i := 0; i < words; i++ {
			if r.Intn(2) == 0 {
				mask[0] |= 1 << i
				ptrWords = i + 1
			}
		}
		if ptrWords == 0 {
			mask[0], ptrWords = 1, 1
		}
		q.masks = append(q.masks, mask)
		p.Objects = append(p.Objects, Object{off: uint32(w * 8), size: uint32(words * 8),
			obj: stackObject{size: int32(words * 8), ptrBytes: int32(ptrWords * 8), gcMask: &mask[0]}})
		for i := 0; i < words; i++ {
			inObj[w+i] = len(p.Objects)
		}
		w += words + r.Intn(3)
	}
	for w := 1; w < n; w++ {
		if (inObj[w] == 0 || slotInObject && r.Intn(4) == 0) && r.Intn(3) != 0 {
			p.Slots = append(p.Slots, uint32(w*8))
		}
	}
	p.finish()
	q.plan = p
	q.fill(r, inObj)
	return q
}

// fill gives every word a value: the frame pointer, then nil, heap, static
// or region pointers (into objects or not) at random; the pointer words of
// objects nothing points to hold quickDead, so that visiting a dead object
// shows.
func (q *quickRegion) fill(r *rand.Rand, inObj []int) {
	n := len(q.words)
	q.words[0] = q.lo + uintptr(n*8) - fpChainEnd
	for w := 1; w < n; w++ {
		switch r.Intn(5) {
		case 0:
			q.words[w] = 0
		case 1:
			q.words[w] = uintptr(unsafe.Pointer(quickHeap[r.Intn(len(quickHeap))]))
		case 2:
			q.words[w] = uintptr(unsafe.Pointer(&quickStatic))
		default:
			q.words[w] = q.lo + uintptr(8*(1+r.Intn(n-1)))
		}
	}
	live := q.liveObjects()
	for i, o := range q.plan.Objects {
		for w := o.off / 8; !live[i] && w < (o.off+o.size)/8; w++ {
			if !slices.Contains(q.plan.Slots, w*8) {
				q.words[w] = uintptr(unsafe.Pointer(quickDead))
			}
		}
	}
}

// liveObjects computes which objects are live, independently of Scan.
func (q *quickRegion) liveObjects() []bool {
	p := q.plan
	live := make([]bool, len(p.Objects))
	var visit func(w uint32)
	visit = func(w uint32) {
		v := q.words[w/8]
		for i, o := range p.Objects {
			if d := v - q.lo; d >= uintptr(o.off) && d < uintptr(o.off+o.size) && !live[i] {
				live[i] = true
				for k := int32(0); k*8 < o.obj.ptrBytes; k++ {
					if o.obj.isPtr(k) {
						visit(o.off + uint32(k)*8)
					}
				}
			}
		}
	}
	for _, off := range p.Slots {
		visit(off)
	}
	return live
}

// scanResult is what a scan of a copy of the region did: the region,
// relocations (sorted word indexes) and distinct heap pointers kept.
type scanResult struct {
	words   []uintptr
	nshadow int // shadow entries written, repeats included
	relocs  []int
	shadow  []uintptr
	ok      bool
	err     error
}

// runScan scans a copy with Run.
func (q *quickRegion) runScan() scanResult {
	words := slices.Clone(q.words)
	region := unsafe.Slice((*byte)(unsafe.Pointer(&words[0])), len(words)*8)
	s := Scan{StackLo: q.lo - 4096, StackHi: q.lo + uintptr(len(region)) + 4096, ChainBPs: true}
	err := s.Run(q.plan, region, q.lo, nil)
	res := scanResult{words: words, ok: err == nil, err: err, nshadow: len(s.Shadow)}
	for _, r := range s.Relocs {
		res.relocs = append(res.relocs, int(r))
	}
	for _, p := range s.Shadow {
		res.shadow = append(res.shadow, uintptr(p))
	}
	return res.sorted()
}

// runQuick scans a copy with Quick, with room for relocs relocations and
// shadow heap pointers.
func (q *quickRegion) runQuick(relocs, shadow int) scanResult {
	words := slices.Clone(q.words)
	region := unsafe.Slice((*byte)(unsafe.Pointer(&words[0])), len(words)*8)
	qs := QuickScan{Lo: q.lo, StackLo: q.lo - 4096, StackHi: q.lo + uintptr(len(region)) + 4096,
		Relocs: make([]uint16, relocs), Shadow: make([]unsafe.Pointer, shadow)}
	ok, err := q.plan.Quick(region, &qs)
	res := scanResult{words: words, ok: ok, err: err, nshadow: qs.NShadow}
	for _, r := range qs.Relocs[:qs.NReloc] {
		res.relocs = append(res.relocs, int(r))
	}
	for i, p := range qs.Shadow {
		if i >= qs.NShadow && p != nil {
			res.err = fmt.Errorf("shadow entry %d past NShadow=%d is %p", i, qs.NShadow, p)
		}
		if i < qs.NShadow {
			res.shadow = append(res.shadow, uintptr(p))
		}
	}
	return res.sorted()
}

func (r scanResult) sorted() scanResult {
	slices.Sort(r.relocs)
	slices.Sort(r.shadow)
	r.shadow = slices.Compact(r.shadow)
	return r
}

func TestQuickMatchesRunWithObjects(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	for trial := 0; trial < 3000; trial++ {
		q := newQuickRegion(r, trial%2 == 1)
		run := q.runScan()
		if !run.ok {
			t.Fatalf("trial %d: Run: %v", trial, run.err)
		}
		for _, p := range run.shadow {
			if p == uintptr(unsafe.Pointer(quickDead)) {
				t.Fatalf("trial %d: Run shadowed a dead object's pointer", trial)
			}
		}
		n := len(q.words)
		got := q.runQuick(n, n)
		if !got.ok || got.err != nil {
			t.Fatalf("trial %d: Quick gave up with room for every word: %v", trial, got.err)
		}
		if !slices.Equal(got.words, run.words) || !slices.Equal(got.relocs, run.relocs) || !slices.Equal(got.shadow, run.shadow) {
			t.Fatalf("trial %d (objects %+v, slots %v):\nQuick: region %x relocs %v shadow %x\nRun:   region %x relocs %v shadow %x",
				trial, q.plan.Objects, q.plan.Slots, got.words, got.relocs, got.shadow, run.words, run.relocs, run.shadow)
		}
		// The room a save by Run leaves is enough for Quick: it visits
		// the objects in Run's order and drops the repeats Run drops.
		if fit := q.runQuick(len(run.relocs), run.nshadow); !fit.ok {
			t.Fatalf("trial %d: Quick gave up with the room Run needed (%d relocations, %d shadow entries): %v",
				trial, len(run.relocs), run.nshadow, fit.err)
		}
		// With too little room Quick gives up and puts everything back.
		if len(run.relocs) > 0 {
			if small := q.runQuick(len(run.relocs)-1, n); small.ok || !slices.Equal(small.words, q.words) {
				t.Fatalf("trial %d: Quick with room for %d of %d relocations: ok %v, region restored %v",
					trial, len(run.relocs)-1, len(run.relocs), small.ok, slices.Equal(small.words, q.words))
			}
		}
		if len(run.shadow) > 0 {
			if small := q.runQuick(n, 0); small.ok || !slices.Equal(small.words, q.words) || small.err != nil {
				t.Fatalf("trial %d: Quick without shadow room: ok %v, region restored %v, %v",
					trial, small.ok, slices.Equal(small.words, q.words), small.err)
			}
		}
	}
}

// TestQuickObjectCarrierPointer: a live object's word pointing into the
// carrier's stack outside the region is refused, as in a slot.
func TestQuickObjectCarrierPointer(t *testing.T) {
	mask := []byte{1}
	lo := uintptr(0x7f0000010000)
	words := []uintptr{lo + 32 - fpChainEnd, lo + 16, lo - 64, 0}
	p := &Plan{size: 32, BPs: []uint32{0}, Slots: []uint32{8},
		Objects: []Object{{off: 16, size: 8, obj: stackObject{size: 8, ptrBytes: 8, gcMask: &mask[0]}}}}
	p.finish()
	region := unsafe.Slice((*byte)(unsafe.Pointer(&words[0])), 32)
	qs := QuickScan{Lo: lo, StackLo: lo - 4096, StackHi: lo + 4096, Relocs: make([]uint16, 4), Shadow: make([]unsafe.Pointer, 4)}
	if ok, err := p.Quick(region, &qs); ok || err == nil {
		t.Fatalf("Quick = %v, %v; want the carrier pointer refused", ok, err)
	}
}
