//go:build go1.26 && !go1.27

package stackmap

// layoutSupported: the runtime's moduledata layout of this Go version is known.
const layoutSupported = true

// Byte offsets of runtime.moduledata fields in go1.26 (runtime/symtab.go),
// counted by hand on 64-bit targets (pointer and uintptr 8 bytes, slices 24)
// and checked at run time by SelfCheck and the tests.
const (
	mdPCHeader    = 0   // *pcHeader
	mdFuncnametab = 8   // []byte
	mdCutab       = 32  // []uint32
	mdFiletab     = 56  // []byte
	mdPctab       = 80  // []byte
	mdPclntable   = 104 // []byte
	mdFtab        = 128 // []functab
	mdFindfunctab = 152 // uintptr
	mdMinpc       = 160
	mdMaxpc       = 168
	mdText        = 176 // text, etext
	mdEtext       = 184
	mdNoptrdata   = 192 // noptrdata, enoptrdata
	mdEnoptrdata  = 200
	mdData        = 208 // data, edata
	mdEdata       = 216
	mdBss         = 224 // bss, ebss
	mdEbss        = 232
	mdNoptrbss    = 240 // noptrbss, enoptrbss
	mdEnoptrbss   = 248
	// covctrs 256, ecovctrs 264, end 272, gcdata 280, gcbss 288
	mdTypes       = 296 // types, etypes
	mdEtypes      = 304
	mdRodata      = 312
	mdGofunc      = 320 // go:func.* (funcdata lives here)
	mdEpclntab    = 328
	mdTextsectmap = 336 // []textsect
)
