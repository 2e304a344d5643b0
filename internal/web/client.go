package web

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// clientAddr is the address of the person behind r: the connection's
// peer, or, when that is one of http.trusted_proxies, the last address of
// X-Forwarded-For that is not a trusted proxy itself. It is the invalid
// Addr when it cannot be read.
func clientAddr(r *http.Request, proxies []netip.Prefix) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	peer = peer.Unmap().WithZone("")
	if !inAny(peer, proxies) {
		return peer
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return peer // a hop we cannot read: trust nothing before it
		}
		a = a.Unmap().WithZone("")
		if !inAny(a, proxies) {
			return a
		}
	}
	return peer
}

// inAny tells whether a is in one of the prefixes.
func inAny(a netip.Addr, prefixes []netip.Prefix) bool {
	for _, p := range prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
