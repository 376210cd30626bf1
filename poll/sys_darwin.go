//go:build darwin

package poll

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// sysSocket returns a non-blocking, close-on-exec socket. macOS has no
// SOCK_NONBLOCK/SOCK_CLOEXEC: set them under ForkLock, as package net does.
func sysSocket(family, sotype, proto int) (int, error) {
	syscall.ForkLock.RLock()
	s, err := unix.Socket(family, sotype, proto)
	if err == nil {
		unix.CloseOnExec(s)
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return -1, wrapSyscall("socket", err)
	}
	if err := unix.SetNonblock(s, true); err != nil {
		unix.Close(s)
		return -1, wrapSyscall("setnonblock", err)
	}
	unix.SetsockoptInt(s, unix.SOL_SOCKET, unix.SO_NOSIGPIPE, 1)
	return s, nil
}

// sysAccept accepts a connection as a non-blocking, close-on-exec socket.
// It returns the raw errno, which Accept interprets.
func sysAccept(s int) (int, unix.Sockaddr, error) {
	syscall.ForkLock.RLock()
	ns, sa, err := unix.Accept(s)
	if err == nil {
		unix.CloseOnExec(ns)
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return -1, nil, err
	}
	if err := unix.SetNonblock(ns, true); err != nil {
		unix.Close(ns)
		return -1, nil, err
	}
	unix.SetsockoptInt(ns, unix.SOL_SOCKET, unix.SO_NOSIGPIPE, 1)
	return ns, sa, nil
}
