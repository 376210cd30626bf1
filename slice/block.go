//go:build (amd64 || arm64) && !race && !purego

package slice

import (
	"fmt"
	"sync"
	"unsafe"

	"github.com/stackslice/stackslice/stackmap"
)

// A block is one noscan allocation holding a suspended coroutine:
//
//	blockHeader | region bytes (size) | relocation word indexes (uint16, or uint32 if wide)
//
// Words of the region that pointed into the region hold offsets from its
// start; SwitchIn adds the new start back. Heap pointers stay in the bytes as
// they were (the GC does not scan them) and are also kept in the coroutine's
// pointer shadow, a separate pointer-typed array the GC does scan, until the
// coroutine runs again. A block is kept across yields while it is large
// enough, and returned to a size-class pool when the coroutine ends.
//
// The header is 8 bytes because it is paid by every idle coroutine: the
// allocation's size is kept as its size-class index in spare bits of nreloc,
// and a large block (past the classes) keeps its size in the 8 bytes just
// before its header. The innermost saved BP's offset is the same in every
// block (Yield's frame), so it is kept once, in yieldBPOff.
type blockHeader struct {
	size   uint32 // region bytes
	nreloc uint32 // relocation count | class<<relocClassShift | relocWide | relocChain
}

const (
	headerSize      = unsafe.Sizeof(blockHeader{})
	relocWide       = 1 << 31 // nreloc flag: indexes are uint32
	relocChain      = 1 << 30 // nreloc flag: saved BPs are relocated by following their chain
	relocFlags      = relocWide | relocChain
	relocClassShift = 23
	relocClassMask  = 127 << relocClassShift
	relocCountMask  = 1<<relocClassShift - 1
	classLarge      = 127 // class bits of a block past the size classes
	largePrefix     = 8   // a large block's allocation starts this far before its header
)

//go:nosplit
func (h *blockHeader) stack() unsafe.Pointer { return unsafe.Add(unsafe.Pointer(h), headerSize) }

// count is the number of relocations.
func (h *blockHeader) count() uint32 { return h.nreloc & relocCountMask }

// setRelocs records n relocations with flags (relocWide, relocChain),
// keeping the block's class.
func (h *blockHeader) setRelocs(n int, flags uint32) {
	if n > relocCountMask {
		panic(fmt.Sprintf("slice: cannot save a coroutine stack with %d pointers into itself (at most %d)", n, relocCountMask))
	}
	h.nreloc = h.nreloc&relocClassMask | uint32(n) | flags
}

// class is the block's size-class index, or classLarge.
//
//go:nosplit
func (h *blockHeader) class() uint32 { return h.nreloc & relocClassMask >> relocClassShift }

// capacity is the bytes allocated for the block, header included. It is
// nosplit for suspend (see gword).
//
//go:nosplit
func (h *blockHeader) capacity() uintptr {
	i := h.class()
	if i == classLarge {
		return uintptr(*(*uint64)(unsafe.Add(unsafe.Pointer(h), -largePrefix)))
	}
	return uintptr(sizeClasses[i])
}

// payloadLen is the bytes of a block's region and relocation table, from its
// size and nreloc fields (also those of a packedHeader).
func payloadLen(size, nreloc uint32) uintptr {
	width := uintptr(2)
	if nreloc&relocWide != 0 {
		width = 4
	}
	return uintptr(size) + width*uintptr(nreloc&relocCountMask)
}

// relocs returns the relocation table, or nil if it is empty: an empty
// table may start exactly at the end of the allocation, and a pointer one
// past an object points at its neighbour, which the GC would then see (Go
// forbids such pointers for that reason).
func (h *blockHeader) relocs() unsafe.Pointer {
	if h.count() == 0 {
		return nil
	}
	return unsafe.Add(h.stack(), h.size)
}

// header is nosplit: reattachDefers calls it before the stack may move.
//
//go:nosplit
func (c *Coroutine) header() *blockHeader { return (*blockHeader)(c.blk) }

// blockFor returns c's block with room for a region of size bytes (the
// relocation table is placed by saveScan, which grows the block if needed).
func (c *Coroutine) blockFor(size uintptr) *blockHeader {
	if size > 1<<31 {
		panic(fmt.Sprintf("slice: coroutine stack region of %d bytes is too large to save", size))
	}
	need := headerSize + size // placeRelocs grows it if relocations do not fit
	if h := c.header(); h != nil && h.capacity() >= need {
		h.size = uint32(size)
		return h
	}
	h := allocBlock(need)
	c.setBlock(h)
	h.size = uint32(size)
	return h
}

// setBlock installs h as c's block, returning the old one to its pool.
func (c *Coroutine) setBlock(h *blockHeader) {
	if old := c.header(); old != nil {
		freeBlock(old)
	}
	c.blk = unsafe.Pointer(h)
}

// saveScan classifies the region copy's words with the stackmap plan, writes
// the relocation table after the region and fills the shadow.
// stackLo and stackHi are the carrier stack's bounds when the copy was taken.
func (c *Coroutine) saveScan(h *blockHeader, region []byte, lo, pc, stackLo, stackHi uintptr, ds *deferState) {
	old := c.flags & flagHintMask >> flagHintShift
	plan, hint, err := stackmap.LookupHint(region, lo, pc, old)
	if err != nil {
		if inCgo() { // the plan met the callback's frames
			yieldInCgo()
		}
		panic("slice: cannot yield here: " + err.Error())
	}
	// A coroutine that parks at two places in turn (a handler waiting to
	// read, then to write) finds the other place's plan at its hint every
	// time: once the cache has found the plan, it can still take the
	// quick path. Its first save (no hint yet) sizes the block and shadow
	// below.
	quick := ds == nil && old != 0 && hint != old
	c.flags = c.flags&^flagHintMask | hint<<flagHintShift
	if quick && c.saveQuick(plan, h, region, lo, stackLo, stackHi) {
		return
	}
	alive := c.alive()
	chain := plan.BPChain(region, lo, uint32(yieldBPOff))
	if ds == nil && c.scanSimple(h, plan, region, lo, stackLo, stackHi, alive, chain) {
		return
	}
	sc := scans.Get().(*stackmap.Scan)
	sc.StackLo, sc.StackHi, sc.ChainBPs, sc.Alive = stackLo, stackHi, chain, alive
	// Heap pointers go straight into the coroutine's shadow array.
	if c.shadow != nil {
		sc.Shadow = unsafe.Slice(c.shadow, c.shadowCap)[:0]
	}
	var roots []uint32
	if ds != nil {
		roots = ds.roots
	}
	err = sc.Run(plan, region, lo, roots)
	if err == nil {
		h = c.placeRelocs(h, sc.Relocs, chain)
		c.adoptShadow(sc.Shadow)
	}
	sc.Shadow = nil
	sc.Release()
	scans.Put(sc)
	if err != nil {
		panic("slice: cannot yield here: " + err.Error())
	}
}

// saveQuick classifies the region's words in one pass (stackmap's Quick)
// straight into the room the block and the shadow already have, and
// reports whether it could: the path of a coroutine that yields where it
// yielded before, when plan is the one its hint names (see hinted), or
// the one saveScan found. A nil plan reports false.
//
//go:nocheckptr
func (c *Coroutine) saveQuick(plan *stackmap.Plan, h *blockHeader, region []byte, lo, stackLo, stackHi uintptr) bool {
	if plan == nil {
		return false
	}
	var q stackmap.QuickScan // (field by field: a literal is built aside and copied)
	q.Lo, q.StackLo, q.StackHi, q.Alive, q.First = lo, stackLo, stackHi, c.alive(), uint32(yieldBPOff)
	// The room after the region, as uint16s, and the shadow's capacity;
	// sliced from array pointers rather than by unsafe.Slice, whose
	// overflow checks cost more than the rest of this setup. Never a
	// pointer past the block (see relocs): an empty room stays nil.
	if room := (h.capacity() - headerSize - uintptr(h.size)) / 2; room > 0 {
		q.Relocs = (*[1 << 30]uint16)(unsafe.Add(h.stack(), h.size))[:room:room]
	}
	if c.shadow != nil {
		q.Shadow = (*[1 << 28]unsafe.Pointer)(unsafe.Pointer(c.shadow))[:c.shadowCap:c.shadowCap]
	}
	ok, err := plan.Quick(region, &q)
	if !ok {
		if err != nil {
			quickFailed(err)
		}
		return false
	}
	// Quick wrote fewer relocations than the region has words: fewer
	// than relocCountMask.
	h.nreloc = h.nreloc&relocClassMask | uint32(q.NReloc) | relocChain
	c.nshadow = uint32(q.NShadow)
	return true
}

// hinted returns the plan c's hint names if it may be region's (see
// stackmap.Hinted), or nil.
func (c *Coroutine) hinted(region []byte, pc uintptr) *stackmap.Plan {
	return stackmap.Hinted(region, pc, c.flags&flagHintMask>>flagHintShift)
}

func quickFailed(err error) { panic("slice: cannot yield here: " + err.Error()) }

// scanSimple classifies the region's words with stackmap's ScanSimple,
// straight into the block and the shadow, when the plan has no stack objects
// and the block has room for the worst case; it reports whether it did.
// alive names what c keeps alive itself, so its block needs no shadow entry
// for it: c and its function's closure. (A block lives only as long as its
// Coroutine.)
func (c *Coroutine) alive() stackmap.Alive {
	return stackmap.Alive{uintptr(unsafe.Pointer(c)), uintptr(*(*unsafe.Pointer)(unsafe.Pointer(&c.fn)))}
}

func (c *Coroutine) scanSimple(h *blockHeader, plan *stackmap.Plan, region []byte, lo, stackLo, stackHi uintptr, alive stackmap.Alive, chain bool) bool {
	if len(plan.Objects) != 0 || h.size/8 > 1<<16-1 {
		return false
	}
	heap, nrel := plan.Count(region, lo, stackLo, stackHi, alive)
	if !chain {
		nrel += len(plan.BPs)
	}
	if h.capacity() < headerSize+uintptr(h.size)+2*uintptr(nrel) {
		return false
	}
	if heap > int(c.shadowCap) {
		c.growShadow(heap, nil)
	}
	var relocs []uint16
	if nrel > 0 { // never form a pointer past the block (see relocs)
		relocs = unsafe.Slice((*uint16)(unsafe.Add(h.stack(), h.size)), nrel)
	}
	var shadow []unsafe.Pointer
	if c.shadow != nil {
		shadow = unsafe.Slice(c.shadow, c.shadowCap)
	}
	nreloc, nshadow, err := plan.ScanSimple(region, lo, stackLo, stackHi, alive, chain, relocs, shadow)
	if err != nil {
		panic("slice: cannot yield here: " + err.Error())
	}
	h.setRelocs(nreloc, chainFlag(chain))
	c.nshadow = uint32(nshadow)
	return true
}

// placeRelocs writes the relocation table after the region, moving the block
// to a larger one if it does not fit.
func (c *Coroutine) placeRelocs(h *blockHeader, relocs []uint32, chain bool) *blockHeader {
	width, wide := uintptr(2), uint32(0)
	if h.size/8 > 1<<16-1 {
		width, wide = 4, relocWide
	}
	if need := headerSize + uintptr(h.size) + width*uintptr(len(relocs)); need > h.capacity() {
		nh := allocBlock(need)
		nh.size = h.size
		copy(unsafe.Slice((*byte)(nh.stack()), h.size), unsafe.Slice((*byte)(h.stack()), h.size))
		c.setBlock(nh)
		h = nh
	}
	h.setRelocs(len(relocs), wide|chainFlag(chain))
	if len(relocs) == 0 {
		return h
	}
	if width == 2 {
		dst := unsafe.Slice((*uint16)(h.relocs()), len(relocs))
		for i, r := range relocs {
			dst[i] = uint16(r)
		}
	} else {
		copy(unsafe.Slice((*uint32)(h.relocs()), len(relocs)), relocs)
	}
	return h
}

func chainFlag(chain bool) uint32 {
	if chain {
		return relocChain
	}
	return 0
}

// adoptShadow makes ptrs (filled by the scan, in c's shadow array unless it
// outgrew it) the coroutine's pointer shadow.
func (c *Coroutine) adoptShadow(ptrs []unsafe.Pointer) {
	if len(ptrs) > 0 && (c.shadow == nil || unsafe.SliceData(ptrs) != c.shadow) {
		// The scan appended past the old array: move to a pooled one
		// of the right class.
		c.growShadow(len(ptrs), ptrs)
	}
	c.nshadow = uint32(len(ptrs))
}

// growShadow gives c a pooled shadow array with room for n entries, holding
// keep (the live entries, wherever they are) at its start. keep and the old
// array are cleared (write-barriered) before the old array goes back to its
// pool, so a pooled array never keeps objects alive.
func (c *Coroutine) growShadow(n int, keep []unsafe.Pointer) {
	p, cp := allocShadow(n)
	copy(unsafe.Slice(p, cp), keep)
	clear(keep)
	if c.shadow != nil {
		clear(unsafe.Slice(c.shadow, c.shadowCap))
		freeShadow(c.shadow, c.shadowCap)
	}
	c.shadow, c.shadowCap = p, cp
}

// clearShadow drops the shadow's references once the region is back on the
// stack (the clear is write-barriered, so a GC in progress still sees them).
func (c *Coroutine) clearShadow() {
	if n := c.nshadow; n > 0 {
		if n <= 8 {
			// A few barriered stores cost less than clear's call into
			// memclrHasPointers (which a range loop storing nil would
			// compile to).
			for i := uintptr(0); i < uintptr(n); i++ {
				*(*unsafe.Pointer)(unsafe.Add(unsafe.Pointer(c.shadow), i*8)) = nil
			}
		} else {
			clear(unsafe.Slice(c.shadow, n))
		}
		c.nshadow = 0
	}
}

// release returns a finished coroutine's block and shadow to their pools.
func (c *Coroutine) release() {
	if c.flags&flagPacked != 0 { // a coroutine abandoned by Goexit while packed cannot be; be safe
		c.unpack()
	}
	if c.shadow != nil {
		clear(unsafe.Slice(c.shadow, c.nshadow))
		freeShadow(c.shadow, c.shadowCap)
		c.shadow, c.nshadow, c.shadowCap = nil, 0, 0
	}
	if h := c.header(); h != nil {
		freeBlock(h)
		c.blk = nil
	}
	if c.ext != nil {
		c.ext.defers = nil
	}
}

func (c *Coroutine) savedSize() int {
	h := c.header()
	if h == nil || c.flags&flagSaved == 0 {
		return 0
	}
	if c.flags&flagPacked != 0 {
		return c.packedSize() + 8*int(c.shadowCap)
	}
	return int(h.capacity()) + 8*int(c.shadowCap)
}

// Size-class pools. The classes are the Go allocator's own up to 32 KiB (so
// a pooled block wastes nothing the allocator would not), then multiples of
// 8 KiB, which are not pooled.
var sizeClasses = [...]uint32{
	8, 16, 24, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 224, 240, 256,
	288, 320, 352, 384, 416, 448, 480, 512, 576, 640, 704, 768, 896, 1024, 1152, 1280,
	1408, 1536, 1792, 2048, 2304, 2688, 3072, 3200, 3456, 4096, 4864, 5376, 6144, 6528,
	6784, 6912, 8192, 9472, 9728, 10240, 10880, 12288, 13568, 14336, 16384, 18432,
	19072, 20480, 21760, 24576, 27264, 28672, 32768,
}

// smallClasses[(n+7)/8] is sizeClass(n) for n up to smallClassMax.
var smallClasses [smallClassMax/8 + 1]uint8

const smallClassMax = 1024

func init() {
	for i := range smallClasses {
		smallClasses[i] = uint8(sizeClassSearch(uintptr(i) * 8))
	}
}

// sizeClass returns the index of the smallest class holding n bytes, or -1.
func sizeClass(n uintptr) int {
	if n <= smallClassMax {
		return int(smallClasses[(n+7)/8])
	}
	return sizeClassSearch(n)
}

func sizeClassSearch(n uintptr) int {
	lo, hi := 0, len(sizeClasses)
	for lo < hi {
		m := (lo + hi) / 2
		if uintptr(sizeClasses[m]) < n {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo == len(sizeClasses) {
		return -1
	}
	return lo
}

func blockClassSize(n uintptr) uintptr {
	if i := sizeClass(n); i >= 0 {
		return uintptr(sizeClasses[i])
	}
	return (n + 8191) &^ 8191
}

var blockPools, shadowPools [len(sizeClasses)]sync.Pool

// scans holds scratch space for saves (see stackmap.Scan).
var scans = sync.Pool{New: func() any { return new(stackmap.Scan) }}

// allocBlock returns a block with room for n bytes, header included, from
// its class's pool or new.
func allocBlock(n uintptr) *blockHeader {
	if i := sizeClass(n); i >= 0 {
		h := (*blockHeader)(allocClass(i))
		*h = blockHeader{nreloc: uint32(i) << relocClassShift}
		return h
	}
	// Large: the allocation's size goes in a prefix.
	size := blockClassSize(n)
	p := unsafe.Pointer(unsafe.SliceData(make([]byte, largePrefix+size)))
	*(*uint64)(p) = uint64(size)
	h := (*blockHeader)(unsafe.Add(p, largePrefix))
	*h = blockHeader{nreloc: classLarge << relocClassShift}
	return h
}

// allocClass returns a noscan allocation of sizeClasses[i] bytes from the
// class's pool (shared by blocks and packed blocks), or new.
func allocClass(i int) unsafe.Pointer {
	p, _ := blockPools[i].Get().(unsafe.Pointer)
	if p == nil {
		p = unsafe.Pointer(unsafe.SliceData(make([]byte, sizeClasses[i])))
	}
	return p
}

// freeBlock returns h to its class's pool (a large block is left to the GC).
func freeBlock(h *blockHeader) {
	if i := h.class(); i != classLarge {
		blockPools[i].Put(unsafe.Pointer(h))
	}
}

func allocShadow(n int) (*unsafe.Pointer, uint32) {
	size := blockClassSize(uintptr(n) * 8)
	if i := sizeClass(size); i >= 0 {
		if p, _ := shadowPools[i].Get().(*unsafe.Pointer); p != nil {
			return p, uint32(size / 8)
		}
	}
	s := make([]unsafe.Pointer, size/8)
	return &s[0], uint32(size / 8)
}

func freeShadow(p *unsafe.Pointer, capacity uint32) {
	if i := sizeClass(uintptr(capacity) * 8); i >= 0 && sizeClasses[i] == capacity*8 {
		shadowPools[i].Put(p)
	}
}

func (c *Coroutine) savedCallers() []uintptr {
	if c.flags&flagPacked != 0 {
		return c.packedCallers()
	}
	h := c.header()
	if h == nil || c.flags&flagSaved == 0 {
		return nil
	}
	// The walk ends at the coroutine's function: its return address (into
	// the carrier) lies just above the region and is not in the block.
	pcs := stackmap.ReturnPCs(unsafe.Slice((*byte)(h.stack()), h.size), resumePC)
	return pcs
}
