package childproc

import "syscall"

// sysProcAttr puts a child in its own process group, so that it can be
// killed with everything it started, and has the kernel kill it if the
// parent dies.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// BindAddressNoPort sets IP_BIND_ADDRESS_NO_PORT, so that binding the
// source address leaves the choice of port to connect, which can share
// ports between destinations and reuse TIME_WAIT ports on loopback. It is
// a net.Dialer's Control function.
func BindAddressNoPort(network, address string, rc syscall.RawConn) error {
	const ipBindAddressNoPort = 24 // IP_BIND_ADDRESS_NO_PORT, Linux 4.2
	rc.Control(func(fd uintptr) {
		syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, ipBindAddressNoPort, 1)
	})
	return nil
}
