//go:build amd64 && !race && !purego

package slice

import (
	"slices"
	"sync"
	"sync/atomic"
	"unsafe"
	_ "unsafe" // go:linkname

	"github.com/stackslice/stackslice/stackmap"
)

// Packed blocks. A packed coroutine's c.blk points at one of
//
//	s2, zstd:           packedHeader | packed bytes (clen)
//	template:           templateHeader | diff bytes (clen)
//	template, no diff:  the template itself (flagBare)
//
// The first two are one noscan allocation, taken from the blocks' size-class
// pools (a packed block past the classes is left to the GC); the mode is in
// c.flags. A template-mode block's pointer words hold tokens (see swizzle),
// and its size and relocation count are the template's. Unpacking makes an
// ordinary block again; it happens in resumeSlice, before the switch.
type packedHeader struct {
	size   uint32 // region bytes, as blockHeader.size
	nreloc uint32 // as blockHeader.nreloc, without the class bits
	clen   uint16 // packed bytes
	class  uint8  // the packed allocation's class, or classLarge (not pooled)
}

// templateHeader starts a template-mode packed block. Its diff starts right
// after class, at templateHeaderSize, not at the struct's padded size: the
// few bytes matter when a diff is a dozen bytes.
type templateHeader struct {
	// t is the template's address. The block is noscan, so the GC does
	// not see it: the registry keeps t alive while it has users. (Not a
	// typed pointer: a write barrier would read the pooled block's old
	// bytes at this place as a pointer.)
	t     uintptr
	clen  uint16
	class uint8
}

const (
	packedHeaderSize   = unsafe.Sizeof(packedHeader{})
	templateHeaderSize = unsafe.Offsetof(templateHeader{}.class) + 1
)

// payload returns the block's region and relocation table as one slice.
func (h *blockHeader) payload() []byte {
	return unsafe.Slice((*byte)(h.stack()), payloadLen(h.size, h.nreloc))
}

func (c *Coroutine) packedHeader() *packedHeader { return (*packedHeader)(c.blk) }

func (c *Coroutine) packedMode() Compression {
	return Compression(c.flags & flagModeMask >> flagModeShift)
}

// packed returns the packed bytes after ph.
func (ph *packedHeader) packed() []byte {
	return unsafe.Slice((*byte)(unsafe.Add(unsafe.Pointer(ph), packedHeaderSize)), ph.clen)
}

// templatePacked returns a template-mode packed coroutine's template and
// diff, and its packed allocation (nil if bare).
func (c *Coroutine) templatePacked() (t *template, diff []byte, th *templateHeader) {
	if c.flags&flagBare != 0 {
		return (*template)(c.blk), nil, nil
	}
	th = (*templateHeader)(c.blk)
	return *(**template)(unsafe.Pointer(&th.t)), unsafe.Slice((*byte)(unsafe.Add(c.blk, templateHeaderSize)), th.clen), th
}

// packedBytes is what c's packed block holds, for the stats.
func (c *Coroutine) packedBytes() int64 {
	if c.packedMode() != CompressTemplate {
		return int64(packedHeaderSize) + int64(c.packedHeader().clen)
	}
	if _, diff, th := c.templatePacked(); th != nil {
		return int64(templateHeaderSize) + int64(len(diff))
	}
	return 0
}

// pack packs c's block in mode m. The caller owns c (running, or busy for
// Compress). It reports whether the block was packed: a block that does
// not shrink is left as it is.
func (c *Coroutine) pack(m Compression) bool {
	if c.flags&(flagSaved|flagPacked) != flagSaved || m == CompressNone {
		return false
	}
	start := sampleStart(&stats.packs)
	h := c.header()
	// unpack allocates the smallest block that holds the payload: count
	// its capacity, which is what unpack takes off again.
	ucap := blockClassSize(headerSize + payloadLen(h.size, h.nreloc))
	var blk unsafe.Pointer
	flags := flagPacked | uint32(m)<<flagModeShift
	if m == CompressTemplate {
		var bare bool
		if blk, bare = c.packTemplate(h); bare {
			flags |= flagBare
		}
	} else if ph := packScratch(m, h.payload()); ph != nil {
		ph.size = h.size
		ph.nreloc = h.nreloc &^ relocClassMask
		blk = unsafe.Pointer(ph)
	}
	if blk == nil {
		return false
	}
	c.blk = blk
	freeBlock(h)
	c.flags = c.flags&^(flagModeMask|flagBare) | flags

	stats.packed.Add(1)
	stats.packedBytes.Add(c.packedBytes())
	stats.unpackedBytes.Add(int64(ucap))
	sampleEnd(&stats.packNanos, start)
	return true
}

// packTemplate swizzles h's pointer words and encodes h against the
// template for its place: it returns the new packed block, or the template
// itself (bare) when nothing differs, or nil (with h as it was) if h cannot
// be packed this way or would not shrink.
func (c *Coroutine) packTemplate(h *blockHeader) (blk unsafe.Pointer, bare bool) {
	region := unsafe.Slice((*byte)(h.stack()), h.size)
	// The region's words may be offsets now, but its return addresses
	// are intact, and they are all the plan lookup reads. lo only scales
	// addresses inside a newly built plan.
	plan, err := stackmap.Lookup(region, 0, resumePC)
	if err != nil {
		return nil, false
	}
	shadow := c.liveShadow()
	if !swizzle(region, plan.Slots, shadow, c.alive()) {
		return nil, false
	}
	raw := h.payload()
	t, equal := templates.acquire(templateKey{plan, len(raw), h.nreloc &^ relocClassMask}, raw)
	if equal {
		return unsafe.Pointer(t), true
	}
	if blk = packSparse(raw, t); blk == nil {
		templates.release(t, 0, 0)
		unswizzle(region, shadow, c.alive())
		return nil, false
	}
	return blk, blk == unsafe.Pointer(t)
}

// liveShadow returns the shadow's live entries.
func (c *Coroutine) liveShadow() []unsafe.Pointer {
	if c.shadow == nil {
		return nil
	}
	return unsafe.Slice(c.shadow, c.nshadow)
}

// sparseStackMax is the largest template encoding packSparse builds on its
// stack rather than in a pooled scratch buffer.
const sparseStackMax = 512

// packSparse returns a new template-mode packed block holding raw's
// encoding against t, or t itself if raw equals its data, or nil if the
// encoding would not shrink raw.
func packSparse(raw []byte, t *template) unsafe.Pointer {
	if len(t.data) != len(raw) {
		panic("slice: internal error: template and block differ in length")
	}
	var enc []byte
	if n := sparseMaxLen(len(raw)); n > sparseStackMax {
		sc := codecScratches.Get().(*codecScratch)
		defer codecScratches.Put(sc)
		enc = encodeSparse(sc.out(n)[:0], raw, t.data)
	} else {
		var buf [sparseStackMax]byte
		enc = encodeSparse(buf[:0], raw, t.data)
	}
	if len(enc) == 0 {
		return unsafe.Pointer(t)
	}
	p, cls := newPacked(enc, len(raw), templateHeaderSize)
	if p != nil {
		th := (*templateHeader)(p)
		th.t, th.clen, th.class = uintptr(unsafe.Pointer(t)), uint16(len(enc)), cls
	}
	return p
}

// packScratch packs raw on its own in mode m (s2 or zstd), or returns nil if
// that would not shrink it (header fields other than clen and class are
// left for the caller).
func packScratch(m Compression, raw []byte) *packedHeader {
	sc := codecScratches.Get().(*codecScratch)
	defer codecScratches.Put(sc)
	enc := encodeBlock(sc, m, raw, nil)
	p, cls := newPacked(enc, len(raw), packedHeaderSize)
	if p == nil {
		return nil
	}
	ph := (*packedHeader)(p)
	*ph = packedHeader{clen: uint16(len(enc)), class: cls}
	return ph
}

// newPacked allocates a packed block of a hdr-byte header and enc, copies
// enc after the header and returns the block and its class; or nil if enc
// is not smaller than the n bytes it packs (or too long for clen). The
// allocation is at least 16 bytes, so a header struct fits whole.
func newPacked(enc []byte, n int, hdr uintptr) (unsafe.Pointer, uint8) {
	if len(enc) >= n || len(enc) > 1<<16-1 {
		return nil, 0
	}
	size := max(hdr+uintptr(len(enc)), 16)
	var p unsafe.Pointer
	cls := uint8(classLarge)
	if i := sizeClass(size); i >= 0 {
		p, cls = allocClass(i), uint8(i)
	} else {
		p = unsafe.Pointer(unsafe.SliceData(make([]byte, size)))
	}
	copy(unsafe.Slice((*byte)(unsafe.Add(p, hdr)), len(enc)), enc)
	return p, cls
}

// freePacked returns a packed allocation of class cls to its class's pool.
func freePacked(p unsafe.Pointer, cls uint8) {
	if cls != classLarge {
		blockPools[cls].Put(p)
	}
}

// unpack turns c's packed block back into an ordinary one.
func (c *Coroutine) unpack() {
	start := sampleStart(&stats.unpacks)
	packedBytes := c.packedBytes()
	var h *blockHeader
	if c.packedMode() == CompressTemplate {
		h = c.unpackTemplate(packedBytes)
	} else {
		ph := c.packedHeader()
		h = allocBlock(headerSize + payloadLen(ph.size, ph.nreloc))
		h.size = ph.size
		h.setRelocs(int(ph.nreloc&relocCountMask), ph.nreloc&relocFlags)
		if err := decodeBlock(h.payload(), c.packedMode(), ph.packed(), nil); err != nil {
			panic("slice: internal error: cannot unpack a suspended coroutine: " + err.Error())
		}
		freePacked(unsafe.Pointer(ph), ph.class)
		stats.packed.Add(-1)
		stats.packedBytes.Add(-packedBytes)
		stats.unpackedBytes.Add(-int64(h.capacity()))
	}
	c.blk = unsafe.Pointer(h)
	c.flags &^= flagPacked | flagModeMask | flagBare
	sampleEnd(&stats.unpackNanos, start)
}

// unpackTemplate rebuilds a template-mode packed block from its template,
// diff and shadow, and drops its use of the template.
func (c *Coroutine) unpackTemplate(packedBytes int64) *blockHeader {
	t, diff, th := c.templatePacked()
	h := allocBlock(headerSize + uintptr(len(t.data)))
	h.size = t.regionSize()
	h.setRelocs(int(t.key.nreloc&relocCountMask), t.key.nreloc&relocFlags)
	if err := decodeSparse(h.payload(), diff, t.data); err != nil {
		panic("slice: internal error: cannot unpack a suspended coroutine: " + err.Error())
	}
	unswizzle(unsafe.Slice((*byte)(h.stack()), h.size), c.liveShadow(), c.alive())
	if th != nil {
		freePacked(unsafe.Pointer(th), th.class)
	}
	// The registry's lock is taken anyway: count the unpack there
	// rather than with three more atomic operations.
	templates.release(t, packedBytes, int64(h.capacity()))
	return h
}

// packedCallers walks a packed block's frames from a temporary unpacked copy.
func (c *Coroutine) packedCallers() []uintptr {
	var raw []byte
	var err error
	var size uint32
	if c.packedMode() == CompressTemplate {
		t, diff, _ := c.templatePacked()
		raw, size = make([]byte, len(t.data)), t.regionSize()
		err = decodeSparse(raw, diff, t.data)
	} else {
		ph := c.packedHeader()
		raw, size = make([]byte, payloadLen(ph.size, ph.nreloc)), ph.size
		err = decodeBlock(raw, c.packedMode(), ph.packed(), nil)
	}
	if err != nil {
		return nil
	}
	return stackmap.ReturnPCs(raw[:size], resumePC)
}

// packedSize is the bytes c's packed block takes (none if bare).
func (c *Coroutine) packedSize() int {
	if n := c.packedBytes(); n > 0 {
		return int(blockClassSize(max(uintptr(n), 16)))
	}
	return 0
}

// Templates: the first payloads saved at a given place (same stack-map
// plan, that is same chain of return PCs and region length, and same
// relocation count and flags, hence same payload length), swizzled, shared
// by every block packed against them.
//
// A place has up to maxVariants templates, chained by variant: a block
// equal to none of them becomes a new one while there is room (an unused
// one makes room), and is packed against the first otherwise. Coroutines parked at one place
// often come in a few kinds whose bytes differ in a word or two (say, a
// dead pointer to the carrier that last ran them, one per carrier): each
// kind then packs to nothing.
type template struct {
	data  []byte
	key   templateKey
	users int // under templates.mu
	// prev and next link the registry's idle list while users is 0
	// (under templates.mu).
	prev, next *template
	// variant is the place's next template (under templates.mu).
	variant *template
}

// regionSize is the region bytes of the blocks packed against t: its
// payload less the relocation table.
func (t *template) regionSize() uint32 {
	return uint32(len(t.data)) - uint32(payloadLen(0, t.key.nreloc))
}

type templateKey struct {
	plan   *stackmap.Plan
	n      int    // payload bytes
	nreloc uint32 // as blockHeader.nreloc, without the class bits
}

var templates = templateRegistry{m: map[templateKey]*template{}}

type templateRegistry struct {
	mu sync.Mutex
	m  map[templateKey]*template
	// The idle list holds templates without users, oldest first: they
	// are kept for reuse (a coroutine packed at every yield would
	// otherwise make a template at each pack), at most maxIdleTemplates
	// of them. It is doubly linked, so a template leaves it in constant
	// time when it is used again.
	idleHead, idleTail *template
	nidle              int
	// count is the number of templates (in m and their variants);
	// those in use are the ones not idle. users counts the users of all
	// templates: TemplateUsers. (Counted under mu rather than in stats,
	// saving atomic operations on every pack and unpack.)
	count, users int
	// unpacked counts the template-mode unpacks, and the packed and
	// unpacked bytes they took off: ReadCompressionStats subtracts them
	// from stats' packed, packedBytes and unpackedBytes.
	unpacked, unpackedPacked, unpackedUnpacked int64
	// recent caches m's entries by plan, so that a coroutine packed
	// again at the same place usually finds its templates without
	// hashing the key. An entry follows its place's first template.
	recent [64]*template
}

func recentSlot(key templateKey) int { return int(uintptr(unsafe.Pointer(key.plan)) >> 4 & 63) }

const maxIdleTemplates = 64

// acquire returns a template for key and raw (a swizzled payload saved at
// key's place), and whether raw equals it: one of the place's templates
// that raw equals, else a new one made of raw if the place has room, else
// its first.
func (r *templateRegistry) acquire(key templateKey, raw []byte) (t *template, equal bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	slot := &r.recent[recentSlot(key)]
	first := *slot
	if first == nil || first.key != key {
		if first = r.m[key]; first != nil {
			*slot = first
		}
	}
	n := 0
	var unused *template
	for v := first; v != nil; v = v.variant {
		if string(v.data) == string(raw) {
			t, equal = v, true
			break
		}
		if v.users == 0 {
			unused = v
		}
		n++
	}
	if t == nil && n == maxVariants && unused != nil {
		// Make room: an unused template is worth less than a new kind.
		r.unlinkIdle(unused)
		r.drop(unused)
		n--
		if unused == first {
			first = r.m[key]
		}
	}
	if t == nil && n < maxVariants {
		last := first
		for last != nil && last.variant != nil {
			last = last.variant
		}
		t, equal = &template{data: slices.Clone(raw), key: key}, true
		if last == nil {
			r.m[key] = t
			*slot = t
		} else {
			last.variant = t
		}
		r.count++
		stats.templateBytes.Add(int64(len(t.data)))
	} else {
		if t == nil {
			t = first
		}
		if t.users == 0 {
			r.unlinkIdle(t)
		}
	}
	t.users++
	r.users++
	return t, equal
}

// release drops one user of t, and t itself with its last user. If the user
// was a packed block now unpacked, packedBytes and unpackedBytes are its
// figures, counted off here (else zero).
func (r *templateRegistry) release(t *template, packedBytes, unpackedBytes int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.users--
	if unpackedBytes != 0 {
		r.unpacked++
		r.unpackedPacked += packedBytes
		r.unpackedUnpacked += unpackedBytes
	}
	if t.users--; t.users > 0 {
		return
	}
	// Append t to the idle list.
	t.prev, t.next = r.idleTail, nil
	if r.idleTail != nil {
		r.idleTail.next = t
	} else {
		r.idleHead = t
	}
	r.idleTail = t
	r.nidle++
	if r.nidle > maxIdleTemplates {
		old := r.idleHead
		r.unlinkIdle(old)
		r.drop(old)
	}
}

// drop takes the unused template t out of the registry.
func (r *templateRegistry) drop(t *template) {
	if first := r.m[t.key]; first == t {
		if t.variant != nil {
			r.m[t.key] = t.variant
		} else {
			delete(r.m, t.key)
		}
		if slot := &r.recent[recentSlot(t.key)]; *slot == t {
			*slot = t.variant
		}
	} else {
		for v := first; v != nil; v = v.variant {
			if v.variant == t {
				v.variant = t.variant
				break
			}
		}
	}
	t.variant = nil
	r.count--
	stats.templateBytes.Add(-int64(len(t.data)))
}

// templateCounts returns the templates in use and their users, and the
// template-mode unpacks' share of the packed counters, for
// ReadCompressionStats.
func templateCounts() (inUse, users, unpacked, packedBytes, unpackedBytes int64) {
	r := &templates
	r.mu.Lock()
	defer r.mu.Unlock()
	return int64(r.count - r.nidle), int64(r.users), r.unpacked, r.unpackedPacked, r.unpackedUnpacked
}

// unlinkIdle takes t off the idle list.
func (r *templateRegistry) unlinkIdle(t *template) {
	if t.prev != nil {
		t.prev.next = t.next
	} else {
		r.idleHead = t.next
	}
	if t.next != nil {
		t.next.prev = t.prev
	} else {
		r.idleTail = t.prev
	}
	t.prev, t.next = nil, nil
	r.nidle--
}

// Pack and unpack times are sampled: reading the clock costs as much as a
// small pack here, so one operation in timeSample is timed and counted
// timeSample times.
const timeSample = 16

// sampleStart counts an operation in n and returns the clock if this one is
// timed, else 0.
func sampleStart(n *atomic.Int64) int64 {
	if n.Add(1)%timeSample != 0 {
		return 0
	}
	return nanotime()
}

func sampleEnd(total *atomic.Int64, start int64) {
	if start != 0 {
		total.Add(timeSample * (nanotime() - start))
	}
}

// nanotime is the runtime's monotonic clock: cheaper than time.Now for
// timing every pack and unpack.
//
//go:linkname nanotime runtime.nanotime
func nanotime() int64
