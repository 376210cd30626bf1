//go:build linux || darwin || freebsd

package httpserve

import (
	"net/netip"

	"golang.org/x/sys/unix"

	"github.com/stackslice/stackslice/poll"
)

// remoteAddr returns the client's address as Request.RemoteAddr has it
// (net.Addr's String), read with getpeername. The conn keeps the string:
// poll.Conn.RemoteAddr would build and keep a net.Addr (some 80 bytes an
// idle connection carries), and a string made per request costs three
// allocations of each.
func remoteAddr(pc *poll.Conn) string {
	rc, err := pc.SyscallConn()
	if err != nil {
		return ""
	}
	var s string
	ok := false
	rc.Control(func(fd uintptr) {
		sa, err := unix.Getpeername(int(fd))
		if err != nil {
			return
		}
		switch sa := sa.(type) {
		case *unix.SockaddrInet4:
			s, ok = netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port)).String(), true
		case *unix.SockaddrInet6:
			if sa.ZoneId == 0 {
				ip := netip.AddrFrom16(sa.Addr).Unmap() // as net prints a v4-mapped address
				s, ok = netip.AddrPortFrom(ip, uint16(sa.Port)).String(), true
			}
		case *unix.SockaddrUnix:
			s, ok = sa.Name, true
		}
	})
	if !ok {
		// A zone, or no peer address: net's own formatting.
		if ra := pc.RemoteAddr(); ra != nil {
			return ra.String()
		}
		return ""
	}
	return s
}
