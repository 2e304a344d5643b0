package web

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/careerrelay/careerrelay/internal/referral"
	"github.com/careerrelay/careerrelay/internal/report"
	"github.com/careerrelay/careerrelay/store"
)

// TestWithdrawal: after consent the link shows where the application
// stands with a withdrawal form; withdrawing needs the form token, is
// recorded, leaves the counts as they were, and the link then says it is
// withdrawn, with no form.
func TestWithdrawal(t *testing.T) {
	e := newRealEnv(t)
	tp := &testPublic{Public: e.pub}
	tok := e.mail(t, 1)[0]
	if rec := tp.post("/c/"+tok, tp.consentForm(t, tok)); rec.Code != http.StatusSeeOther {
		t.Fatalf("consent: %d", rec.Code)
	}
	page := tp.get("/c/" + tok).Body.String()
	for _, want := range []string{"お申し込みを受け付けました", "お申し込みを取り消す", `action="/c/` + tok + `/withdraw"`, "ref="} {
		if !strings.Contains(page, want) {
			t.Errorf("the page after consent lacks %q", want)
		}
	}
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatal("no form token on the page after consent")
	}
	if rec := tp.post("/c/"+tok+"/withdraw", url.Values{}); rec.Code != http.StatusForbidden {
		t.Errorf("withdrawal without the form token: %d", rec.Code)
	}
	refs, _ := e.svc.Referrals("acme")
	if len(refs) != 1 || refs[0].WithdrawnAt != nil {
		t.Fatalf("after a refused withdrawal: %+v", refs)
	}
	rec := tp.post("/c/"+tok+"/withdraw", url.Values{"csrf": {m[1]}})
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "お申し込みを取り消しました") {
		t.Errorf("withdrawal: %d\n%s", rec.Code, rec.Body)
	}
	refs, _ = e.svc.Referrals("acme")
	if len(refs) != 1 || refs[0].WithdrawnAt == nil {
		t.Fatalf("after the withdrawal: %+v", refs)
	}
	if b, _ := e.svc.Balance("acme"); b.Referrals != 1 {
		t.Errorf("the withdrawal changed the count: %+v", b)
	}
	page = tp.get("/c/" + tok).Body.String()
	if !strings.Contains(page, "お申し込みは取り消し済みです") || strings.Contains(page, "<form") {
		t.Errorf("the link after the withdrawal:\n%s", page)
	}
}

// TestScannerNetwork: from links.scanner_networks a click is a bot and a
// consent does not count (the person is told to use their own browser),
// also behind a trusted proxy; from elsewhere the same form counts.
func TestScannerNetwork(t *testing.T) {
	cfg := testConfig()
	cfg.Links.Scanners = []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}
	cfg.HTTP.Proxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	e := newRealEnvConfig(t, cfg, t.TempDir()+"/careerrelay.db", store.Options{})
	tp := &testPublic{Public: e.pub}
	tok := e.mail(t, 1)[0]
	form := tp.consentForm(t, tok)
	post := func(remote, xff string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/c/"+tok, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("User-Agent", browserUA)
		req.RemoteAddr = remote
		if xff != "" {
			req.Header.Set("X-Forwarded-For", xff)
		}
		return tp.do(req)
	}
	for _, c := range [][2]string{{"198.51.100.7:4000", ""}, {"127.0.0.1:4000", "198.51.100.9"}} {
		if rec := post(c[0], c[1]); rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), "ふだんお使いのブラウザ") {
			t.Errorf("consent from %v: %d", c, rec.Code)
		}
	}
	if b, _ := e.svc.Balance("acme"); b.Referrals != 0 {
		t.Fatalf("%d referrals from a scanner network", b.Referrals)
	}
	if rec := post("127.0.0.1:4000", "203.0.113.5, 198.51.100.9"); rec.Code != http.StatusForbidden {
		// the last hop before the trusted proxy is the scanner
		t.Errorf("consent relayed for a scanner: %d", rec.Code)
	}
	if rec := post("203.0.113.5:4000", ""); rec.Code != http.StatusSeeOther {
		t.Errorf("consent from a person's network: %d", rec.Code)
	}
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.RemoteAddr = "198.51.100.7:1"
	req.Header.Set("User-Agent", browserUA)
	if got := clickClass(req, testNow.Add(-time.Hour), testNow, time.Second, inAny(clientAddr(req, nil), cfg.Links.Scanners)); got != referral.Bot {
		t.Errorf("a click from a scanner network is %s", got)
	}
}

func TestClientAddr(t *testing.T) {
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/24"), netip.MustParsePrefix("::1/128")}
	for _, c := range []struct{ remote, xff, want string }{
		{"203.0.113.5:1234", "", "203.0.113.5"},
		{"203.0.113.5:1234", "198.51.100.1", "203.0.113.5"}, // not a trusted proxy: its header is not read
		{"10.0.0.7:1234", "198.51.100.1", "198.51.100.1"},
		{"10.0.0.7:1234", "192.0.2.66, 198.51.100.1, 10.0.0.8", "198.51.100.1"}, // a chain of trusted proxies
		{"10.0.0.7:1234", "", "10.0.0.7"},
		{"10.0.0.7:1234", "junk, 198.51.100.1", "198.51.100.1"},
		{"10.0.0.7:1234", "198.51.100.1, junk", "10.0.0.7"},
		{"[::1]:1234", "2001:db8::5", "2001:db8::5"},
		{"[::ffff:203.0.113.9]:1", "", "203.0.113.9"},
	} {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.RemoteAddr = c.remote
		if c.xff != "" {
			req.Header.Set("X-Forwarded-For", c.xff)
		}
		if got := clientAddr(req, proxies); got.String() != c.want {
			t.Errorf("%s via %q: %s, want %s", c.remote, c.xff, got, c.want)
		}
	}
}

// TestConsentSignals: the referral keeps the signals of its consent: a
// consent soon after the mail, the third from one network in a day, one
// from the company's own mail server network.
func TestConsentSignals(t *testing.T) {
	cfg := testConfig()
	cfg.SMTP.Networks = []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}
	e := newRealEnvConfig(t, cfg, t.TempDir()+"/careerrelay.db", store.Options{})
	tp := &testPublic{Public: e.pub}
	toks := e.mail(t, 4)
	for i, remote := range []string{"203.0.113.1:1", "203.0.113.2:1", "203.0.113.3:1", "192.0.2.10:1"} {
		req := httptest.NewRequest(http.MethodPost, "/c/"+toks[i], strings.NewReader(tp.consentForm(t, toks[i]).Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("User-Agent", browserUA)
		req.RemoteAddr = remote
		if rec := tp.do(req); rec.Code != http.StatusSeeOther {
			t.Fatalf("consent %d: %d", i, rec.Code)
		}
	}
	refs, _ := e.svc.Referrals("acme")
	names := func(r referral.Referral) []string {
		var out []string
		for _, s := range r.Signals {
			out = append(out, s.Name)
		}
		return out
	}
	// The mails were delivered an hour before: no quick_consent.
	for i, want := range [][]string{nil, nil, {"shared_network"}, {"sender_network"}} {
		if got := names(refs[i]); !slices.Equal(got, want) {
			t.Errorf("referral %d signals %v, want %v", i+1, got, want)
		}
		if refs[i].ConsentSeconds != 3600 {
			t.Errorf("referral %d consent_seconds %d", i+1, refs[i].ConsentSeconds)
		}
	}
	if refs[2].Signals[0].Consents != 3 {
		t.Errorf("shared_network consents = %d", refs[2].Signals[0].Consents)
	}
	// The report counts them, and its page says so.
	rep, err := report.Build(e.svc, cfg.TenantByID("acme"), testNow.AddDate(0, 0, -1), testNow)
	if err != nil {
		t.Fatal(err)
	}
	if f := rep.Total; f.ReferralsFlagged != 2 || f.SignalSharedNetwork != 1 || f.SignalSenderNetwork != 1 || f.SignalQuickConsent != 0 {
		t.Errorf("report figures %+v", f)
	}
	var page strings.Builder
	if err := rep.WriteHTML(&page); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(page.String(), "兆候のある申込 2名") {
		t.Error("the report page does not show the referrals with signals")
	}
}
