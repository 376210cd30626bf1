//go:build (amd64 || arm64) && !race && !purego

package slice

import (
	"sync/atomic"
	"unsafe"
	_ "unsafe" // go:linkname

	"github.com/stackslice/stackslice/stackmap"
)

// pack packs c's block in mode m. The caller owns c (running, or busy for
// Compress). It reports whether the block was packed: a block that does
// not shrink is left as it is.
func (c *Coroutine) pack(m Compression) bool {
	if c.flags&(flagSaved|flagPacked) != flagSaved || m == CompressNone {
		return false
	}
	start := sampleClock()
	h := c.header()
	// unpack allocates the smallest block that holds the payload: count
	// its capacity, which is what unpack takes off again.
	ucap := blockClassSize(headerSize + payloadLen(h.size, h.nreloc))
	var blk unsafe.Pointer
	kept := false // h is a template's spare now (see template.spare)
	flags := flagPacked | uint32(m)<<flagModeShift
	if m == CompressTemplate {
		var bare bool
		if blk, bare, kept = c.packTemplate(h, int64(ucap)); bare {
			flags |= flagBare
		}
	} else if ph := packScratch(m, h.payload()); ph != nil {
		ph.size = h.size
		ph.nreloc = h.nreloc &^ relocClassMask
		blk = unsafe.Pointer(ph)
	}
	if blk == nil {
		stats.packs.Add(1)
		return false
	}
	c.blk = blk
	if !kept {
		freeBlock(h)
	}
	c.flags = c.flags&^(flagModeMask|flagBare) | flags
	if flags&flagBare == 0 { // a bare pack was counted by the template registry
		stats.packs.Add(1)
		stats.packed.Add(1)
		stats.packedBytes.Add(c.packedBytes())
		stats.unpackedBytes.Add(int64(ucap))
	}
	sampleEnd(&stats.packNanos, start)
	return true
}

// packTemplate swizzles h's pointer words and encodes h against the
// template for its place: it returns the new packed block, or the template
// itself (bare) when nothing differs, or nil (with h as it was) if h cannot
// be packed this way or would not shrink. A bare pack is counted in the
// stats by the template registry, ucap being the unpacked capacity, and
// may keep h as the template's spare block (kept: the caller must not
// free h).
func (c *Coroutine) packTemplate(h *blockHeader, ucap int64) (blk unsafe.Pointer, bare, kept bool) {
	region := unsafe.Slice((*byte)(h.stack()), h.size)
	// The region's words may be offsets now, but its return addresses
	// are intact, and they are all the plan lookup reads. lo only scales
	// addresses inside a newly built plan.
	// The save just found the plan where c's hint says.
	plan, hint, err := stackmap.LookupHint(region, 0, resumePC, c.flags&flagHintMask>>flagHintShift)
	if err != nil {
		return nil, false, false
	}
	c.flags = c.flags&^flagHintMask | hint<<flagHintShift
	shadow, alive := c.liveShadow(), c.alive()
	raw := h.payload()
	t, equal, swizzled, kept := templates.acquire(templateKey{plan, len(raw), h.nreloc &^ relocClassMask}, raw, len(region), plan.Slots, shadow, alive, ucap, h)
	if t == nil {
		return nil, false, false // a word already looks like a token
	}
	if equal {
		return unsafe.Pointer(t), true, kept
	}
	if blk = packSparse(raw, t); blk == nil {
		templates.release(t, 0, 0, false)
		if swizzled {
			unswizzle(region, shadow, alive)
		}
		return nil, false, false
	}
	return blk, blk == unsafe.Pointer(t), false
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

// unpack turns c's packed block back into an ordinary one.
func (c *Coroutine) unpack() {
	start := sampleClock()
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
		stats.unpacks.Add(1) // (template-mode unpacks are counted by the registry)
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
	n := headerSize + uintptr(len(t.data))
	if th == nil {
		// Bare: the block is the template, whose tokens are listed.
		// The registry's lock is taken anyway: count the unpack there
		// rather than with three more atomic operations, and take the
		// template's spare block (t.data stays t's after the release).
		h := templates.release(t, 0, t.ucap, true)
		if h == nil {
			h = allocBlock(n)
		}
		c.fillFromTemplate(h, t)
		copy(h.payload(), t.data)
		unswizzleAt(unsafe.Slice((*byte)(h.stack()), h.size), t.tokens, c.liveShadow(), c.alive())
		return h
	}
	h := allocBlock(n)
	c.fillFromTemplate(h, t)
	if err := decodeSparse(h.payload(), diff, t.data); err != nil {
		panic("slice: internal error: cannot unpack a suspended coroutine: " + err.Error())
	}
	unswizzle(unsafe.Slice((*byte)(h.stack()), h.size), c.liveShadow(), c.alive())
	freePacked(unsafe.Pointer(th), th.class)
	templates.release(t, packedBytes, int64(h.capacity()), false)
	return h
}

// fillFromTemplate sets the header of h, a block being unpacked from t
// (whose key holds a valid nreloc without the class).
func (c *Coroutine) fillFromTemplate(h *blockHeader, t *template) {
	h.size = t.regionSize()
	h.nreloc = h.nreloc&relocClassMask | t.key.nreloc
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

// Pack and unpack times are sampled: reading the clock costs as much as a
// small pack here, so one operation in timeSample is timed and counted
// timeSample times.
const timeSample = 16

// sampleClock returns the clock for one operation in timeSample, chosen
// at random, else 0. (Not from the operation counts: in template mode those
// are kept under the template registry's lock, and an atomic counter here
// cost a locked instruction per pack and per unpack.)
func sampleClock() int64 {
	if cheaprand()%timeSample != 0 {
		return 0
	}
	return nanotime()
}

// cheaprand is the runtime's fast per-thread random number.
//
//go:linkname cheaprand runtime.cheaprand
func cheaprand() uint32

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
