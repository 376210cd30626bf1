//go:build negcontrol

package poll

// See control_off.go. In negcontrol builds the switches are variables that
// the negative-control tests set.

var (
	brokenWakeCheck   bool
	brokenLockGrant   bool
	brokenCollect     bool
	brokenTimerDriver bool
)

var brokenStaleMark bool

var brokenWaitReadRecheck bool
