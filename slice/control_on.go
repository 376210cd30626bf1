//go:build negcontrol

package slice

// See control_off.go. In negcontrol builds the switches are variables that
// the negative-control tests set.

var mixUnswizzle, breakCurrent, breakRestores, breakSpare, breakDirect bool
