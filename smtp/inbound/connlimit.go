package inbound

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/careerrelay/careerrelay/internal/metrics"
)

// limitListener refuses connections past a total and a per-client-address
// limit with a 421 before go-smtp ever sees them.
type limitListener struct {
	net.Listener
	max, perClient int

	mu    sync.Mutex
	total int
	per   map[netip.Addr]int
}

func newLimitListener(l net.Listener, max, perClient int) *limitListener {
	return &limitListener{Listener: l, max: max, perClient: perClient, per: map[netip.Addr]int{}}
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := remoteIP(c.RemoteAddr())
		l.mu.Lock()
		over := (l.max > 0 && l.total >= l.max) || (l.perClient > 0 && l.per[ip] >= l.perClient)
		if !over {
			l.total++
			l.per[ip]++
		}
		l.mu.Unlock()
		if over {
			metrics.Rejected.WithLabelValues("too_many_conns").Inc()
			go func() {
				c.Write([]byte("421 4.7.0 Too many connections, try again later\r\n"))
				c.Close()
			}()
			continue
		}
		return &limitedConn{Conn: c, release: func() { l.release(ip) }}, nil
	}
}

func (l *limitListener) release(ip netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if l.per[ip]--; l.per[ip] <= 0 {
		delete(l.per, ip)
	}
}

type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
	// closeAfterWrite, once set, closes the connection after the next
	// Write: the reply that ends a session (421) reaches the client, and
	// nothing more is read from it.
	closeAfterWrite atomic.Bool
}

func (c *limitedConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if c.closeAfterWrite.Load() {
		c.Close()
	}
	return n, err
}

func (c *limitedConn) Close() error {
	c.once.Do(c.release)
	return c.Conn.Close()
}

// remoteIP is the client's address without port, IPv4-mapped addresses
// unmapped; the zero Addr when it cannot be told.
func remoteIP(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		if ip, ok := netip.AddrFromSlice(ta.IP); ok {
			return ip.Unmap()
		}
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}
