//go:build go1.27 && !go1.28

package stackmap

// layoutSupported: the runtime's moduledata layout of this Go version is known.
const layoutSupported = true

// Byte offsets of runtime.moduledata fields in go1.27 (runtime/symtab.go),
// counted by hand on 64-bit targets (pointer and uintptr 8 bytes, slices 24)
// and checked at run time by SelfCheck and the tests.
//
// Differences from go1.26: "types, typedesclen, etypes" (typedesclen is new)
// and the new "itaboffset, itabsize" push rodata, gofunc, epclntab and
// textsectmap down by 24 bytes; typelinks and itablinks are gone.
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
	mdTypes = 296 // types, typedesclen, etypes
	// typedesclen 304
	mdEtypes = 312
	// itaboffset 320, itabsize 328
	mdRodata      = 336
	mdGofunc      = 344 // go:func.* (funcdata lives here)
	mdEpclntab    = 352
	mdTextsectmap = 360 // []textsect
)
