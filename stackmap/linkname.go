package stackmap

import _ "unsafe" // for go:linkname

// The runtime functions below are the only ones of interest that a plain
// `go build` lets us link to (they are on the runtime's "hall of shame"
// list, so their signatures are frozen). runtime.funcInfo is
// struct{*_func; *moduledata}, which has Func's layout.

// findfunc looks up the function containing pc.
//
//go:linkname findfunc runtime.findfunc
func findfunc(pc uintptr) Func

// funcInfoEntry resolves the entry pc through the text section map.
//
//go:linkname funcInfoEntry runtime.funcInfo.entry
func funcInfoEntry(f Func) uintptr

// funcline1 returns the file and line of targetpc; with strict false it
// returns "?", 0 instead of throwing on a malformed table.
//
//go:linkname funcline1 runtime.funcline1
func funcline1(f Func, targetpc uintptr, strict bool) (file string, line int32)
