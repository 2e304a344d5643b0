package inbound

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/careerrelay/careerrelay/internal/metrics"
)

// outsideShare is the percentage of smtp.max_connections that outside
// clients may hold together: those not in smtp.allow_networks nor in any
// tenant's ingress.networks (admitted by smtp.cloud_networks_file, or not
// at all), until they authenticate. The rest is kept for the company's
// servers, so that idle connections from elsewhere cannot lock them out
// (issue 13).
const outsideShare = 80

// connLimits are the connection limits of all of a Server's listeners
// together: smtp.max_connections, of which outside clients hold at most
// outsideShare percent, and smtp.max_connections_per_client per client
// (clientKey).
type connLimits struct {
	max, outsideMax, perClient int
	// inside reports whether a client address is one the reserve is
	// kept for.
	inside func(netip.Addr) bool

	mu      sync.Mutex
	total   int
	outside int
	per     map[netip.Prefix]int
}

func newConnLimits(max, perClient int, inside func(netip.Addr) bool) *connLimits {
	return &connLimits{max: max, outsideMax: max * outsideShare / 100, perClient: perClient,
		inside: inside, per: map[netip.Prefix]int{}}
}

// clientKey is what smtp.max_connections_per_client counts: an IPv4
// address, or an IPv6 address's /64, which one client usually holds
// whole (as the AUTH budgets, addrKey).
func clientKey(ip netip.Addr) netip.Prefix {
	bits := 32
	if ip.Is6() {
		bits = 64
	}
	p, _ := ip.Prefix(bits)
	return p
}

// acquire counts a new connection from ip, or reports false when a limit
// is reached. outside says whether it counts against outsiders' share.
func (l *connLimits) acquire(ip netip.Addr) (outside, ok bool) {
	key := clientKey(ip)
	outside = !l.inside(ip)
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.max > 0 && l.total >= l.max,
		outside && l.max > 0 && l.outside >= l.outsideMax,
		l.perClient > 0 && l.per[key] >= l.perClient:
		return outside, false
	}
	l.total++
	l.per[key]++
	if outside {
		l.outside++
	}
	return outside, true
}

// release uncounts a connection from ip; outside is whether it still
// counts against outsiders' share.
func (l *connLimits) release(ip netip.Addr, outside bool) {
	key := clientKey(ip)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if outside {
		l.outside--
	}
	if l.per[key]--; l.per[key] <= 0 {
		delete(l.per, key)
	}
}

// moveInside moves an outside connection out of outsiders' share: it
// authenticated.
func (l *connLimits) moveInside() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.outside--
}

// limitListener refuses connections past the shared limits with a 421
// before go-smtp ever sees them, and gives a client that may not relay
// from its address preAuth to authenticate (see limitedConn).
type limitListener struct {
	net.Listener
	limits *connLimits
	// admitted reports whether a client may relay without AUTH; the
	// others get preAuth (0: no such limit).
	admitted func(netip.Addr) bool
	preAuth  time.Duration
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := remoteIP(c.RemoteAddr())
		outside, ok := l.limits.acquire(ip)
		if !ok {
			metrics.Rejected.WithLabelValues("too_many_conns").Inc()
			go func() {
				c.SetWriteDeadline(time.Now().Add(10 * time.Second))
				c.Write([]byte("421 4.7.0 Too many connections, try again later\r\n"))
				c.Close()
			}()
			continue
		}
		lc := &limitedConn{Conn: c, limits: l.limits, ip: ip}
		lc.outside.Store(outside)
		if l.preAuth > 0 && !l.admitted(ip) {
			until := time.Now().Add(l.preAuth)
			lc.preAuthUntil.Store(until.UnixNano())
			c.SetReadDeadline(until)
		}
		return lc, nil
	}
}

// limitedConn is a connection counted in connLimits until it is closed.
type limitedConn struct {
	net.Conn
	limits *connLimits
	ip     netip.Addr
	once   sync.Once
	// outside is whether it counts against outsiders' share.
	outside atomic.Bool
	// closeAfterWrite, once set, closes the connection after the next
	// Write: the reply that ends a session (421) reaches the client, and
	// nothing more is read from it.
	closeAfterWrite atomic.Bool
	// preAuthUntil, when not 0, is the time (Unix nanoseconds) by which a
	// client that may not relay from its address must have
	// authenticated: no read deadline go-smtp sets goes past it, so that
	// the client is cut off then however busy it keeps the connection
	// (421 4.4.2).
	preAuthUntil atomic.Int64
}

func (c *limitedConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if c.closeAfterWrite.Load() {
		c.Close()
	}
	return n, err
}

func (c *limitedConn) SetReadDeadline(t time.Time) error {
	return c.Conn.SetReadDeadline(c.bound(t))
}

func (c *limitedConn) SetDeadline(t time.Time) error {
	if err := c.Conn.SetWriteDeadline(t); err != nil {
		return err
	}
	return c.Conn.SetReadDeadline(c.bound(t))
}

// bound is read deadline t, brought forward to preAuthUntil.
func (c *limitedConn) bound(t time.Time) time.Time {
	if u := c.preAuthUntil.Load(); u != 0 {
		if until := time.Unix(0, u); t.IsZero() || t.After(until) {
			return until
		}
	}
	return t
}

// authenticated lifts the pre-AUTH deadline (go-smtp sets the next read
// deadline from smtp.read_timeout) and moves the connection out of
// outsiders' share.
func (c *limitedConn) authenticated() {
	c.preAuthUntil.Store(0)
	if c.outside.CompareAndSwap(true, false) {
		c.limits.moveInside()
	}
}

func (c *limitedConn) Close() error {
	c.once.Do(func() {
		// The swap and authenticated's CompareAndSwap take it out of
		// outsiders' share exactly once.
		c.limits.release(c.ip, c.outside.Swap(false))
	})
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
