//go:build !linux

package childproc

import "syscall"

// The examples measure through /proc and run only on Linux; this file lets
// them build (and vet) elsewhere.

func sysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

func BindAddressNoPort(network, address string, rc syscall.RawConn) error { return nil }
