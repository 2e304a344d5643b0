package delivery

// The engine's view of the world, faked: DNS answers from maps and a
// network that routes the addresses it dials to the tests' servers (most
// of them testlib.Sink).

import (
	"context"
	"errors"
	"net"
	"sync"
)

// fakeDNS is a Resolver answering from maps; a name it does not know does
// not exist (NXDOMAIN).
type fakeDNS struct {
	mu     sync.Mutex
	mx     map[string][]*net.MX
	ip     map[string][]string
	lookup []string // names asked, "MX name" or "IP name"
}

func (f *fakeDNS) LookupMX(_ context.Context, name string) ([]*net.MX, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lookup = append(f.lookup, "MX "+name)
	if recs, ok := f.mx[name]; ok {
		return recs, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

func (f *fakeDNS) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lookup = append(f.lookup, "IP "+host)
	ips, ok := f.ip[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	var out []net.IPAddr
	for _, s := range ips {
		out = append(out, net.IPAddr{IP: net.ParseIP(s)})
	}
	return out, nil
}

func (f *fakeDNS) asked() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.lookup...)
}

// fakeNet maps the addresses the engine dials (an MX's IP at port 25) to
// the sinks' real addresses; loopback addresses are dialed as they are,
// anything else is refused. It records every address dialed.
type fakeNet struct {
	mu     sync.Mutex
	routes map[string]string
	dialed []string
}

func (n *fakeNet) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	n.mu.Lock()
	n.dialed = append(n.dialed, addr)
	to, ok := n.routes[addr]
	n.mu.Unlock()
	if !ok {
		host, _, _ := net.SplitHostPort(addr)
		if host != "127.0.0.1" {
			return nil, &net.OpError{Op: "dial", Net: network, Err: errors.New("connection refused")}
		}
		to = addr
	}
	var d net.Dialer
	return d.DialContext(ctx, network, to)
}

func (n *fakeNet) calls() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.dialed...)
}
