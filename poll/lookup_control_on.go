//go:build negcontrol

package poll

// See lookup_control_off.go.
var brokenLookupOnCarrier bool
