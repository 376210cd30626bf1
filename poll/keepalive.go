//go:build linux || darwin || freebsd

package poll

import (
	"net"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// TCP keep-alive defaults, package net's: probes after 15 s idle, every
// 15 s, and the connection is dropped after 9 unanswered.
const (
	defaultKeepAliveIdle     = 15 * time.Second
	defaultKeepAliveInterval = 15 * time.Second
	defaultKeepAliveCount    = 9
)

// keepAliveFor reads a config's KeepAlive and KeepAliveConfig as package
// net does: KeepAliveConfig if enabled; otherwise keep-alive on with idle
// time d, unless d is negative (the result's Enable is then false: leave
// the socket as it is).
func keepAliveFor(d time.Duration, cfg net.KeepAliveConfig) net.KeepAliveConfig {
	if !cfg.Enable && d >= 0 {
		return net.KeepAliveConfig{Enable: true, Idle: d}
	}
	return cfg
}

// setKeepAliveConfig applies cfg to socket s as net.TCPConn's
// SetKeepAliveConfig does: zero fields take the defaults, negative ones
// leave the socket's setting alone.
func setKeepAliveConfig(s int, cfg net.KeepAliveConfig) error {
	if err := unix.SetsockoptInt(s, unix.SOL_SOCKET, unix.SO_KEEPALIVE, boolInt(cfg.Enable)); err != nil {
		return os.NewSyscallError("setsockopt", err)
	}
	if err := setKeepAliveIdle(s, cfg.Idle); err != nil {
		return err
	}
	if err := setKeepAliveSecs(s, unix.TCP_KEEPINTVL, cfg.Interval, defaultKeepAliveInterval); err != nil {
		return err
	}
	n := cfg.Count
	if n == 0 {
		n = defaultKeepAliveCount
	}
	if n > 0 {
		if err := unix.SetsockoptInt(s, unix.IPPROTO_TCP, unix.TCP_KEEPCNT, n); err != nil {
			return os.NewSyscallError("setsockopt", err)
		}
	}
	return nil
}

func setKeepAliveIdle(s int, d time.Duration) error {
	return setKeepAliveSecs(s, tcpKeepIdle, d, defaultKeepAliveIdle)
}

// setKeepAliveSecs sets a keep-alive time in whole seconds, rounded up as
// package net does: zero means def, negative leaves it alone.
func setKeepAliveSecs(s, opt int, d, def time.Duration) error {
	if d == 0 {
		d = def
	} else if d < 0 {
		return nil
	}
	secs := int((d + time.Second - 1) / time.Second)
	if err := unix.SetsockoptInt(s, unix.IPPROTO_TCP, opt, secs); err != nil {
		return os.NewSyscallError("setsockopt", err)
	}
	return nil
}

// SetKeepAlivePeriod sets how long the connection stays idle before TCP
// starts sending keep-alive probes (zero: the default, 15 seconds), as
// net.TCPConn's does.
func (c *Conn) SetKeepAlivePeriod(d time.Duration) error {
	return c.setKeepAlive(func(s int) error { return setKeepAliveIdle(s, d) })
}

// SetKeepAliveConfig configures the keep-alive probes the system sends, as
// net.TCPConn's does: zero fields take package net's defaults (15 s idle,
// 15 s interval, 9 probes), negative ones leave the setting unchanged.
func (c *Conn) SetKeepAliveConfig(config net.KeepAliveConfig) error {
	return c.setKeepAlive(func(s int) error { return setKeepAliveConfig(s, config) })
}

func (c *Conn) setKeepAlive(set func(s int) error) error {
	if !c.ok() {
		return syscall.EINVAL
	}
	if err := c.fd.incref(); err != nil {
		return c.opError("set", err)
	}
	defer c.fd.decref()
	if err := set(c.fd.sysfd()); err != nil {
		return c.opError("set", err)
	}
	return nil
}
