//go:build (amd64 || arm64) && !race && !purego

package slice

import "unsafe"

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

// packedSize is the bytes c's packed block takes (none if bare).
func (c *Coroutine) packedSize() int {
	if n := c.packedBytes(); n > 0 {
		return int(blockClassSize(max(uintptr(n), 16)))
	}
	return 0
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
