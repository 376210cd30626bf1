//go:build linux

package poll

import (
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"
)

// listenBacklog returns the backlog of the listening TCP socket with inode
// ino, as the kernel reports it (sock_diag: idiag_wqueue of a listener,
// what ss shows as Send-Q), or -1 if no such listener is found.
func listenBacklog(t *testing.T, family int, ino uint64) int {
	t.Helper()
	s, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		t.Skipf("no sock_diag: %v", err)
	}
	defer unix.Close(s)
	// struct nlmsghdr, then struct inet_diag_req_v2: family, protocol,
	// ext, pad, states, and a zero inet_diag_sockid (48 bytes).
	req := make([]byte, 16+56)
	binary.NativeEndian.PutUint32(req[0:], uint32(len(req)))
	binary.NativeEndian.PutUint16(req[4:], unix.SOCK_DIAG_BY_FAMILY)
	binary.NativeEndian.PutUint16(req[6:], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	req[16], req[17] = byte(family), unix.IPPROTO_TCP
	binary.NativeEndian.PutUint32(req[20:], 1<<10) // TCP_LISTEN
	if err := unix.Sendto(s, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		t.Skipf("sock_diag request: %v", err)
	}
	buf := make([]byte, 1<<16)
	for {
		n, _, err := unix.Recvfrom(s, buf, 0)
		if err != nil {
			t.Skipf("sock_diag answer: %v", err)
		}
		for b := buf[:n]; len(b) >= 16; {
			l := int(binary.NativeEndian.Uint32(b[0:]))
			if l < 16 || l > len(b) {
				t.Fatalf("sock_diag: bad message length %d", l)
			}
			typ, d := binary.NativeEndian.Uint16(b[4:]), b[16:l]
			b = b[min((l+3)&^3, len(b)):]
			switch typ {
			case unix.NLMSG_DONE:
				return -1
			case unix.NLMSG_ERROR:
				t.Skip("sock_diag: error answer")
			}
			// struct inet_diag_msg: 4 bytes, sockid (48), expires,
			// rqueue, wqueue, uid, inode (4 bytes each).
			if len(d) >= 72 && uint64(binary.NativeEndian.Uint32(d[68:])) == ino {
				return int(binary.NativeEndian.Uint32(d[60:]))
			}
		}
	}
}
