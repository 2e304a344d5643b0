package web

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/careerrelay/careerrelay/internal/referral"
	"github.com/careerrelay/careerrelay/store"
)

func TestWindow(t *testing.T) {
	w := newWindow(2, time.Minute, 3)
	at := testNow
	for i, want := range []bool{true, true, false, false} {
		if got := w.allow("a", at.Add(time.Duration(i)*time.Second)); got != want {
			t.Errorf("event %d: %v, want %v", i+1, got, want)
		}
	}
	for i, want := range []bool{true, true, false} {
		if got := w.allow("a", at.Add(time.Minute)); got != want {
			t.Errorf("a minute later, event %d: %v, want %v", i+1, got, want)
		}
	}
	// A clock stepped back starts a new window rather than blocking.
	if !w.allow("a", at.Add(-time.Hour)) {
		t.Error("a clock stepped back blocked the key")
	}

	// At most three keys: the fourth evicts the one seen longest ago ("b";
	// "a" was seen after it), which starts afresh.
	w.allow("b", at)
	w.allow("b", at)
	w.allow("c", at)
	w.allow("a", at.Add(-time.Hour))
	w.allow("d", at)
	if len(w.keys) != 3 || w.order.Len() != 3 {
		t.Fatalf("%d keys, %d in order; want 3", len(w.keys), w.order.Len())
	}
	if _, ok := w.keys["b"]; ok {
		t.Error("b, seen longest ago, was kept")
	}
	if !w.allow("b", at) {
		t.Error("an evicted key was still limited")
	}
}

func TestClientKey(t *testing.T) {
	for addr, want := range map[string]string{
		"203.0.113.7:50000":                "203.0.113.7",
		"[2001:db8:1:2:3:4:5:6]:443":       "2001:db8:1:2::/64",
		"[2001:db8:1:2:ffff::1]:443":       "2001:db8:1:2::/64",
		"[::ffff:203.0.113.7]:1":           "203.0.113.7",
		"127.0.0.1:9":                      "",
		"[::1]:9":                          "",
		"10.1.2.3:9":                       "",
		"192.168.0.2:9":                    "",
		"[fd00::1]:9":                      "",
		"[fe80::1%eth0]:9":                 "",
		"not an address":                   "",
		"":                                 "",
		"198.51.100.1":                     "198.51.100.1",
		"[2001:db8:0:1:0:0:0:1%zone]:8080": "2001:db8:0:1::/64",
	} {
		got, ok := clientKey(addr)
		if got != want || ok != (want != "") {
			t.Errorf("clientKey(%q) = %q, %v; want %q", addr, got, ok, want)
		}
	}
}

// TestClickLimits: the same link is recorded once a minute per class, a
// client address at most addrClicks times a minute over all links, and a
// client behind a private address (a reverse proxy) only by link; every
// GET gets its page.
func TestClickLimits(t *testing.T) {
	tp := newTestPublic(t)
	acme := tp.refs.links[tokValid].Tenant
	tp.refs.resolveFn = func(token string) (*referral.Link, error) {
		return &referral.Link{Tenant: acme, Send: &store.Send{ID: token, Tenant: "acme", Sent: testNow.Add(-time.Hour)}}, nil
	}
	get := func(token, remote, ua string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, "/c/"+token, nil)
		req.RemoteAddr = remote
		req.Header.Set("User-Agent", ua)
		if rec := tp.do(req); rec.Code != http.StatusOK {
			t.Fatalf("GET %s from %s: %d", token, remote, rec.Code)
		}
	}
	recorded := func() int { c, _ := tp.refs.counts(); return c }

	get("aa01", "203.0.113.7:1", browserUA)
	get("aa01", "203.0.113.7:1", browserUA)
	get("aa01", "203.0.113.8:1", browserUA)
	if n := recorded(); n != 1 {
		t.Errorf("three human GETs of one link in a minute recorded %d clicks, want 1", n)
	}
	get("aa01", "203.0.113.7:1", "curl/8.5.0")
	if n := recorded(); n != 2 || tp.refs.clicks[1].class != referral.Bot {
		t.Errorf("a bot GET after the human one: %v, want it recorded", tp.refs.clicks)
	}
	now := testNow
	tp.pages.now = func() time.Time { return now }
	now = now.Add(clickWindow)
	get("aa01", "203.0.113.7:1", browserUA)
	if n := recorded(); n != 3 {
		t.Errorf("a human GET a minute later: %d clicks, want 3", n)
	}

	// One address (an IPv6 /64), many links.
	tp.pages.clicks = newClickLimiter()
	before := recorded()
	for i := range addrClicks + 5 {
		get(fmt.Sprintf("aa%02d", i), fmt.Sprintf("[2001:db8::%x]:1", i+1), browserUA)
	}
	if n := recorded() - before; n != addrClicks {
		t.Errorf("%d links from one /64: %d recorded, want %d", addrClicks+5, n, addrClicks)
	}
	// A click refused for its address spends no slot of its link: another
	// person's click of that link in the same minute is recorded.
	before = recorded()
	get(fmt.Sprintf("aa%02d", addrClicks+4), "203.0.113.99:1", browserUA)
	if n := recorded() - before; n != 1 {
		t.Errorf("another address's click of a link the flooding /64 was refused on: %d recorded, want 1", n)
	}
	before = recorded()
	for i := range addrClicks + 5 {
		get(fmt.Sprintf("ab%02d", i), "10.0.0.1:1", browserUA)
	}
	if n := recorded() - before; n != addrClicks+5 {
		t.Errorf("%d links through a proxy on a private address: %d recorded, want all", addrClicks+5, n)
	}
}
