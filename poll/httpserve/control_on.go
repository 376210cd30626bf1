//go:build negcontrol

package httpserve

// See control_off.go. In negcontrol builds the switches are variables that
// the negative-control tests set.

var brokenRelease bool
