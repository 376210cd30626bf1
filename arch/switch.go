//go:build (amd64 || arm64) && !purego

package arch

import "unsafe"

// The declarations of the switch routines, for amd64 (switch_amd64.s,
// switchin_amd64.s) and arm64 (switch_arm64.s, switchin_arm64.s): one
// Context layout and one set of signatures, which both assembly files
// follow. The package documentation describes each architecture's region:
// [top-Len, top) on amd64, [top-8-Len, top-8) on arm64.

// Context describes one entry into a coroutine. The carrier fills it on its
// own stack (above the region SwitchIn overwrites) and passes its address.
type Context struct {
	// Src is the saved block's first stack byte; nil starts a new coroutine.
	Src unsafe.Pointer
	// Len is the region's length in bytes (a multiple of 8).
	Len uintptr
	// Relocs lists the words of the region (as word indexes) that hold
	// offsets from the region's start and must become absolute addresses.
	// Each index is a uint16, or a uint32 when Wide is set.
	Relocs unsafe.Pointer
	NReloc uintptr
	Wide   uintptr
	// BPOff, on amd64, is the offset from the region's start of the
	// innermost frame's saved BP. On arm64 it is the offset of the first
	// saved frame pointer in the region (the innermost frame's caller's):
	// the innermost frame's SP is the region's start, its R29 the start -
	// 8, and its saved frame pointer there, not in the block, the address
	// of the first: SwitchIn stores it.
	BPOff uintptr
	PC    uintptr        // where the coroutine continues
	Fn    unsafe.Pointer // start: *funcval of the coroutine's function (a func())
	// Zero is how many bytes (a multiple of 8) below the region to clear
	// before entering, so that the frames the coroutine builds there hold
	// no leftovers of earlier calls in their unused slots (leftovers make
	// otherwise identical blocks differ, which defeats compression).
	Zero uintptr
	// BPChain says the saved frame pointers are not in Relocs: starting at
	// the innermost frame's (BPOff), each holds the offset of the next one,
	// up to the outermost: on amd64 the one at Len-8, which gets the
	// carrier's BP; on arm64 the outermost frame's, which holds Len (the
	// carrier's frame pointer, top-8, once relocated). SwitchIn follows
	// the chain and relocates each.
	BPChain uintptr
}

// GCurrent is the offset in runtime.g of the word SwitchIn sets to the
// entered coroutine's top, as an offset from g.stack.hi (which the runtime's
// stack copying leaves valid): g.racectx, which the runtime reads and
// writes only in -race builds, where the engine is not built. The caller
// saves the word before SwitchIn and puts it back when SwitchIn returns (by
// a yield, a return or a panic), so that it always names the innermost
// running coroutine, and is zero outside any. The offset is the same on
// amd64 and arm64 in go1.26 and go1.27 (g_amd64.h, g_arm64.h).
const GCurrent = 312

// SwitchIn enters the coroutine described by ctx. co, owner and outer are
// not read by SwitchIn: they stay in the carrier's outgoing-argument area, co at
// top+16, owner at top+24 (type) and top+32 (data), and outer (the value
// of g's current word to put back, see SwitchOutReturn) at top+40, while
// the coroutine runs, where the engine finds them (see GCurrent, and findCurrent and
// Owner in slice). On arm64 the word at top holds the carrier's saved LR
// instead of SwitchIn's return address, which SwitchIn keeps in ctx's
// slot, at top+8, for SwitchOut.
// Nothing scans or adjusts them there: the caller keeps both alive, and
// neither points into a stack.
//
//go:noescape
func SwitchIn(ctx *Context, co unsafe.Pointer, owner any, outer uintptr)

// SwitchOut abandons the current frames and returns from the SwitchIn call
// whose top is g.stack.hi - topOff. It never returns.
func SwitchOut(topOff uintptr)

// SwitchOutReturn abandons the current frames, the carrier frame that
// called SwitchIn (whose top is g.stack.hi - topOff) and that frame's
// caller, and returns from the caller to its caller with a false bool
// result, after setting g's current word to SwitchIn's outer argument and
// storing v in *state (a release store, the last write it makes). The
// carrier frame and its caller must be Go functions returning one bool as
// their only result, with frames, no defer record on g, and nothing to do
// after their calls on this path but that store. It never returns.
//
//go:noescape
func SwitchOutReturn(topOff uintptr, state *uint32, v uint32)

// FramePointer returns its caller's frame pointer (BP on amd64, R29 on
// arm64).
func FramePointer() uintptr

// G returns the current goroutine's g.
func G() unsafe.Pointer
