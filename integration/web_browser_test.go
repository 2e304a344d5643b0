package integration

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/careerrelay/careerrelay/internal/referral"
	"github.com/careerrelay/careerrelay/internal/testlib"
)

// keepArtifact writes data to artifacts/name (testlib.KeepArtifact).
func keepArtifact(t *testing.T, name string, data []byte) string {
	t.Helper()
	return testlib.KeepArtifact(t, name, data)
}

// testAgency is the agency's registration site: one page, and the ref= of
// each visit.
type testAgency struct {
	*httptest.Server
	mu   sync.Mutex
	refs []string
}

func newTestAgency(t *testing.T) *testAgency {
	a := &testAgency{}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Path != "/register" {
			http.NotFound(w, r)
			return
		}
		a.mu.Lock()
		a.refs = append(a.refs, r.URL.Query().Get("ref"))
		a.mu.Unlock()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!doctype html><html lang="en"><title>Agency</title><h1>Agency registration</h1>`)
	}))
	t.Cleanup(a.Close)
	return a
}

func (a *testAgency) visits() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.refs...)
}

// TestWebBrowserConsent is the consent flow in a real browser (headless
// chromium driven with chromedp, testlib.NewBrowser): the personal link of a
// relayed mail opens the landing page (kept as
// artifacts/TestWebBrowserConsent-landing.png), the person
// ticks the consent box and presses the button, and the browser ends on the
// agency's registration page with ref=<the referral id the relay recorded>.
// The page has no JavaScript: the browser posts the form and follows the 303
// with the relay's CSP (form-action) in force.
func TestWebBrowserConsent(t *testing.T) {
	t.Parallel()
	agency := newTestAgency(t)
	regURL := agency.URL + "/register"
	sink := newSink(t, nil)
	r := StartRelay(t, sink.Addr, withLocalLinks, func(dir string, c *Config) {
		c.Agency.RegistrationURL = regURL
	})
	link := relayLinks(t, r, sink, "hanako@cand.example")["hanako@cand.example"]

	b := testlib.NewBrowser(t, &testlib.BrowserOptions{Width: 390, Height: 844})
	b.Navigate(link)
	if got := b.URL(); got != link {
		t.Fatalf("the browser is at %s after opening %s", got, link)
	}
	page := b.Source()
	for _, want := range []string{"株式会社アクメ", "Example Career Agency", `name="consent"`, "無料", "任意", "選考に影響なし"} {
		if !strings.Contains(page, want) {
			t.Errorf("the landing page in the browser lacks %q", want)
		}
	}
	if strings.Contains(page, "同意文バージョン") {
		t.Error("the landing page shows the consent version to the person")
	}
	// At 390x844 the consent button is on the first screen.
	if btn := b.Find(`form.apply button[type="submit"]`).Rect(); btn.Y < 0 || btn.Y+btn.Height > 844 || btn.X < 0 || btn.X+btn.Width > 390 {
		t.Errorf("the consent button's box %+v is not inside the first screen (390x844)", btn)
	}
	testlib.ShotsAt(t, b, "landing", 1280, 390)
	if n, _ := balance(t, r); n != 0 {
		t.Fatalf("%d referrals after the browser opened the page, want 0", n)
	}

	b.SetViewport(390, 844)
	box := b.Find(`input[type="checkbox"][name="consent"]`)
	if box.Selected() {
		t.Fatal("the consent box is ticked before the person ticks it")
	}
	box.Click()
	if !box.Selected() {
		t.Fatal("the consent box is not ticked after a click")
	}
	b.Find(`form.apply button[type="submit"]`).Click()
	testlib.WaitFor(t, 30*time.Second, "the completion page", func() bool {
		return strings.Contains(b.SourceNow(), "お申し込みを受け付けました")
	})
	if got := b.URL(); got != link {
		t.Errorf("the completion page is at %s, want the link %s", got, link)
	}
	testlib.ShotsAt(t, b, "completion", 1280, 390)

	b.SetViewport(390, 844)
	b.Find("a.button").Click()
	var final string
	testlib.WaitFor(t, 30*time.Second, "the browser to reach the agency's page", func() bool {
		final = b.URL()
		return strings.HasPrefix(final, regURL+"?")
	})
	u, err := url.Parse(final)
	if err != nil {
		t.Fatal(err)
	}
	ref := u.Query().Get("ref")
	if ref == "" || len(u.Query()) != 1 {
		t.Fatalf("final URL %s, want %s?ref=<id> and nothing else", final, regURL)
	}
	if h := b.Find("h1").Text(); h != "Agency registration" {
		t.Errorf("the agency page's heading in the browser = %q", h)
	}
	if v := agency.visits(); len(v) != 1 || v[0] != ref {
		t.Errorf("the agency saw visits with ref %q, want exactly [%s]", v, ref)
	}

	// The ref is the referral the relay recorded for this candidate.
	if n, _ := balance(t, r); n != 1 {
		t.Fatalf("%d referrals after the browser's consent, want 1", n)
	}
	entries := ledgerEntries(t, r)
	if len(entries) != 1 || entries[0].Kind != "referral" || entries[0].ReferralID != ref {
		t.Errorf("ledger = %+v, want one referral entry with id %s", entries, ref)
	}

	// Back on the link: the application, the way on to the agency with
	// the same ref, and the withdrawal form.
	b.Navigate(link)
	if href := b.Find("a.button").Attr("href"); !strings.HasSuffix(href, "ref="+ref) {
		t.Errorf("the way on to the agency is %q, want ref=%s", href, ref)
	}
	b.Find(`form[action$="/withdraw"] button`).Click()
	testlib.WaitFor(t, 30*time.Second, "the page after the withdrawal", func() bool {
		return strings.Contains(b.SourceNow(), "お申し込みを取り消しました")
	})
	testlib.ShotsAt(t, b, "withdrawn", 1280, 390)
	if n, _ := balance(t, r); n != 1 {
		t.Errorf("%d referrals after the withdrawal, want 1 (counts do not change)", n)
	}
	b.Navigate(link)
	if h := b.Find("h1").Text(); h != "お申し込みは取り消し済みです" || b.Count("form") != 0 {
		t.Errorf("the link after the withdrawal shows %q with %d forms", h, b.Count("form"))
	}
}

// ledgerEntries returns the tenant's ledger through `careerrelay ledger
// export -format json`.
func ledgerEntries(t *testing.T, r *Relay) []referral.Entry {
	t.Helper()
	out, code := runBinary(t, "ledger", "export", "-config", r.ConfigPath, "-ready-file", r.ReadyPath, "-tenant", tenantID, "-format", "json")
	if code != 0 {
		t.Fatalf("ledger export: exit %d: %s", code, out)
	}
	entries, err := referral.ParseExport(strings.NewReader(out), "json")
	if err != nil {
		t.Fatalf("ledger export: %v\n%s", err, out)
	}
	return entries
}
