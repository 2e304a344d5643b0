package web

import (
	"container/list"
	"net"
	"net/netip"
	"sync"
	"time"
)

// The limits on recording clicks (docs/reference.md, URL paths). A GET over
// a limit gets the page all the same and counts in
// careerrelay_link_clicks_total; it is only not written to the store.
const (
	// clickWindow is the period of both limits.
	clickWindow = time.Minute
	// linkClicks is how many clicks of one class are recorded per link and
	// clickWindow: a reload, or the same person clicking twice, is one
	// click; a script fetching a link in a loop writes once a minute.
	linkClicks = 1
	// addrClicks is how many clicks are recorded per client address (an
	// IPv6 /64) and clickWindow, over all links.
	addrClicks = 30
	// maxLimitKeys bounds each limit's memory: past it, the key seen
	// longest ago is forgotten (about 100 bytes a key).
	maxLimitKeys = 10_000
)

// clickLimiter decides which GETs of a link are recorded as clicks. Its
// keys (send ids, client addresses) live only in memory and are never
// logged.
type clickLimiter struct {
	mu    sync.Mutex
	links *window // send id and class
	addrs *window // client address
}

func newClickLimiter() *clickLimiter {
	return &clickLimiter{
		links: newWindow(linkClicks, clickWindow, maxLimitKeys),
		addrs: newWindow(addrClicks, clickWindow, maxLimitKeys),
	}
}

// allow tells whether a click of class on the link of sendID, from the
// connection's remoteAddr, is to be recorded at now. Clients on loopback
// or private addresses (a reverse proxy in front) are limited by link
// only: their address is not the candidate's.
// A nil limiter records every click (benchmarks).
func (c *clickLimiter) allow(sendID, class, remoteAddr string, now time.Time) bool {
	if c == nil {
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	// The address first: a click refused for its address must not spend
	// the link's slot, or another person's click of the same link in that
	// minute would go unrecorded.
	if addr, ok := clientKey(remoteAddr); ok && !c.addrs.allow(addr, now) {
		return false
	}
	return c.links.allow(sendID+"\x00"+class, now)
}

// clientKey is the limit key of a connection's remote address: the IPv4
// address, or the /64 of an IPv6 address (one subscriber's whole
// network); false for loopback, private and link-local addresses and
// anything unreadable.
func clientKey(remoteAddr string) (string, bool) {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return "", false
	}
	a = a.Unmap().WithZone("")
	if a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsUnspecified() {
		return "", false
	}
	if a.Is6() {
		return netip.PrefixFrom(a, 64).Masked().String(), true
	}
	return a.String(), true
}

// window allows limit events per key in each period (a fixed window that
// starts at a key's first event), for at most max keys: a new key past
// max evicts the key seen longest ago.
type window struct {
	limit   int
	period  time.Duration
	maxKeys int
	keys    map[string]*list.Element
	order   *list.List // of *slot, seen longest ago first
}

type slot struct {
	key   string
	start time.Time
	n     int
}

func newWindow(limit int, period time.Duration, maxKeys int) *window {
	return &window{limit: limit, period: period, maxKeys: maxKeys, keys: map[string]*list.Element{}, order: list.New()}
}

// allow counts an event of key at now and tells whether it is within the
// limit.
func (w *window) allow(key string, now time.Time) bool {
	if e, ok := w.keys[key]; ok {
		w.order.MoveToBack(e)
		s := e.Value.(*slot)
		if now.Sub(s.start) >= w.period || now.Before(s.start) {
			s.start, s.n = now, 0
		}
		if s.n >= w.limit {
			return false
		}
		s.n++
		return true
	}
	if w.order.Len() >= w.maxKeys {
		oldest := w.order.Front()
		delete(w.keys, oldest.Value.(*slot).key)
		w.order.Remove(oldest)
	}
	w.keys[key] = w.order.PushBack(&slot{key: key, start: now, n: 1})
	return w.limit > 0
}
