package web

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/careerrelay/careerrelay/configs"
	"github.com/careerrelay/careerrelay/internal/referral"
	"github.com/careerrelay/careerrelay/store"
)

// TestLinkOnAnotherTenantsHost: a token of acme on beta's own link host
// answers 404 and records nothing; on acme's host, on links.base_url's
// host (links written before acme had its own) and on a host the relay
// does not know, it is served. The same holds for the generic page.
func TestLinkOnAnotherTenantsHost(t *testing.T) {
	cfg := testConfig()
	cfg.Tenants[0].Links.BaseURL = "https://careers.acme.example"
	cfg.Tenants = append(cfg.Tenants, configs.Tenant{ID: "beta", Name: "ベータ株式会社", Domains: []string{"beta.example"},
		Links: configs.TenantLinks{BaseURL: "https://Careers.Beta.example"}})
	e := newRealEnvConfig(t, cfg, t.TempDir()+"/careerrelay.db", store.Options{})
	tp := &testPublic{Public: e.pub}
	tok := e.mail(t, 1)[0]
	get := func(path, host string) int {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.Host = host
		req.Header.Set("User-Agent", browserUA)
		return tp.do(req).Code
	}
	clicks := func() int {
		n := 0
		e.svc.Clicks(func(*referral.Click) error { n++; return nil })
		return n
	}
	for _, host := range []string{"careers.beta.example", "CAREERS.BETA.EXAMPLE:443", "careers.beta.example."} {
		if code := get("/c/"+tok, host); code != http.StatusNotFound {
			t.Errorf("acme's link on %s: %d, want 404", host, code)
		}
		if code := get("/t/acme", host); code != http.StatusNotFound {
			t.Errorf("acme's generic page on %s: %d, want 404", host, code)
		}
	}
	if n := clicks(); n != 0 {
		t.Fatalf("%d clicks recorded on another tenant's host", n)
	}
	for _, host := range []string{"careers.acme.example", "careers.example.jp", "127.0.0.1:8080"} {
		if code := get("/c/"+tok, host); code != http.StatusOK {
			t.Errorf("acme's link on %s: %d, want 200", host, code)
		}
	}
	if code := get("/t/beta", "careers.beta.example"); code != http.StatusOK {
		t.Errorf("beta's generic page on its host: %d", code)
	}
}

// TestSharedStoreDown: while the shared store is unreachable, a link
// answers 503 with a Japanese apology and Retry-After, recording nothing.
func TestSharedStoreDown(t *testing.T) {
	tp := newTestPublic(t)
	tp.refs.resolveFn = func(string) (*referral.Link, error) {
		return nil, fmt.Errorf("referral: resolve link: %w", store.ErrUnavailable)
	}
	rec := tp.get("/c/" + tokValid)
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" ||
		!strings.Contains(rec.Body.String(), "しばらくしてから再度お試しください") {
		t.Errorf("link while the shared store is down: %d %v\n%s", rec.Code, rec.Header(), rec.Body)
	}
	if c, r := tp.refs.counts(); c+r != 0 {
		t.Errorf("%d clicks, %d referrals recorded", c, r)
	}
}
