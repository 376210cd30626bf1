//go:build negcontrol

package sched

// See control_off.go. In negcontrol builds the switches are variables that
// the negative-control tests set.

var (
	dropGrant     bool
	dropChanClaim bool
	sweepAll      bool
	unboundedNext bool
)
