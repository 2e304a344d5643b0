package report_test

import (
	"testing"
	"time"

	"github.com/careerrelay/careerrelay/internal/referral"
	"github.com/careerrelay/careerrelay/internal/report"
	"github.com/careerrelay/careerrelay/internal/report/reporttest"
	"github.com/careerrelay/careerrelay/store"
)

// yearReport is the report of reporttest.Year's busy year for tenant beta
// (10 referrals per credit), with 1,000,000 yen per credit.
func yearReport(t *testing.T) (*report.Report, *reporttest.Memory) {
	t.Helper()
	cfg := testConfig()
	cfg.TenantByID("beta").CreditValueYen = 1000000
	cfg.TenantByID("beta").ReferralsPerCredit = 10
	src := reporttest.Year("beta", 10)
	return build(t, cfg, src, "beta", reporttest.YearFrom, reporttest.YearTo), src
}

// TestFunnelConsistent: a consent implies a person's view. A link whose
// only click was classed bot and that was consented counts as clicked by
// a person, so no month has more referrals than links clicked.
func TestFunnelConsistent(t *testing.T) {
	at := time.Date(2026, 3, 3, 10, 0, 0, 0, report.Zone)
	src := &reporttest.Memory{
		SendList: []store.Send{{ID: "s1", Tenant: "beta", Sent: at}, {ID: "s2", Tenant: "beta", Sent: at}},
		ClickList: []referral.Click{
			{SendID: "s1", Tenant: "beta", Class: referral.Bot, Time: at.Add(time.Minute)},
			{SendID: "s2", Tenant: "beta", Class: referral.Human, Time: at.Add(time.Hour)},
		},
		Refs: []referral.Referral{
			{ID: "r1", Tenant: "beta", SendID: "s1", ConsentAt: at.Add(time.Minute)},
			// s2 was clicked in March and consented in April.
			{ID: "r2", Tenant: "beta", SendID: "s2", ConsentAt: at.AddDate(0, 1, 0)},
		},
		Entries: []referral.Entry{
			{Seq: 1, Tenant: "beta", Kind: referral.KindReferral, Time: at.Add(time.Minute), ReferralID: "r1"},
			{Seq: 2, Tenant: "beta", Kind: referral.KindReferral, Time: at.AddDate(0, 1, 0), ReferralID: "r2"},
		},
	}
	r := build(t, testConfig(), src, "beta", "2026-03-01", "2026-04-30")
	mar, apr, tot := r.Months[0], r.Months[1], r.Total
	for _, c := range []struct {
		what                                 string
		f                                    report.Figures
		clicked, atConsent, human, referrals int
		consentRate                          float64
	}{
		{"March", mar, 2, 1, 1, 1, 0.5},
		{"April", apr, 1, 1, 0, 1, 1},
		{"total", tot, 2, 1, 1, 2, 1},
	} {
		if c.f.LinksClicked != c.clicked || c.f.LinksClickedAtConsent != c.atConsent || c.f.HumanClicks != c.human ||
			c.f.Referrals != c.referrals || rate(c.f.ConsentRate) != c.consentRate {
			t.Errorf("%s: clicked %d (at consent %d), human clicks %d, referrals %d, consent rate %v; want %d (%d), %d, %d, %v",
				c.what, c.f.LinksClicked, c.f.LinksClickedAtConsent, c.f.HumanClicks, c.f.Referrals, rate(c.f.ConsentRate),
				c.clicked, c.atConsent, c.human, c.referrals, c.consentRate)
		}
	}
	if r.Previous == nil || r.Previous.ConsentRate != nil || r.Previous.RatingAverage != nil {
		t.Errorf("previous period without clicks or ratings: %+v", r.Previous)
	}

	y, _ := yearReport(t)
	for _, f := range append(y.Months, y.Total) {
		if f.Referrals > f.LinksClicked || f.ConsentRate == nil || *f.ConsentRate > 1 {
			t.Errorf("%q: %d referrals, %d links clicked, consent rate %v", f.Month, f.Referrals, f.LinksClicked, rate(f.ConsentRate))
		}
	}
	if y.Total.LinksClickedAtConsent == 0 {
		t.Error("the year counts no link clicked at consent")
	}
}

// TestRatings: count and average per month and in total; null without.
func TestRatings(t *testing.T) {
	at := time.Date(2026, 3, 3, 10, 0, 0, 0, report.Zone)
	rating := func(tenant string, at time.Time, stars int) reporttest.Rating {
		return reporttest.Rating{Tenant: tenant, At: at, Stars: stars}
	}
	src := &reporttest.Memory{Stars: []reporttest.Rating{
		rating("beta", at, 5), rating("beta", at, 4), rating("beta", at, 4), rating("acme", at, 1),
		rating("beta", at.AddDate(0, 1, 0), 2), rating("beta", at.AddDate(0, 0, -10), 1), // outside
		rating("beta", at, 0), rating("beta", at, 6), // not a rating
	}}
	r := build(t, testConfig(), src, "beta", "2026-03-01", "2026-03-31")
	if f := r.Total; f.Ratings != 3 || rate(f.RatingAverage) != 4.33 || r.Months[0].Ratings != 3 {
		t.Errorf("ratings %d, average %v", f.Ratings, rate(f.RatingAverage))
	}
	if p := r.Previous; p.Ratings != 1 || rate(p.RatingAverage) != 1 || p.From != "2026-02-01" || p.To != "2026-02-28" {
		t.Errorf("previous period %s..%s: ratings %d, average %v", p.From, p.To, p.Ratings, rate(p.RatingAverage))
	}
	if e := build(t, testConfig(), fakeSource{}, "beta", "2026-03-01", "2026-03-31"); e.Total.Ratings != 0 || e.Total.RatingAverage != nil {
		t.Errorf("a source without ratings: %+v", e.Total)
	}
}

// TestPrevious: the period of equal length just before, in whole months
// or in days; its figures are those of a report of that period.
func TestPrevious(t *testing.T) {
	y, src := yearReport(t)
	cfg := testConfig()
	p := build(t, cfg, src, "beta", "2025-01-01", "2025-12-31")
	if y.Previous.From != "2025-01-01" || y.Previous.To != "2025-12-31" || y.Previous.LinksSent != p.Total.LinksSent ||
		y.Previous.Referrals != p.Total.Referrals || y.Previous.LinksClicked != p.Total.LinksClicked ||
		rate(y.Previous.ConsentRate) != rate(p.Total.ConsentRate) || y.Previous.CreditsGranted != p.Total.CreditsGranted {
		t.Errorf("previous %+v\nreport of 2025 %+v", y.Previous, p.Total)
	}
	if y.Previous.LinksSent == 0 || y.Previous.LinksSent >= y.Total.LinksSent {
		t.Errorf("the scenario's 2025 should be quieter: %d links, 2026 %d", y.Previous.LinksSent, y.Total.LinksSent)
	}
	for _, c := range []struct{ from, to, pfrom, pto string }{
		{"2026-03-01", "2026-04-30", "2026-01-01", "2026-02-28"},
		{"2026-03-05", "2026-03-14", "2026-02-23", "2026-03-04"},
		{"2026-03-01", "2026-03-15", "2026-02-14", "2026-02-28"},
		{"2024-03-01", "2025-02-28", "2023-03-01", "2024-02-29"},
	} {
		r := build(t, cfg, src, "beta", c.from, c.to)
		if r.Previous.From != c.pfrom || r.Previous.To != c.pto {
			t.Errorf("%s..%s: previous %s..%s, want %s..%s", c.from, c.to, r.Previous.From, r.Previous.To, c.pfrom, c.pto)
		}
	}
}

// TestFeesSaved: credits granted less revoked, times credit_value_yen,
// in the period and to date; null when the value is not configured.
func TestFeesSaved(t *testing.T) {
	y, src := yearReport(t)
	if y.FeesSavedYen == nil || y.FeesSavedToDateYen == nil || y.CreditValueYen != 1000000 {
		t.Fatalf("fees saved %v, to date %v", y.FeesSavedYen, y.FeesSavedToDateYen)
	}
	if want := (y.Total.CreditsGranted - y.Total.CreditsRevoked) * 1000000; *y.FeesSavedYen != want || want <= 0 {
		t.Errorf("fees saved %d, want %d", *y.FeesSavedYen, want)
	}
	if want := (y.Credit.Granted - y.Credit.Revoked) * 1000000; *y.FeesSavedToDateYen != want || want <= *y.FeesSavedYen {
		t.Errorf("fees saved to date %d, want %d", *y.FeesSavedToDateYen, want)
	}
	cfg := testConfig()
	cfg.TenantByID("beta").ReferralsPerCredit = 10
	r := build(t, cfg, src, "beta", reporttest.YearFrom, reporttest.YearTo)
	if r.FeesSavedYen != nil || r.FeesSavedToDateYen != nil || r.CreditValueYen != 0 {
		t.Errorf("without credit_value_yen: %v %v", r.FeesSavedYen, r.FeesSavedToDateYen)
	}
}

// TestYearEqualsLedger: the year's referral, grant, redeem, void and
// revoke counts are the ledger's entries of the period.
func TestYearEqualsLedger(t *testing.T) {
	y, src := yearReport(t)
	first, _ := report.ParseDate(reporttest.YearFrom)
	last, _ := report.ParseDate(reporttest.YearTo)
	kinds := map[string]int{}
	for _, e := range src.Entries {
		if !e.Time.Before(first) && e.Time.Before(last.AddDate(0, 0, 1)) {
			kinds[e.Kind]++
		}
	}
	f := y.Total
	if kinds[referral.KindReferral] != f.Referrals || kinds[referral.KindGrant] != f.CreditsGranted ||
		kinds[referral.KindRedeem] != f.CreditsRedeemed || kinds[referral.KindVoid] != f.Voids ||
		kinds[referral.KindRevoke] != f.CreditsRevoked || f.Voids != 1 {
		t.Errorf("ledger %v, report %+v", kinds, f)
	}
	t.Logf("year: %d sent, %d clicked (%d at consent), %d referrals, %d granted, %d redeemed, %d ratings avg %v; previous %d sent, %d referrals",
		f.LinksSent, f.LinksClicked, f.LinksClickedAtConsent, f.Referrals, f.CreditsGranted, f.CreditsRedeemed,
		f.Ratings, rate(f.RatingAverage), y.Previous.LinksSent, y.Previous.Referrals)
}
