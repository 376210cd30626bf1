//go:build arm64 && !purego && negcontrol

package arch

import "unsafe"

// breakUnwind, read by the negcontrol build's SwitchIn, makes it run its
// body in a function that writes SP (switchInSPWrite), so that profiling
// samples taken there cannot unwind: the negative control of the profile
// test in package slice. It exists only in negcontrol builds.
var breakUnwind bool

// BreakUnwindForControl sets breakUnwind. It exists only in builds with the
// negcontrol tag.
func BreakUnwindForControl(on bool) { breakUnwind = on }

//go:noescape
func switchInSPWrite(ctx *Context, co unsafe.Pointer, owner any, outer uintptr)
