//go:build linux || freebsd

package poll

import "golang.org/x/sys/unix"

// sysSocket returns a non-blocking, close-on-exec socket.
func sysSocket(family, sotype, proto int) (int, error) {
	s, err := unix.Socket(family, sotype|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, proto)
	if err != nil {
		return -1, wrapSyscall("socket", err)
	}
	return s, nil
}

// sysAccept accepts a connection as a non-blocking, close-on-exec socket.
// It returns the raw errno, which Accept interprets.
func sysAccept(s int) (int, unix.Sockaddr, error) {
	return unix.Accept4(s, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
}
