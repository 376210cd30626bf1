//go:build !linux

package main

import "syscall"

// footprint measures through /proc and runs only on Linux; this file lets
// it build (and vet) elsewhere.

func sysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

func bindAddressNoPort(network, address string, rc syscall.RawConn) error { return nil }
