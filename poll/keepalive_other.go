//go:build linux || freebsd

package poll

import "golang.org/x/sys/unix"

// tcpKeepIdle is the option for the idle time before the first probe.
const tcpKeepIdle = unix.TCP_KEEPIDLE
