//go:build linux || darwin || freebsd

package poll

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strconv"

	"golang.org/x/sys/unix"
)

// endpoint is a resolved socket address.
type endpoint struct {
	family int
	sa     unix.Sockaddr
	ap     netip.AddrPort // TCP only
	wild   bool           // unspecified address (listen on all)
}

// resolve turns network and address into a socket address. IP literals and
// unix paths need no lookup; host names go through net.DefaultResolver,
// which blocks the carrier for the lookup (files such as /etc/hosts: quick;
// DNS: use literal addresses in coroutines).
func resolve(ctx context.Context, network, address string, listen bool) (endpoint, error) {
	switch network {
	case "unix":
		if address == "" && !listen {
			return endpoint{}, errors.New("missing address")
		}
		return endpoint{family: unix.AF_UNIX, sa: &unix.SockaddrUnix{Name: address}}, nil
	case "tcp", "tcp4", "tcp6":
	default:
		return endpoint{}, net.UnknownNetworkError(network)
	}
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return endpoint{}, err
	}
	pn, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		p, lerr := net.DefaultResolver.LookupPort(ctx, network, port)
		if lerr != nil {
			return endpoint{}, lerr
		}
		pn = uint64(p)
	}
	var ip netip.Addr
	if host == "" {
		if !listen {
			host = "localhost"
		} else if network == "tcp4" {
			ip = netip.IPv4Unspecified()
		} else {
			ip = netip.IPv6Unspecified()
		}
	}
	if !ip.IsValid() {
		if a, perr := netip.ParseAddr(host); perr == nil {
			ip = a
		} else {
			ipnet := map[string]string{"tcp": "ip", "tcp4": "ip4", "tcp6": "ip6"}[network]
			ips, lerr := net.DefaultResolver.LookupNetIP(ctx, ipnet, host)
			if lerr != nil {
				return endpoint{}, lerr
			}
			if len(ips) == 0 {
				return endpoint{}, &net.AddrError{Err: "no suitable address found", Addr: host}
			}
			ip = ips[0]
			for _, a := range ips { // prefer IPv4 for "tcp", like most clients
				if a.Unmap().Is4() {
					ip = a
					break
				}
			}
		}
	}
	ip = ip.Unmap()
	switch {
	case network == "tcp4" && !ip.Is4():
		return endpoint{}, &net.AddrError{Err: "non-IPv4 address", Addr: address}
	case network == "tcp6" && ip.Is4():
		return endpoint{}, &net.AddrError{Err: "non-IPv6 address", Addr: address}
	}
	ep := endpoint{ap: netip.AddrPortFrom(ip, uint16(pn)), wild: ip.IsUnspecified()}
	if ip.Is4() {
		ep.family = unix.AF_INET
		ep.sa = &unix.SockaddrInet4{Port: int(pn), Addr: ip.As4()}
	} else {
		ep.family = unix.AF_INET6
		sa := &unix.SockaddrInet6{Port: int(pn), Addr: ip.As16()}
		if z := ip.Zone(); z != "" {
			if ifi, err := net.InterfaceByName(z); err == nil {
				sa.ZoneId = uint32(ifi.Index)
			} else if n, err := strconv.Atoi(z); err == nil {
				sa.ZoneId = uint32(n)
			}
		}
		ep.sa = sa
	}
	return ep, nil
}

// addrPortOf converts an IP socket address.
func addrPortOf(sa unix.Sockaddr) (netip.AddrPort, bool) {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port)), true
	case *unix.SockaddrInet6:
		a := netip.AddrFrom16(sa.Addr)
		if sa.ZoneId != 0 {
			a = a.WithZone(strconv.Itoa(int(sa.ZoneId)))
		}
		return netip.AddrPortFrom(a.Unmap(), uint16(sa.Port)), true
	}
	return netip.AddrPort{}, false
}

// netAddr converts a socket address to the net.Addr package net would give.
func netAddr(network string, sa unix.Sockaddr) net.Addr {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4, *unix.SockaddrInet6:
		ap, _ := addrPortOf(sa)
		return tcpAddr(ap)
	case *unix.SockaddrUnix:
		return &net.UnixAddr{Name: sa.Name, Net: network}
	}
	return nil
}

func tcpAddr(ap netip.AddrPort) *net.TCPAddr {
	return &net.TCPAddr{IP: ap.Addr().AsSlice(), Port: int(ap.Port()), Zone: ap.Addr().Zone()}
}
