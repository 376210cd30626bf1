package stackmap

import "unsafe"

// Access to runtime.moduledata fields, by the byte offsets of the layout_*.go
// file selected for this Go version. moduledata is static, never moves and is
// never freed, so holding it in an unsafe.Pointer is fine.

// mdWord reads the uintptr field at byte offset off of f's moduledata.
func (f Func) mdWord(off uintptr) uintptr {
	return *(*uintptr)(unsafe.Add(f.datap, off))
}

// mdBytes reads the []byte field at byte offset off of f's moduledata.
func (f Func) mdBytes(off uintptr) []byte {
	return *(*[]byte)(unsafe.Add(f.datap, off))
}

// mdSliceLen returns the length of the slice field at byte offset off.
func (f Func) mdSliceLen(off uintptr) int {
	return *(*int)(unsafe.Add(f.datap, off+ptrSize))
}

// pctab returns moduledata.pctab, the pool of all pc-value tables.
func (f Func) pctab() []byte { return f.mdBytes(mdPctab) }

// mdPtr reads the uintptr field at byte offset off of f's moduledata as a
// pointer. Use it for addresses of static data (gofunc, rodata), which are
// outside the Go heap, so the GC ignores them.
func (f Func) mdPtr(off uintptr) unsafe.Pointer {
	return *(*unsafe.Pointer)(unsafe.Add(f.datap, off))
}

// load32 reads a little-endian uint32 that may be unaligned.
func load32(p unsafe.Pointer) uint32 {
	b := (*[4]byte)(p)
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

// loadUintptr reads a little-endian pointer-sized word that may be unaligned.
func loadUintptr(p unsafe.Pointer) uintptr {
	if ptrSize == 4 {
		return uintptr(load32(p))
	}
	return uintptr(uint64(load32(p)) | uint64(load32(unsafe.Add(p, 4)))<<32)
}
