package web

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/careerrelay/careerrelay/configs"
	"github.com/careerrelay/careerrelay/internal/referral"
	"github.com/careerrelay/careerrelay/store"
	"github.com/prometheus/client_golang/prometheus"
)

// Test fixtures: one tenant, a valid, an expired and an expired-without-
// link token, at a fixed time.
const (
	tokValid    = "k1.VALIDVALIDVALIDVALIDVALIDVALIDVALIDVALID"
	tokExpired  = "k1.EXPIREDEXPIREDEXPIREDEXPIREDEXPIREDEXPI"
	tokOther    = "k1.OTHEROTHEROTHEROTHEROTHEROTHEROTHEROTHER"
	candAddr    = "Taro.Kouho@cand.example"
	candName    = "候補 太郎"
	regURL      = "https://agency.example/register?src=careerrelay"
	adminToken  = "admin-token-0123456789abcdef0123456789"
	browserUA   = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
	wantCSP     = "default-src 'none'; style-src 'self'; img-src https: 'self'; form-action 'self' https://agency.example; frame-ancestors 'none'; base-uri 'none'"
	genericAcme = "https://careers.example.jp/t/acme"
)

var testNow = time.Date(2026, 4, 1, 10, 0, 0, 0, time.UTC)

func testConfig() *configs.Config {
	return &configs.Config{
		Links: configs.Links{
			BaseURL:   "https://careers.example.jp",
			Keys:      []configs.LinkKey{{ID: "k1", Secret: bytes.Repeat([]byte("s"), 32)}},
			TTL:       4320 * time.Hour,
			BotWindow: 10 * time.Second,
		},
		Admin:  configs.Admin{Listen: "127.0.0.1:0", Token: adminToken},
		Agency: configs.Agency{Name: "テスト人材紹介", RegistrationURL: regURL},
		Tenants: []configs.Tenant{{
			ID: "acme", Name: "株式会社アクメ", Domains: []string{"acme.example"},
			Color: "#0055AA", LogoURL: "https://acme.example/logo.png", ReferralsPerCredit: 10,
		}},
	}
}

type click struct {
	send, class string
}

// fakeRefs is the referral service as the pages see it.
type fakeRefs struct {
	mu        sync.Mutex
	links     map[string]*referral.Link
	expired   map[string]*referral.Link
	clicks    []click
	referrals map[string]*referral.Referral // tenant + lower(address)
	consented []string                      // consent versions, one per Refer call
	referErr  error
	resolveFn func(string) (*referral.Link, error) // overrides when set
}

func newFakeRefs(cfg *configs.Config, sent time.Time) *fakeRefs {
	t := cfg.TenantByID("acme")
	return &fakeRefs{
		links: map[string]*referral.Link{
			tokValid: {Tenant: t, Send: &store.Send{ID: "aa01", Tenant: "acme", Rcpt: candAddr, Name: candName, Sent: sent}},
			tokOther: {Tenant: t, Send: &store.Send{ID: "aa02", Tenant: "acme", Rcpt: "other@cand.example", Sent: sent}},
		},
		expired: map[string]*referral.Link{
			tokExpired: {Tenant: t, Send: &store.Send{ID: "aa03", Tenant: "acme", Rcpt: candAddr, Sent: sent.Add(-200 * 24 * time.Hour)}},
		},
		referrals: map[string]*referral.Referral{},
	}
}

func (f *fakeRefs) Resolve(token string) (*referral.Link, error) {
	if f.resolveFn != nil {
		return f.resolveFn(token)
	}
	if l, ok := f.links[token]; ok {
		f.mu.Lock()
		defer f.mu.Unlock()
		c := *l
		c.Referral = f.referrals[l.Tenant.ID+"\x00"+strings.ToLower(l.Send.Rcpt)]
		return &c, nil
	}
	if l, ok := f.expired[token]; ok {
		return l, referral.ErrExpired
	}
	return nil, referral.ErrInvalidToken
}

func (f *fakeRefs) RecordClick(ctx context.Context, l *referral.Link, class string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.clicks = append(f.clicks, click{l.Send.ID, class})
	return nil
}

func (f *fakeRefs) ReferFrom(ctx context.Context, l *referral.Link, consentVersion string, client netip.Addr) (*referral.Referral, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.referErr != nil {
		return nil, f.referErr
	}
	f.consented = append(f.consented, consentVersion)
	key := l.Tenant.ID + "\x00" + strings.ToLower(l.Send.Rcpt)
	if r, ok := f.referrals[key]; ok {
		return r, nil
	}
	r := &referral.Referral{ID: fmt.Sprintf("R%d", len(f.referrals)+1), Tenant: l.Tenant.ID, SendID: l.Send.ID,
		Candidate: l.Send.Rcpt, ConsentVersion: consentVersion, Seq: len(f.referrals) + 1}
	f.referrals[key] = r
	return r, nil
}

func (f *fakeRefs) Withdraw(ctx context.Context, l *referral.Link) (*referral.Referral, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.referrals[l.Tenant.ID+"\x00"+strings.ToLower(l.Send.Rcpt)]
	if r == nil {
		return nil, referral.ErrNotReferred
	}
	if r.WithdrawnAt == nil {
		now := time.Now().UTC()
		r.WithdrawnAt = &now
	}
	return r, nil
}

func (f *fakeRefs) counts() (clicks, referrals int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.clicks), len(f.referrals)
}

// fakeLedger is the referral service as the admin API sees it.
type fakeLedger struct {
	mu        sync.Mutex
	granted   map[string]int
	redeemed  map[string]int
	entries   []referral.Entry
	voided    map[string]bool
	exportErr error
	failAfter bool // exportErr after writing a line
}

func (f *fakeLedger) Balance(tenant string) (*referral.Balance, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if tenant != "acme" {
		return nil, referral.ErrUnknownTenant
	}
	g, r := f.granted[tenant], f.redeemed[tenant]
	return &referral.Balance{Tenant: tenant, Referrals: 10 * g, Granted: g, Redeemed: r, Available: g - r}, nil
}

func (f *fakeLedger) Redeem(ctx context.Context, tenant, note string) (*referral.Entry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if tenant != "acme" {
		return nil, referral.ErrUnknownTenant
	}
	if f.granted[tenant]-f.redeemed[tenant] <= 0 {
		return nil, fmt.Errorf("redeem %s: %w", tenant, referral.ErrNoCredit)
	}
	f.redeemed[tenant]++
	e := referral.Entry{Seq: uint64(len(f.entries) + 1), Time: testNow, Tenant: tenant, Kind: "redeem", Amount: -1, Note: note}
	f.entries = append(f.entries, e)
	return &e, nil
}

// Void knows the referrals "R1" and "R2" of acme; a void of either
// revokes a credit.
func (f *fakeLedger) Void(ctx context.Context, id, reason string) ([]referral.Entry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if id != "R1" && id != "R2" {
		return nil, fmt.Errorf("%w: %s", referral.ErrNotFound, id)
	}
	if f.voided[id] {
		return nil, fmt.Errorf("%w: %s", referral.ErrAlreadyVoided, id)
	}
	if f.voided == nil {
		f.voided = map[string]bool{}
	}
	f.voided[id] = true
	n := uint64(len(f.entries))
	es := []referral.Entry{
		{Seq: n + 1, Time: testNow, Tenant: "acme", Kind: referral.KindVoid, ReferralID: id, Note: reason},
		{Seq: n + 2, Time: testNow, Tenant: "acme", Kind: referral.KindRevoke, ReferralID: id, Amount: -1},
	}
	f.entries = append(f.entries, es...)
	return es, nil
}

func (f *fakeLedger) Ledger() ([]referral.Entry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]referral.Entry(nil), f.entries...), nil
}

func (f *fakeLedger) Export(w io.Writer, tenant, format string) error {
	if f.exportErr != nil && !f.failAfter {
		return f.exportErr
	}
	if format == "csv" {
		fmt.Fprintf(w, "seq,time,tenant,kind\n")
	} else {
		fmt.Fprintf(w, "[]\n")
	}
	return f.exportErr
}

// testPublic is a Public on the fake service at testNow, with its log.
type testPublic struct {
	*Public
	refs *fakeRefs
	log  *bytes.Buffer
}

func newTestPublic(t testing.TB) *testPublic {
	t.Helper()
	cfg := testConfig()
	refs := newFakeRefs(cfg, testNow.Add(-time.Hour))
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&syncWriter{w: &buf}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	p, err := NewPublic(cfg, refs, nil, prometheus.NewRegistry(), log)
	if err != nil {
		t.Fatal(err)
	}
	p.pages.now = func() time.Time { return testNow }
	return &testPublic{Public: p, refs: refs, log: &buf}
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// do serves req and returns the recorded reply.
func (tp *testPublic) do(req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	tp.srv.Handler.ServeHTTP(rec, req)
	return rec
}

func (tp *testPublic) get(path string, hdr ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, path, nil)
	req.Header.Set("User-Agent", browserUA)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return tp.do(req)
}

// formToken is the CSRF field of the landing page of token.
func (tp *testPublic) formToken(t testing.TB, token string) string {
	t.Helper()
	rec := tp.get("/c/" + token)
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(rec.Body.String())
	if m == nil {
		t.Fatalf("no csrf field in the landing page:\n%s", rec.Body)
	}
	return m[1]
}

// post submits the consent form of token with form values.
func (tp *testPublic) post(path string, form url.Values, hdr ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", browserUA)
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i] == "Host" {
			req.Host = hdr[i+1]
		}
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return tp.do(req)
}

// consentForm is a correctly filled consent form for token.
func (tp *testPublic) consentForm(t testing.TB, token string) url.Values {
	return url.Values{
		"csrf":            {tp.pages.csrf.mint(token, testNow)},
		"consent":         {"on"},
		"consent_version": {tp.pages.rd.consentVersion},
	}
}

var errBoom = errors.New("boom: disk on fire")

func testLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

// agencyLinkRE finds the completion page's button to the agency.
var agencyLinkRE = regexp.MustCompile(`<a class="button" href="([^"]+)"`)

// refOnPage returns the ref= of the agency button on an after-consent
// page, checking that the button goes to the configured registration URL.
func refOnPage(t testing.TB, page, registration string) string {
	t.Helper()
	m := agencyLinkRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no button to the agency on the page:\n%s", page)
	}
	u, err := url.Parse(html.UnescapeString(m[1]))
	if err != nil || !strings.HasPrefix(u.String(), registration) || u.Query().Get("ref") == "" {
		t.Fatalf("the agency button goes to %q, want %s with ref=", m[1], registration)
	}
	return u.Query().Get("ref")
}

// consented checks a consent POST's answer (303 to the link's own page)
// and returns the ref= that page offers on to the agency.
func (tp *testPublic) consented(t testing.TB, rec *httptest.ResponseRecorder, token string) string {
	t.Helper()
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/c/"+token {
		t.Fatalf("consent: %d to %q, want 303 to /c/%s\n%s", rec.Code, rec.Header().Get("Location"), token, rec.Body)
	}
	return refOnPage(t, tp.get("/c/"+token).Body.String(), tp.pages.cfg.Agency.RegistrationURL)
}
