//go:build negcontrol

package stackmap

// See control_off.go. In negcontrol builds the switches are variables, and
// the negative-control tests of other packages (slice, fuzz) set them
// through BreakForControl; an ordinary build has neither.

var (
	skipReloc  bool
	dropShadow bool
	skipUndo   bool
)

// BreakForControl sets the negative-control switches: with reloc, scans
// skip relocating region pointers; with shadow, they drop heap pointers
// instead of shadowing them. Call it with the engine selected and before
// any coroutine saves, and with both false to repair the engine. It exists
// only in builds with the negcontrol tag.
func BreakForControl(reloc, shadow bool) {
	skipReloc, dropShadow = reloc, shadow
}

// BreakUndoForControl sets the negative-control switch skipUndo: with it,
// a Quick scan that gives up part way does not put back what it changed.
// It exists only in builds with the negcontrol tag.
func BreakUndoForControl(on bool) { skipUndo = on }
