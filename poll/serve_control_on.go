//go:build negcontrol

package poll

// See serve_control_off.go.
var brokenServeGoFail bool
