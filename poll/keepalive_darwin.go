//go:build darwin

package poll

import "golang.org/x/sys/unix"

// tcpKeepIdle is the option for the idle time before the first probe:
// TCP_KEEPALIVE on macOS (see net's tcpsockopt_darwin.go).
const tcpKeepIdle = unix.TCP_KEEPALIVE
