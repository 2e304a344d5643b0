package report_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/careerrelay/careerrelay/configs"
	"github.com/careerrelay/careerrelay/internal/referral"
	"github.com/careerrelay/careerrelay/internal/report"
	"github.com/careerrelay/careerrelay/internal/report/reporttest"
	"github.com/careerrelay/careerrelay/store"
)

func testConfig() *configs.Config {
	return &configs.Config{
		Links: configs.Links{
			BaseURL: "https://careers.example.jp",
			Keys:    []configs.LinkKey{{ID: "k1", Secret: bytes.Repeat([]byte("L"), configs.MinSecretBytes)}},
			TTL:     configs.DefaultLinkTTL,
		},
		Agency: configs.Agency{Name: "Example Career Agency", RegistrationURL: "https://agency.example/register"},
		Tenants: []configs.Tenant{
			{ID: "acme", Name: "株式会社アクメ", Domains: []string{"acme.example"}, ReferralsPerCredit: reporttest.PerCredit, Color: "#0b6e4f"},
			{ID: "beta", Name: "Beta <&> Co", Domains: []string{"beta.example"}, ReferralsPerCredit: 3},
		},
	}
}

// scenario plays reporttest's history into a new store.
func scenario(t *testing.T) (*configs.Config, *referral.Service) {
	t.Helper()
	cfg := testConfig()
	db, err := store.Open(filepath.Join(t.TempDir(), "careerrelay.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	svc, err := reporttest.Play(context.Background(), cfg, db, "acme", "beta")
	if err != nil {
		t.Fatal(err)
	}
	return cfg, svc
}

func build(t *testing.T, cfg *configs.Config, src report.Source, tenant, from, to string) *report.Report {
	t.Helper()
	first, last, err := report.Period(from, to, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	r, err := report.Build(src, cfg.TenantByID(tenant), first, last)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func checkFigures(t *testing.T, what string, got report.Figures, want reporttest.Figures) {
	t.Helper()
	g := reporttest.Figures{Month: got.Month, Sent: got.LinksSent, Clicked: got.LinksClicked,
		Human: got.HumanClicks, Bot: got.BotClicks, Referrals: got.Referrals, Granted: got.CreditsGranted,
		Redeemed: got.CreditsRedeemed, ClickRate: rate(got.ClickRate), ReferralRate: rate(got.ReferralRate)}
	if g != want {
		t.Errorf("%s:\n got %+v\nwant %+v", what, g, want)
	}
}

func rate(v *float64) float64 {
	if v == nil {
		return -1
	}
	return *v
}

// TestScenario checks every figure of the scripted history, and that the
// referral and credit counts are those of the ledger's entries.
func TestScenario(t *testing.T) {
	cfg, svc := scenario(t)
	r := build(t, cfg, svc, "acme", reporttest.From, reporttest.To)
	want := reporttest.Want
	if r.From != reporttest.From || r.To != reporttest.To || r.TenantName != "株式会社アクメ" {
		t.Errorf("period %s..%s of %q", r.From, r.To, r.TenantName)
	}
	if len(r.Months) != len(want.Months) {
		t.Fatalf("%d months, want %d", len(r.Months), len(want.Months))
	}
	for i := range want.Months {
		checkFigures(t, want.Months[i].Month, r.Months[i], want.Months[i])
	}
	checkFigures(t, "total", r.Total, want.Total)
	c := r.Credit
	if c.Referrals != want.Referrals || c.TowardNext != want.TowardNext || c.Remaining != want.Remaining ||
		c.Granted != want.Granted || c.Redeemed != want.Redeemed || c.Available != want.Available ||
		c.ReferralsPerCredit != reporttest.PerCredit {
		t.Errorf("credit progress %+v, want %+v", c, want)
	}

	// The ledger, read as an operator would: the tenant's JSON export.
	var buf bytes.Buffer
	if err := svc.Export(&buf, "acme", "json"); err != nil {
		t.Fatal(err)
	}
	entries, err := referral.ParseExport(&buf, "json")
	if err != nil {
		t.Fatal(err)
	}
	first, last, _ := report.Period(reporttest.From, reporttest.To, time.Now())
	kinds := map[string]int{}
	for _, e := range entries {
		if !e.Time.Before(first) && e.Time.Before(last.AddDate(0, 0, 1)) {
			kinds[e.Kind]++
		}
	}
	if kinds[referral.KindReferral] != r.Total.Referrals || kinds[referral.KindGrant] != r.Total.CreditsGranted ||
		kinds[referral.KindRedeem] != r.Total.CreditsRedeemed {
		t.Errorf("ledger entries in the period %v; report: %d referrals, %d granted, %d redeemed",
			kinds, r.Total.Referrals, r.Total.CreditsGranted, r.Total.CreditsRedeemed)
	}
	b, err := svc.Balance("acme")
	if err != nil {
		t.Fatal(err)
	}
	full, _ := svc.Ledger()
	if r.LedgerEntries != len(full) || r.LedgerHead != full[len(full)-1].Hash {
		t.Errorf("ledger %d entries, head %s; report says %d, %s", len(full), full[len(full)-1].Hash, r.LedgerEntries, r.LedgerHead)
	}
	// The balance now includes May's referral and credit.
	if b.Referrals != c.Referrals+1 || b.Granted != c.Granted+1 {
		t.Errorf("balance now %+v, report at the end of April %+v", b, c)
	}

	// The other tenant's report has only its own March.
	o := build(t, cfg, svc, "beta", reporttest.From, reporttest.To)
	if o.Total.LinksSent != 2 || o.Total.LinksClicked != 1 || o.Total.Referrals != 1 || o.Total.CreditsGranted != 0 {
		t.Errorf("beta: %+v", o.Total)
	}
}

func TestWriteJSONAndCSV(t *testing.T) {
	cfg, svc := scenario(t)
	r := build(t, cfg, svc, "acme", reporttest.From, reporttest.To)

	var js bytes.Buffer
	if err := r.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back report.Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatalf("%v\n%s", err, js.String())
	}
	checkFigures(t, "JSON total", back.Total, reporttest.Want.Total)
	if back.Credit != r.Credit || back.LedgerHead != r.LedgerHead {
		t.Errorf("JSON credit %+v head %s", back.Credit, back.LedgerHead)
	}
	if !strings.Contains(js.String(), `"click_rate": 0.5,`) {
		t.Errorf("JSON: no click_rate 0.5:\n%s", js.String())
	}

	var cb bytes.Buffer
	if err := r.WriteCSV(&cb); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&cb).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 4 || strings.Join(rows[0], ",") != strings.Join(report.CSVHeader, ",") {
		t.Fatalf("CSV rows %q", rows)
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	for i, want := range append(reporttest.Want.Months, reporttest.Want.Total) {
		row := rows[i+1]
		n := func(h string) int {
			v, err := strconv.Atoi(row[col[h]])
			if err != nil {
				t.Errorf("CSV row %d %s: %v", i+1, h, err)
			}
			return v
		}
		f := func(h string) float64 {
			v, err := strconv.ParseFloat(row[col[h]], 64)
			if err != nil {
				t.Errorf("CSV row %d %s: %v", i+1, h, err)
			}
			return v
		}
		month := row[col["month"]]
		if month == "total" {
			month = ""
		}
		got := reporttest.Figures{Month: month, Sent: n("links_sent"), Clicked: n("links_clicked"),
			Human: n("human_clicks"), Bot: n("bot_clicks"), Referrals: n("referrals"),
			Granted: n("credits_granted"), Redeemed: n("credits_redeemed"),
			ClickRate: f("click_rate"), ReferralRate: f("referral_rate")}
		if got != want || row[col["tenant"]] != "acme" || row[col["from"]] != reporttest.From {
			t.Errorf("CSV row %d: %q\n got %+v\nwant %+v", i+1, row, got, want)
		}
	}
}

// TestPeriodFilter: the days of the period, in Japan time, decide.
func TestPeriodFilter(t *testing.T) {
	cfg, svc := scenario(t)
	for _, tc := range []struct {
		from, to                                    string
		months, sent, clicked, human, bot, referral int
		granted, redeemed, progress                 int
	}{
		{"2026-03-01", "2026-03-31", 1, 6, 3, 4, 2, 2, 1, 0, 3},
		{"2026-04-01", "2026-04-30", 1, 4, 3, 4, 1, 2, 0, 1, 5},
		{"2026-02-01", "2026-05-31", 4, 12, 7, 10, 3, 6, 2, 1, 6},
		{"2026-03-04", "2026-03-04", 1, 0, 3, 4, 0, 0, 0, 0, 1}, // one day: the evening's clicks
		{"2026-03-02", "2026-03-03", 1, 5, 0, 0, 2, 0, 0, 0, 1}, // not the mail of March 1 00:00
		{"2026-06-01", "2026-07-15", 2, 0, 0, 0, 0, 0, 0, 0, 6},
	} {
		r := build(t, cfg, svc, "acme", tc.from, tc.to)
		f := r.Total
		got := []int{len(r.Months), f.LinksSent, f.LinksClicked, f.HumanClicks, f.BotClicks, f.Referrals,
			f.CreditsGranted, f.CreditsRedeemed, r.Credit.Referrals}
		want := []int{tc.months, tc.sent, tc.clicked, tc.human, tc.bot, tc.referral, tc.granted, tc.redeemed, tc.progress}
		if !slices.Equal(got, want) {
			t.Errorf("%s..%s: got %v, want %v (months, sent, clicked, human, bot, referrals, granted, redeemed, referrals so far)",
				tc.from, tc.to, got, want)
		}
		if f.LinksSent == 0 && (f.ClickRate != nil || f.ReferralRate != nil) {
			t.Errorf("%s..%s: rates without links: %v %v", tc.from, tc.to, f.ClickRate, f.ReferralRate)
		}
	}
}

func TestPeriod(t *testing.T) {
	today := time.Date(2026, 5, 14, 16, 0, 0, 0, time.UTC) // May 15 01:00 in Japan
	for _, tc := range []struct{ from, to, first, last, err string }{
		{"", "", "2025-06-01", "2026-05-15", ""},
		{"", "2026-03-31", "2025-04-01", "2026-03-31", ""},
		{"2026-01-15", "", "2026-01-15", "2026-05-15", ""},
		{"2026-04-01", "2026-03-31", "", "", "ends (2026-03-31) before it starts"},
		{"2026-4-1", "", "", "", "want YYYY-MM-DD"},
		{"2010-01-01", "2026-01-01", "", "", "at most 120"},
	} {
		first, last, err := report.Period(tc.from, tc.to, today)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q..%q: error %v, want %q", tc.from, tc.to, err, tc.err)
			}
			continue
		}
		if err != nil || first.Format(report.DateLayout) != tc.first || last.Format(report.DateLayout) != tc.last {
			t.Errorf("%q..%q: %s..%s (%v), want %s..%s", tc.from, tc.to, first, last, err, tc.first, tc.last)
		}
	}
}

// fakeSource has no data at all.
type fakeSource struct{}

func (fakeSource) Sends(func(*store.Send) error) error      { return nil }
func (fakeSource) Clicks(func(*referral.Click) error) error { return nil }
func (fakeSource) Ledger() ([]referral.Entry, error)        { return nil, nil }

func TestEmpty(t *testing.T) {
	cfg := testConfig()
	r := build(t, cfg, fakeSource{}, "beta", "2026-01-01", "2026-12-31")
	if len(r.Months) != 12 || r.Total.ClickRate != nil || r.Credit.Remaining != 3 || r.LedgerHead != "" {
		t.Errorf("empty report: %+v", r)
	}
	var js, h bytes.Buffer
	if err := r.WriteJSON(&js); err != nil || !strings.Contains(js.String(), `"click_rate": null`) {
		t.Errorf("JSON (%v):\n%s", err, js.String())
	}
	if err := r.WriteHTML(&h); err != nil {
		t.Fatal(err)
	}
	// The tenant name is escaped; no rate shows as a number.
	if !strings.Contains(h.String(), "Beta &lt;&amp;&gt; Co") || strings.Contains(h.String(), "NaN") {
		t.Errorf("HTML of an empty report:\n%s", h.String())
	}
}

// TestHTML: one self-contained page (no script, nothing fetched), with
// both charts and the figures.
func TestHTML(t *testing.T) {
	cfg, svc := scenario(t)
	r := build(t, cfg, svc, "acme", reporttest.From, reporttest.To)
	var b bytes.Buffer
	if err := r.WriteHTML(&b); err != nil {
		t.Fatal(err)
	}
	h := b.String()
	for _, bad := range []string{"<script", " src=", " href=", "url(", "@import", "<link", "<img", "<iframe"} {
		if strings.Contains(strings.ToLower(h), bad) {
			t.Errorf("HTML contains %q", bad)
		}
	}
	for _, want := range []string{
		"<!doctype html>", `lang="ja"`, "株式会社アクメ", "2026年3月〜4月",
		"@media print", "print-color-adjust: exact", "size: A4", "--accent: #0b6e4f",
		`aria-label="月別の推移`, // the chart
		// 10 notified, 5 clicked, 4 applied; the previous period (January
		// and February) had 1 referral, 1 link clicked, no link sent.
		"2026年3月〜4月に不採用通知をお送りした10名のうち、4名がキャリア相談に申し込み、無料の採用支援1名分を獲得しました。",
		"10<small>名</small>", "クリック率 50.0%", "申込率 80.0%", "前期間比 +400%", "申込 2 / 3名", "あと1名",
		"2026年3月", "66.7%", "75.0%", r.LedgerHead,
	} {
		if !strings.Contains(h, want) {
			t.Errorf("HTML lacks %q", want)
		}
	}
	if n := strings.Count(h, "<svg"); n != 1 {
		t.Errorf("%d SVGs, want 1", n)
	}
	// Ids and hashes are in the appendix only.
	appendix := strings.Index(h, `<main class="sheet appendix">`)
	if appendix < 0 || strings.Contains(h[:appendix], r.LedgerHead[:16]) || strings.Contains(h[:appendix], ">acme<") {
		t.Errorf("the ledger head or the tenant id on page 1 (appendix at %d)", appendix)
	}
}

func TestNiceScale(t *testing.T) {
	for _, tc := range []struct{ v, step, top int }{
		{0, 1, 4}, {1, 1, 4}, {3, 1, 4}, {4, 1, 4}, {5, 2, 6}, {6, 2, 6}, {9, 5, 10}, {10, 5, 10},
		{37, 10, 40}, {101, 50, 150}, {1234, 500, 1500},
	} {
		if step, top := report.NiceScale(tc.v); step != tc.step || top != tc.top {
			t.Errorf("NiceScale(%d) = %d, %d; want %d, %d", tc.v, step, top, tc.step, tc.top)
		}
	}
}

// TestStoreWithClickRecords: a store file written before click counts (by
// the code of commit 8891f40, playing reporttest's scenario: one record
// per click in the clicks bucket, no click_counts bucket) still opens and
// reports the same figures; a click after the upgrade is counted next to
// them.
func TestStoreWithClickRecords(t *testing.T) {
	gz, err := os.ReadFile(filepath.Join("testdata", "clicks-per-get.db.gz"))
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "careerrelay.db")
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	cfg := testConfig()
	svc, err := referral.New(cfg, db, nil, referral.Options{})
	if err != nil {
		t.Fatal(err)
	}
	old, counts := 0, 0
	err = db.View(func(tx *store.Tx) error {
		old = tx.Bolt().Bucket([]byte(store.BucketClicks)).Stats().KeyN
		counts = tx.Bolt().Bucket([]byte(store.BucketClickCounts)).Stats().KeyN
		return nil
	})
	if err != nil || old == 0 || counts != 0 {
		t.Fatalf("the old file holds %d click records and %d click counts (%v); want some and none", old, counts, err)
	}
	r := build(t, cfg, svc, "acme", reporttest.From, reporttest.To)
	for i := range reporttest.Want.Months {
		checkFigures(t, reporttest.Want.Months[i].Month, r.Months[i], reporttest.Want.Months[i])
	}
	checkFigures(t, "total", r.Total, reporttest.Want.Total)

	// A human click on a link clicked before, counted after the upgrade:
	// one more human click, the same links clicked.
	var sendID string
	err = svc.Clicks(func(c *referral.Click) error {
		if c.Tenant == "acme" && c.Class == referral.Human && c.Time.In(report.Zone).Format("2006-01") == "2026-04" {
			sendID = c.SendID
		}
		return nil
	})
	if err != nil || sendID == "" {
		t.Fatalf("no human click of April in the old file: %v", err)
	}
	var send *store.Send
	if err := db.View(func(tx *store.Tx) (err error) { send, err = tx.GetSend(sendID); return err }); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 4, 20, 12, 0, 0, 0, report.Zone)
	svc, err = referral.New(cfg, db, nil, referral.Options{Now: func() time.Time { return at }})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.RecordClick(context.Background(), &referral.Link{Send: send, Tenant: cfg.TenantByID("acme")}, referral.Human); err != nil {
		t.Fatal(err)
	}
	r = build(t, cfg, svc, "acme", reporttest.From, reporttest.To)
	want := reporttest.Want.Total
	want.Human++
	checkFigures(t, "total after a new click", r.Total, want)
}
