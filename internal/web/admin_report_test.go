package web

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/careerrelay/careerrelay/internal/report"
	"github.com/careerrelay/careerrelay/internal/report/reporttest"
	"github.com/careerrelay/careerrelay/store"
)

// newReportAdmin is the admin API over the real referral service and a
// store holding reporttest's scripted history of tenant acme.
func newReportAdmin(t *testing.T) *testAdmin {
	t.Helper()
	cfg := testConfig()
	cfg.Tenants[0].ReferralsPerCredit = reporttest.PerCredit
	db, err := store.Open(filepath.Join(t.TempDir(), "careerrelay.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	svc, err := reporttest.Play(context.Background(), cfg, db, "acme", "")
	if err != nil {
		t.Fatal(err)
	}
	return &testAdmin{Admin: NewAdmin(cfg, svc, nil, testLog())}
}

func TestAdminReport(t *testing.T) {
	ta := newReportAdmin(t)
	period := "&from=" + reporttest.From + "&to=" + reporttest.To

	rec := ta.ok(http.MethodGet, "/api/report?tenant=acme&format=json"+period, "")
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("json: %d %q: %s", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
	}
	var r report.Report
	if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil {
		t.Fatal(err)
	}
	w := reporttest.Want
	if r.Total.LinksSent != w.Total.Sent || r.Total.LinksClicked != w.Total.Clicked || r.Total.Referrals != w.Total.Referrals ||
		r.Total.CreditsGranted != w.Total.Granted || r.Total.CreditsRedeemed != w.Total.Redeemed || len(r.Months) != 2 {
		t.Errorf("json total %+v, want %+v", r.Total, w.Total)
	}
	if r.Credit.Remaining != w.Remaining {
		t.Errorf("credit %+v", r.Credit)
	}
	if cd := rec.Header().Get("Content-Disposition"); cd != `inline; filename=careerrelay-report-acme-2026-03-01_2026-04-30.json` {
		t.Errorf("Content-Disposition %q", cd)
	}

	rec = ta.ok(http.MethodGet, "/api/report?tenant=acme&format=csv"+period, "")
	rows, err := csv.NewReader(rec.Body).ReadAll()
	if rec.Code != http.StatusOK || err != nil || len(rows) != 4 || rows[3][3] != "total" || rows[3][4] != "10" {
		t.Errorf("csv: %d %v %q", rec.Code, err, rows)
	}

	// HTML is the default format, with its own CSP.
	rec = ta.ok(http.MethodGet, "/api/report?tenant=acme"+period, "")
	if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") ||
		!strings.Contains(rec.Header().Get("Content-Security-Policy"), "default-src 'none'") ||
		!strings.Contains(rec.Body.String(), "株式会社アクメ") {
		t.Errorf("html: %d %v", rec.Code, rec.Header())
	}
	// In Japanese by default; lang=en and both for the page only.
	if ja := rec.Body.String(); !strings.Contains(ja, `lang="ja"`) || !strings.Contains(ja, "キャリア相談申込") || strings.Contains(ja, "Applied") {
		t.Error("html: not the Japanese page by default")
	}
	if en := ta.ok(http.MethodGet, "/api/report?tenant=acme&lang=en"+period, "").Body.String(); !strings.Contains(en, `lang="en"`) || strings.Contains(en, "キャリア相談申込") {
		t.Error("lang=en: not the English page")
	}
	if both := ta.ok(http.MethodGet, "/api/report?tenant=acme&lang=both"+period, "").Body.String(); !strings.Contains(both, `キャリア相談申込 <span class="en" lang="en">Applied`) {
		t.Error("lang=both: not both languages")
	}
	if js := ta.ok(http.MethodGet, "/api/report?tenant=acme&format=json&lang=en"+period, ""); js.Code != http.StatusOK || !strings.Contains(js.Body.String(), `"consent_rate"`) {
		t.Errorf("json with lang=en: %d", js.Code)
	}
	if rec := ta.ok(http.MethodHead, "/api/report?tenant=acme"+period, ""); rec.Code != http.StatusOK || rec.Body.Len() != 0 {
		t.Errorf("HEAD: %d, %d bytes", rec.Code, rec.Body.Len())
	}

	// The period filters: March alone.
	rec = ta.ok(http.MethodGet, "/api/report?tenant=acme&format=json&from=2026-03-01&to=2026-03-31", "")
	r = report.Report{}
	json.Unmarshal(rec.Body.Bytes(), &r)
	if r.Total.LinksSent != w.Months[0].Sent || r.Total.Referrals != w.Months[0].Referrals || r.Total.CreditsRedeemed != 0 {
		t.Errorf("March: %+v", r.Total)
	}
}

func TestAdminReportDefaultPeriod(t *testing.T) {
	ta := newReportAdmin(t)
	defer func(f func() time.Time) { reportNow = f }(reportNow)
	reportNow = func() time.Time { return time.Date(2026, 4, 30, 15, 30, 0, 0, time.UTC) } // May 1 in Japan
	rec := ta.ok(http.MethodGet, "/api/report?tenant=acme&format=json", "")
	var r report.Report
	if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil {
		t.Fatalf("%d: %s", rec.Code, rec.Body)
	}
	if r.From != "2025-06-01" || r.To != "2026-05-01" || len(r.Months) != 12 {
		t.Errorf("default period %s..%s, %d months", r.From, r.To, len(r.Months))
	}
}

func TestAdminReportErrors(t *testing.T) {
	ta := newReportAdmin(t)
	for _, tc := range []struct {
		method, path string
		status       int
		code         string
	}{
		{"GET", "/api/report", 400, "bad_request"},
		{"GET", "/api/report?tenant=nobody", 404, "not_found"},
		{"GET", "/api/report?tenant=acme&format=pdf", 400, "bad_request"},
		{"GET", "/api/report?tenant=acme&lang=fr", 400, "bad_request"},
		{"GET", "/api/report?tenant=acme&from=2026-3-1", 400, "bad_request"},
		{"GET", "/api/report?tenant=acme&from=2026-04-01&to=2026-03-01", 400, "bad_request"},
		{"GET", "/api/report?tenant=acme&from=2000-01-01&to=2026-03-01", 400, "bad_request"},
		{"POST", "/api/report?tenant=acme", 405, "method_not_allowed"},
	} {
		wantError(t, tc.method+" "+tc.path, ta.ok(tc.method, tc.path, ""), tc.status, tc.code)
	}
	wantError(t, "no token", ta.call("GET", "/api/report?tenant=acme", "", ""), 401, "unauthorized")

	// A bookkeeping without send records and clicks cannot report.
	fake := newTestAdmin(t)
	wantError(t, "fake ledger", fake.ok("GET", "/api/report?tenant=acme", ""), 501, "not_implemented")
}
