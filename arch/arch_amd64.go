//go:build amd64 && !purego

package arch

import "unsafe"

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
	BPOff  uintptr        // the innermost frame's BP, as an offset from the region's start
	PC     uintptr        // where the coroutine continues
	Fn     unsafe.Pointer // start: *funcval of the coroutine's function (a func())
	// Zero is how many bytes (a multiple of 8) below the region to clear
	// before entering, so that the frames the coroutine builds there hold
	// no leftovers of earlier calls in their unused slots (leftovers make
	// otherwise identical blocks differ, which defeats compression).
	Zero uintptr
	// BPChain says the saved frame pointers are not in Relocs: starting at
	// the innermost frame's (BPOff), each holds the offset of the next one,
	// up to the outermost at Len-8 (which gets the
	// carrier's BP). SwitchIn follows the chain and relocates each.
	BPChain uintptr
}

// GCurrent is the offset in runtime.g of the word SwitchIn sets to the
// entered coroutine's top, as an offset from g.stack.hi (which the runtime's
// stack copying leaves valid): g.racectx, which the runtime reads and
// writes only in -race builds, where the engine is not built. The caller
// saves the word before SwitchIn and puts it back when SwitchIn returns (by
// a yield, a return or a panic), so that it always names the innermost
// running coroutine, and is zero outside any.
const GCurrent = 312

// SwitchIn enters the coroutine described by ctx. co, owner and outer are
// not read by SwitchIn: they stay in the carrier's outgoing-argument area, co at
// top+16, owner at top+24 (type) and top+32 (data), and outer (the value
// of g's current word to put back, see SwitchOutReturn) at top+40, while
// the coroutine runs, where the engine finds them (see GCurrent, and findCurrent and
// Owner in slice).
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

// FramePointer returns its caller's frame pointer (BP).
func FramePointer() uintptr

// G returns the current goroutine's g.
func G() unsafe.Pointer
