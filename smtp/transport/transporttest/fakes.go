// Package transporttest fakes the world a transport sees, for the tests
// of the transports and of the queue: DNS answers from maps (DNS, a
// transport.Resolver) and a network that routes the addresses dialed to
// the tests' servers, most of them testlib.Sink (Net).
package transporttest

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
)

// DNS is a transport.Resolver answering from maps; a name it does not
// know does not exist (NXDOMAIN). Set its maps before use, keyed by names
// without the final dot: "example.jp." asks for the entry "example.jp".
// Asked records each name as it was asked, final dot included.
type DNS struct {
	MX map[string][]*net.MX // MX records by domain
	IP map[string][]string  // addresses by host name

	mu     sync.Mutex
	lookup []string // names asked, "MX name" or "IP name"
}

// LookupMX answers from f.MX.
func (f *DNS) LookupMX(_ context.Context, name string) ([]*net.MX, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lookup = append(f.lookup, "MX "+name)
	if recs, ok := f.MX[strings.TrimSuffix(name, ".")]; ok {
		return recs, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

// LookupIPAddr answers from f.IP.
func (f *DNS) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lookup = append(f.lookup, "IP "+host)
	ips, ok := f.IP[strings.TrimSuffix(host, ".")]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	var out []net.IPAddr
	for _, s := range ips {
		out = append(out, net.IPAddr{IP: net.ParseIP(s)})
	}
	return out, nil
}

// Asked lists the questions asked, in order: "MX name" or "IP name".
func (f *DNS) Asked() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.lookup...)
}

// Net maps the addresses a transport dials (an MX's IP at port 25) to
// the sinks' real addresses; loopback addresses are dialed as they are,
// anything else is refused. It records every address dialed. Set Routes
// before use.
type Net struct {
	Routes map[string]string // address dialed -> address connected to

	mu     sync.Mutex
	dialed []string
}

// Dial is a transport.Options.Dial.
func (n *Net) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	n.mu.Lock()
	n.dialed = append(n.dialed, addr)
	to, ok := n.Routes[addr]
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

// Calls lists the addresses dialed, in order.
func (n *Net) Calls() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.dialed...)
}
