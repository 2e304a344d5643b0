package inbound

import (
	"net/netip"
	"sync"
	"time"
)

// The AUTH failure budgets. A client address (an IPv6 client's /64) may
// fail addrBurst times, then one more time per addrRefill; a user name
// (known or not, so that the answer tells nothing about which names
// exist) userBurst times, then one per userRefill. Past its budget, AUTH
// is refused with 454 before any password is checked, so guessing costs
// no bcrypt. Each table tracks at most maxAuthKeys keys.
const (
	addrBurst   = 10
	addrRefill  = time.Minute
	userBurst   = 30
	userRefill  = 20 * time.Second
	maxAuthKeys = 10000
	// maxAuthFails is the number of failed AUTH attempts a connection
	// may make; the last is answered 421 and the connection closed.
	maxAuthFails = 3
	// maxRelayDenied is the number of MAIL commands a connection may
	// have refused by the relay policy (relay_denied); the last is
	// answered 421 and the connection closed.
	maxRelayDenied = 3
)

// authLimiter is a table of failure budgets that refill over time: a
// leaky bucket per key, holding the failures not yet forgiven.
type authLimiter struct {
	burst   float64
	refill  time.Duration
	maxKeys int
	now     func() time.Time

	mu   sync.Mutex
	keys map[string]*authBudget
}

type authBudget struct {
	fails float64   // failures not forgiven as of at
	at    time.Time // when fails was last brought up to date
}

func newAuthLimiter(burst int, refill time.Duration, maxKeys int, now func() time.Time) *authLimiter {
	return &authLimiter{burst: float64(burst), refill: refill, maxKeys: maxKeys, now: now, keys: map[string]*authBudget{}}
}

// level is b's failures not yet forgiven at now.
func (l *authLimiter) level(b *authBudget, now time.Time) float64 {
	f := b.fails - float64(now.Sub(b.at))/float64(l.refill)
	if f < 0 {
		return 0
	}
	return f
}

// blocked reports whether key's budget is spent.
func (l *authLimiter) blocked(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.keys[key]
	return ok && l.level(b, l.now()) > l.burst-1
}

// fail counts one failure of key.
func (l *authLimiter) fail(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b, ok := l.keys[key]
	if !ok {
		if len(l.keys) >= l.maxKeys {
			l.evict(now)
		}
		b = &authBudget{}
		l.keys[key] = b
	}
	b.fails, b.at = l.level(b, now)+1, now
}

// evict makes room for one key: it forgets the keys whose failures are all
// forgiven, and when none is, the one with the fewest failures (so that a
// flood of new keys cannot free a blocked one cheaply). Only when the
// table is full, so its cost is paid by the failures that filled it.
func (l *authLimiter) evict(now time.Time) {
	var low string
	lowLevel := -1.0
	for k, b := range l.keys {
		lv := l.level(b, now)
		if lv == 0 {
			delete(l.keys, k)
			continue
		}
		if lowLevel < 0 || lv < lowLevel {
			low, lowLevel = k, lv
		}
	}
	if len(l.keys) >= l.maxKeys && lowLevel >= 0 {
		delete(l.keys, low)
	}
}

// len is the number of keys tracked, for the tests.
func (l *authLimiter) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.keys)
}

// authGuard holds the budgets of client addresses and of user names.
type authGuard struct {
	addrs, users *authLimiter
}

func newAuthGuard(now func() time.Time) *authGuard {
	return &authGuard{
		addrs: newAuthLimiter(addrBurst, addrRefill, maxAuthKeys, now),
		users: newAuthLimiter(userBurst, userRefill, maxAuthKeys, now),
	}
}

// addrKey is the key of a client address: an IPv6 client's /64, which
// one client usually holds whole.
func addrKey(ip netip.Addr) string {
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}

// userKey bounds the memory a user name takes in the table.
func userKey(name string) string {
	if len(name) > 256 {
		return name[:256]
	}
	return name
}

// blocked reports whether the address's or the user's budget is spent.
func (g *authGuard) blocked(ip netip.Addr, user string) bool {
	return g.addrs.blocked(addrKey(ip)) || g.users.blocked(userKey(user))
}

// fail counts a wrong password against both budgets.
func (g *authGuard) fail(ip netip.Addr, user string) {
	g.addrs.fail(addrKey(ip))
	g.users.fail(userKey(user))
}
