package web

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/careerrelay/careerrelay/configs"
	"github.com/careerrelay/careerrelay/internal/linktoken"
	"github.com/careerrelay/careerrelay/internal/metrics"
	"github.com/careerrelay/careerrelay/internal/referral"
	"github.com/careerrelay/careerrelay/internal/report"
	"github.com/careerrelay/careerrelay/store"
	dto "github.com/prometheus/client_model/go"
)

// realEnv is the pages and the admin API over the real referral service on
// a store in a temp folder, at a fixed time.
type realEnv struct {
	cfg   *configs.Config
	db    *store.DB
	svc   *referral.Service
	keys  *linktoken.Keys
	pub   *Public
	admin *Admin
}

func newRealEnv(tb testing.TB) *realEnv {
	tb.Helper()
	return newRealEnvAt(tb, filepath.Join(tb.TempDir(), "careerrelay.db"), store.Options{})
}

// newRealEnvAt is newRealEnv on the store file path, opened with opts.
func newRealEnvAt(tb testing.TB, path string, opts store.Options) *realEnv {
	tb.Helper()
	return newRealEnvConfig(tb, testConfig(), path, opts)
}

// newRealEnvConfig is newRealEnvAt with the config cfg.
func newRealEnvConfig(tb testing.TB, cfg *configs.Config, path string, opts store.Options) *realEnv {
	tb.Helper()
	db, err := store.Open(path, opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	svc, err := referral.New(cfg, db, testLog(), referral.Options{Now: func() time.Time { return testNow }})
	if err != nil {
		tb.Fatal(err)
	}
	keys, err := linktoken.NewKeys(cfg.Links.Keys)
	if err != nil {
		tb.Fatal(err)
	}
	pub, err := NewPublic(cfg, svc, db.Err, metrics.NewRegistry(cfg.TenantIDs()), testLog())
	if err != nil {
		tb.Fatal(err)
	}
	pub.pages.now = func() time.Time { return testNow }
	return &realEnv{cfg: cfg, db: db, svc: svc, keys: keys, pub: pub, admin: NewAdmin(cfg, svc, nil, testLog())}
}

// mail stores n send records of tenant acme, sent an hour before testNow,
// and returns their link tokens.
func (e *realEnv) mail(tb testing.TB, n int) []string {
	tb.Helper()
	tokens := make([]string, n)
	err := e.db.Update(context.Background(), func(tx *store.Tx) error {
		for i := range tokens {
			id := linktoken.NewSendID()
			err := tx.PutSend(&store.Send{ID: id.String(), Tenant: "acme", Rcpt: fmt.Sprintf("cand-%s@cand.example", id),
				Name: "候補 太郎", QueueID: "q" + id.String(), Sent: testNow.Add(-time.Hour)})
			if err != nil {
				return err
			}
			tokens[i] = e.keys.Mint(id)
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return tokens
}

func counterValue(t *testing.T, body, series string) float64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no %s in /metrics", series)
	}
	var v float64
	fmt.Sscan(m[1], &v)
	return v
}

// TestEndToEnd runs a candidate's whole way over real listeners and the
// real referral service: the page, the click, the consent, the redirect,
// then the operator's view through the admin API.
func TestEndToEnd(t *testing.T) {
	e := newRealEnv(t)
	if err := e.pub.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer e.pub.Shutdown(context.Background())
	if err := e.admin.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer e.admin.Shutdown(context.Background())
	base := "http://" + e.pub.Addr().String()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	do := func(method, path string, form url.Values) (*http.Response, string) {
		t.Helper()
		var body io.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		}
		req, _ := http.NewRequest(method, base+path, body)
		req.Header.Set("User-Agent", browserUA)
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	_, m := do(http.MethodGet, "/metrics", nil)
	humans := counterValue(t, m, `careerrelay_link_clicks_total{class="human",tenant="acme"}`)
	referrals := counterValue(t, m, `careerrelay_referrals_total{tenant="acme"}`)

	tok := e.mail(t, 1)[0]
	if resp, _ := do(http.MethodHead, "/c/"+tok, nil); resp.StatusCode != 200 {
		t.Errorf("HEAD: %d", resp.StatusCode)
	}
	resp, page := do(http.MethodGet, "/c/"+tok, nil)
	if resp.StatusCode != 200 || !strings.Contains(page, "株式会社アクメ") {
		t.Fatalf("GET: %d\n%s", resp.StatusCode, page)
	}
	csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(page)[1]
	version := regexp.MustCompile(`name="consent_version" value="([^"]+)"`).FindStringSubmatch(page)[1]

	form := url.Values{"csrf": {csrf}, "consent_version": {version}}
	if resp, _ := do(http.MethodPost, "/c/"+tok, form); resp.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("POST without consent: %d", resp.StatusCode)
	}
	form.Set("consent", "on")
	resp, _ = do(http.MethodPost, "/c/"+tok, form)
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || loc != "/c/"+tok {
		t.Fatalf("POST: %d %q, want 303 to the link's own page", resp.StatusCode, loc)
	}
	_, done := do(http.MethodGet, loc, nil)
	if !strings.Contains(done, "お申し込みを受け付けました") {
		t.Errorf("the page after consent is not the completion page:\n%s", done)
	}
	ref := refOnPage(t, done, regURL)
	again, _ := do(http.MethodPost, "/c/"+tok, form)
	if again.Header.Get("Location") != loc {
		t.Errorf("a second consent went to %q, want %q", again.Header.Get("Location"), loc)
	}
	// Another token: its last two characters changed (a token that
	// already ends in AA, one in 4096, gets BA instead).
	tampered := tok[:len(tok)-2] + "AA"
	if tampered == tok {
		tampered = tok[:len(tok)-2] + "BA"
	}
	if resp, _ := do(http.MethodGet, "/c/"+tampered, nil); resp.StatusCode != 404 {
		t.Errorf("tampered: %d", resp.StatusCode)
	}

	_, m = do(http.MethodGet, "/metrics", nil)
	if d := counterValue(t, m, `careerrelay_link_clicks_total{class="human",tenant="acme"}`) - humans; d != 1 {
		t.Errorf("human clicks +%v, want +1 (HEAD and POST are no clicks)", d)
	}
	if d := counterValue(t, m, `careerrelay_referrals_total{tenant="acme"}`) - referrals; d != 1 {
		t.Errorf("referrals +%v, want +1", d)
	}

	admin := func(method, path, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, "http://"+e.admin.Addr().String()+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+adminToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := admin(http.MethodGet, "/api/balance?tenant=acme", "")
	var b referral.Balance
	if json.Unmarshal([]byte(body), &b); code != 200 || b.Referrals != 1 || b.Available != 0 {
		t.Errorf("balance: %d %s", code, body)
	}
	if code, body := admin(http.MethodPost, "/api/redeem", `{"tenant":"acme","note":"too early"}`); code != http.StatusConflict {
		t.Errorf("redeem without credit: %d %s", code, body)
	}
	if code, body := admin(http.MethodGet, "/api/ledger/export?format=json", ""); code != 200 || !strings.Contains(body, ref) {
		t.Errorf("export: %d, want the referral %s in\n%s", code, ref, body)
	}
	code, body = admin(http.MethodGet, "/api/ledger/verify", "")
	var v verifyReply
	if json.Unmarshal([]byte(body), &v); code != 200 || !v.OK || v.Entries != 1 {
		t.Errorf("verify: %d %s", code, body)
	}
}

// TestEndToEndCredit refers ten candidates through the pages and redeems
// the credit they earned through the admin API.
func TestEndToEndCredit(t *testing.T) {
	e := newRealEnv(t)
	tp := &testPublic{Public: e.pub}
	for _, tok := range e.mail(t, 10) {
		if rec := tp.post("/c/"+tok, tp.consentForm(t, tok)); rec.Code != http.StatusSeeOther {
			t.Fatalf("consent: %d", rec.Code)
		}
	}
	ta := &testAdmin{Admin: e.admin}
	if rec := ta.ok(http.MethodPost, "/api/redeem", `{"tenant":"acme","note":"hire 1"}`); rec.Code != 200 {
		t.Fatalf("redeem: %d %s", rec.Code, rec.Body)
	}
	wantError(t, "second redeem", ta.ok(http.MethodPost, "/api/redeem", `{"tenant":"acme"}`), http.StatusConflict, "no_credit")
	rec := ta.ok(http.MethodGet, "/api/ledger/verify", "")
	if !strings.Contains(rec.Body.String(), `"ok": true`) || !strings.Contains(rec.Body.String(), `"entries": 12`) {
		t.Errorf("verify: %s", rec.Body)
	}
	rec = ta.ok(http.MethodGet, "/api/ledger/export?tenant=acme&format=csv", "")
	if rec.Code != 200 || strings.Count(rec.Body.String(), "\n") < 12 {
		t.Errorf("csv export: %d\n%s", rec.Code, rec.Body)
	}
}

// BenchmarkLandingGET serves landing pages in parallel over the real
// service: resolve, click (a store commit: the click limits are off) and
// render.
func BenchmarkLandingGET(b *testing.B) {
	e := newRealEnv(b)
	e.pub.pages.clicks = nil
	tokens := e.mail(b, 1000)
	h := e.pub.srv.Handler
	var n atomic.Int64
	b.SetParallelism(8) // many candidates at once: the store commits them in groups
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			tok := tokens[n.Add(1)%int64(len(tokens))]
			req := httptest.NewRequest(http.MethodGet, "/c/"+tok, nil)
			req.Header.Set("User-Agent", browserUA)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				b.Fatalf("status %d", rec.Code)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

// BenchmarkConsentPOST records a new referral per request, in parallel, over
// the real service: each is a durable commit with its ledger entries and
// webhook outbox record.
func BenchmarkConsentPOST(b *testing.B) {
	e := newRealEnv(b)
	tokens := e.mail(b, b.N)
	bodies := make([]string, len(tokens))
	for i, tok := range tokens {
		bodies[i] = url.Values{"csrf": {e.pub.pages.csrf.mint(tok, testNow)}, "consent": {"on"},
			"consent_version": {e.pub.pages.rd.consentVersion}}.Encode()
	}
	h := e.pub.srv.Handler
	var n atomic.Int64
	b.SetParallelism(8) // many candidates at once: the store commits them in groups
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1) - 1
			req := httptest.NewRequest(http.MethodPost, "/c/"+tokens[i], strings.NewReader(bodies[i]))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("User-Agent", browserUA) // a script's consent is refused
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusSeeOther {
				b.Fatalf("status %d", rec.Code)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

// TestHammeredLink is the acceptance test of issue 13's click flood:
// 30,000 GETs of one link, straight through the handler over the real
// store, grow the store file by less than 1 MB (it grew 8 MB when every
// GET was a record), the metric counts every GET, and the report counts
// one person and one human click. The candidate's consent afterwards is
// recorded as always.
func TestHammeredLink(t *testing.T) {
	e := newRealEnv(t)
	tok := e.mail(t, 1)[0]
	l, err := e.svc.Resolve(tok)
	if err != nil {
		t.Fatal(err)
	}
	// The file grows in steps of up to 1 GB (and starts at 16 MB), so its
	// size shows little; the pages in use (bbolt's high-water mark, what
	// the file must hold) show every record.
	path := e.db.Bolt().Path()
	size := func() (file, used int64) {
		t.Helper()
		if err := e.db.Bolt().Sync(); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		err = e.db.View(func(tx *store.Tx) error { used = tx.Bolt().Size(); return nil })
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size(), used
	}
	humans := humanClicks(t)
	before, usedBefore := size()
	h := e.pub.srv.Handler
	const gets = 30_000
	for i := range gets {
		req := httptest.NewRequest(http.MethodGet, "/c/"+tok, nil)
		req.Header.Set("User-Agent", browserUA)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "株式会社アクメ") {
			t.Fatalf("GET %d: %d", i+1, rec.Code)
		}
	}
	after, usedAfter := size()
	t.Logf("%d GETs: store file %d -> %d bytes, pages in use %d -> %d bytes (+%d)",
		gets, before, after, usedBefore, usedAfter, usedAfter-usedBefore)
	if after-before >= 1<<20 || usedAfter-usedBefore >= 1<<20 {
		t.Errorf("store grew %d bytes (file) and %d bytes (pages in use) for %d GETs of one link, want under 1 MB",
			after-before, usedAfter-usedBefore, gets)
	}
	if d := humanClicks(t) - humans; d != gets {
		t.Errorf("careerrelay_link_clicks_total{class=human} +%v, want +%d", d, gets)
	}
	if at, ok, err := e.svc.FirstHumanClick(l.Send.ID); err != nil || !ok || !at.Equal(testNow) {
		t.Errorf("first human click %v %v %v, want %v", at, ok, err, testNow)
	}

	// The candidate consents after all.
	form := url.Values{"csrf": {e.pub.pages.csrf.mint(tok, testNow)}, "consent": {"on"},
		"consent_version": {e.pub.pages.rd.consentVersion}}
	req := httptest.NewRequest(http.MethodPost, "/c/"+tok, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", browserUA)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("consent: %d", rec.Code)
	}

	first, last, err := report.Period("2026-04-01", "2026-04-30", testNow)
	if err != nil {
		t.Fatal(err)
	}
	r, err := report.Build(e.svc, e.cfg.TenantByID("acme"), first, last)
	if err != nil {
		t.Fatal(err)
	}
	if f := r.Total; f.LinksSent != 1 || f.LinksClicked != 1 || f.HumanClicks != 1 || f.BotClicks != 0 || f.Referrals != 1 {
		t.Errorf("report %+v, want 1 link sent, clicked by 1 person with 1 human click, 1 referral", f)
	}
}

// humanClicks reads careerrelay_link_clicks_total{tenant="acme",class="human"}.
func humanClicks(t *testing.T) float64 {
	t.Helper()
	var m dto.Metric
	if err := metrics.LinkClicks.WithLabelValues("acme", referral.Human).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}
