//go:build !negcontrol

package poll

// brokenServeGoFail makes Server.Serve leave a connection open when its
// task cannot be started (see Server.start): the descriptor leaks until
// the garbage collector closes it. A negative control (see control_off.go).
const brokenServeGoFail = false
