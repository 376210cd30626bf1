//go:build linux || darwin || freebsd

package poll

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/stackslice/stackslice/sched"
)

// endpoint is a resolved socket address.
type endpoint struct {
	family int
	sa     unix.Sockaddr
	ap     netip.AddrPort // TCP only
	wild   bool           // unspecified address (listen on all)
	noHost bool           // the address named no host, as in ":80"
}

// The resolver's lookups, as variables so that tests can replace them.
// Like net.Resolver's, they must return soon after ctx is done.
var (
	lookupNetIP = net.DefaultResolver.LookupNetIP
	lookupPort  = net.DefaultResolver.LookupPort
)

// resolve turns network and address into a socket address. IP literals,
// numeric ports and unix paths need no lookup and cost nothing more; host
// and service names are looked up off the carrier (see lookup). local,
// if valid and not unspecified (a Dialer's LocalAddr), restricts a host
// name's addresses to its family, as package net does.
func resolve(ctx context.Context, network, address string, listen bool, local netip.Addr) (endpoint, error) {
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
	host, service, err := net.SplitHostPort(address)
	if err != nil {
		return endpoint{}, err
	}
	ip := hostLiteral(network, host, listen)
	port, perr := strconv.ParseUint(service, 10, 16)
	if !ip.IsValid() || perr != nil {
		name, svc := host, service
		if ip.IsValid() {
			name = ""
		}
		if perr == nil {
			svc = ""
		}
		lip, lport, err := lookup(ctx, network, name, svc, local)
		if err != nil {
			return endpoint{}, err
		}
		if !ip.IsValid() {
			ip = lip
		}
		if perr != nil {
			port = uint64(lport)
		}
	}
	return endpointOf(network, address, netip.AddrPortFrom(ip.Unmap(), uint16(port)), host == "")
}

// hostLiteral returns the address host names without a lookup: an IP
// literal, or for no host the unspecified address (listen) or loopback
// (dial: package net dials the local system). Otherwise it is invalid.
func hostLiteral(network, host string, listen bool) netip.Addr {
	switch {
	case host != "":
		ip, _ := netip.ParseAddr(host)
		return ip
	case listen && network == "tcp4":
		return netip.IPv4Unspecified()
	case listen:
		return netip.IPv6Unspecified()
	case network == "tcp6":
		return netip.IPv6Loopback()
	}
	return netip.AddrFrom4([4]byte{127, 0, 0, 1})
}

// endpointOf builds the endpoint for ap on a TCP network.
func endpointOf(network, address string, ap netip.AddrPort, noHost bool) (endpoint, error) {
	ip := ap.Addr()
	switch {
	case network == "tcp4" && !ip.Is4():
		return endpoint{}, &net.AddrError{Err: "non-IPv4 address", Addr: address}
	case network == "tcp6" && ip.Is4():
		return endpoint{}, &net.AddrError{Err: "non-IPv6 address", Addr: address}
	}
	ep := endpoint{ap: ap, wild: ip.IsUnspecified(), noHost: noHost}
	if ip.Is4() {
		ep.family = unix.AF_INET
		ep.sa = &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ip.As4()}
		return ep, nil
	}
	ep.family = unix.AF_INET6
	sa := &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ip.As16()}
	if z := ip.Zone(); z != "" {
		if ifi, err := net.InterfaceByName(z); err == nil {
			sa.ZoneId = uint32(ifi.Index)
		} else if n, err := strconv.Atoi(z); err == nil {
			sa.ZoneId = uint32(n)
		}
	}
	ep.sa = sa
	return ep, nil
}

// lookup looks up host (unless empty) and service (unless empty) without
// blocking a carrier: in a task it runs them on the scheduler's Await pool
// and parks the task; elsewhere it calls them directly. It returns when
// ctx is done (the lookups honour it), or when the task is cancelled: the
// lookup then runs to its end on the pool and its result is dropped.
// Errors are the resolver's (a *net.DNSError, also for a cancelled ctx).
func lookup(ctx context.Context, network, host, service string, local netip.Addr) (netip.Addr, int, error) {
	name := host
	if name == "" {
		name = service
	}
	if err := ctx.Err(); err != nil {
		return netip.Addr{}, 0, contextDNSError(err, name)
	}
	// The closure's results are its own: after a cancelled Await it may
	// still write them, and nobody reads them then.
	var r struct {
		ip   netip.Addr
		port int
		err  error
	}
	run := func() { r.ip, r.port, r.err = lookupNow(ctx, network, host, service, local) }
	if brokenLookupOnCarrier {
		run() // the negative control: the carrier blocks
	} else if err := sched.Await(run); err != nil {
		return netip.Addr{}, 0, contextDNSError(err, name)
	}
	if r.err != nil && ctx.Err() != nil {
		return netip.Addr{}, 0, contextDNSError(ctx.Err(), name) // as the resolver's
	}
	return r.ip, r.port, r.err
}

// lookupNow is lookup's work, in package net's order: service, then host.
func lookupNow(ctx context.Context, network, host, service string, local netip.Addr) (netip.Addr, int, error) {
	var port int
	if service != "" {
		p, err := lookupPort(ctx, network, service)
		if err != nil {
			return netip.Addr{}, 0, err
		}
		port = p
	}
	if host == "" {
		return netip.Addr{}, port, nil
	}
	ipnet := map[string]string{"tcp": "ip", "tcp4": "ip4", "tcp6": "ip6"}[network]
	ips, err := lookupNetIP(ctx, ipnet, host)
	if err != nil {
		return netip.Addr{}, 0, err
	}
	ip, ok := pickAddr(network, ips, local)
	if !ok {
		return netip.Addr{}, 0, &net.AddrError{Err: "no suitable address found", Addr: host}
	}
	return ip, port, nil
}

// pickAddr chooses the address to use among a host's: one of the
// network's family (and of local's, if local is set), IPv4 first for
// "tcp", like most clients.
func pickAddr(network string, ips []netip.Addr, local netip.Addr) (netip.Addr, bool) {
	var v6 netip.Addr
	for _, a := range ips {
		a = a.Unmap()
		if local.IsValid() && !local.IsUnspecified() && a.Is4() != local.Unmap().Is4() {
			continue
		}
		switch {
		case a.Is4() && network != "tcp6":
			return a, true
		case !a.Is4() && network != "tcp4" && !v6.IsValid():
			v6 = a
		}
	}
	return v6, v6.IsValid()
}

// contextDNSError is the error net.Resolver returns for a lookup of name
// ended by err, a context's error.
func contextDNSError(err error, name string) error {
	err = mapCtxErr(err)
	timeout := err == errTimeout
	return &net.DNSError{Err: err.Error(), Name: name, IsTimeout: timeout, IsTemporary: timeout, UnwrapErr: err}
}

// Package net's errors for an operation ended by its context: they read
// as they always have, and errors.Is matches the context's errors.
var (
	errCanceled error = canceledError{}
	errTimeout  error = timeoutError{}
)

type canceledError struct{}

func (canceledError) Error() string        { return "operation was canceled" }
func (canceledError) Is(target error) bool { return target == context.Canceled }

type timeoutError struct{}

func (timeoutError) Error() string        { return "i/o timeout" }
func (timeoutError) Timeout() bool        { return true }
func (timeoutError) Temporary() bool      { return true }
func (timeoutError) Is(target error) bool { return target == context.DeadlineExceeded }

// mapCtxErr maps a context's errors to package net's (see net's mapErr).
func mapCtxErr(err error) error {
	switch err {
	case context.Canceled:
		return errCanceled
	case context.DeadlineExceeded:
		return errTimeout
	}
	return err
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
