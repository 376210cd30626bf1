//go:build !go1.26 || go1.28

package stackmap

// This Go version's runtime layout is unknown: Supported is false and the
// engine must fall back. The offsets below only keep the package compiling;
// they are the go1.26 values and must not be trusted.
const layoutSupported = false

const (
	mdPCHeader    = 0
	mdFuncnametab = 8
	mdCutab       = 32
	mdFiletab     = 56
	mdPctab       = 80
	mdPclntable   = 104
	mdFtab        = 128
	mdFindfunctab = 152
	mdMinpc       = 160
	mdMaxpc       = 168
	mdText        = 176
	mdEtext       = 184
	mdNoptrdata   = 192
	mdEnoptrdata  = 200
	mdData        = 208
	mdEdata       = 216
	mdBss         = 224
	mdEbss        = 232
	mdNoptrbss    = 240
	mdEnoptrbss   = 248
	mdTypes       = 296
	mdEtypes      = 304
	mdRodata      = 312
	mdGofunc      = 320
	mdEpclntab    = 328
	mdTextsectmap = 336
)
