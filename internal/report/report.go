// Package report builds a tenant's impact report: for a period,
// month by month and in total, the mails that carried a personal link, the
// links people clicked, the referrals and credits they led to, and the
// rates between them; written as JSON, CSV or a printable HTML page with
// inline SVG charts.
//
// # What is counted
//
// Every figure counts events by when they happened, in Japan time (UTC+9;
// days and months begin at midnight JST), from the first day of the period
// to its last day inclusive:
//
//   - links_sent: send records of the tenant (one per recipient of a mail
//     that carried a personal link) whose copy the next hop accepted, by
//     their Sent time (when the mail was accepted); links_bounced: those
//     whose copy failed for good (a DSN went to the sender); links_queued:
//     those still in the queue when the report was made. Records written
//     before careerrelay followed each copy count as sent.
//   - human_clicks, bot_clicks: the clicks recorded, by class (the link
//     pages record at most one click per link, class and minute, see
//     docs/reference.md); links_clicked: the distinct links with at least
//     one human click, that is the people who clicked. A link clicked in
//     two months counts in both, and once in the total, so the total can
//     be less than the sum of the months. The store counts a link's clicks
//     per hour (Japan time's months begin on the hour), so the month of a
//     click is that of its hour; a link clicked in more than
//     referral.MaxClickHours hours has its oldest hours folded into the
//     first, whose month they then count in.
//   - referrals, credits_granted, credits_redeemed, credits_adjusted,
//     voids, credits_revoked: the tenant's ledger entries of kind referral,
//     grant, redeem (counts), adjust (sum of amounts), void and revoke
//     (counts), by entry time. They are the ledger's numbers: an export of
//     the same period has exactly these entries. A voided referral still
//     counts in referrals in the month it was made; its void counts in
//     voids in the month of the void, and the credit taken back for it, if
//     any, in credits_revoked.
//   - A consent implies that a person saw the link's page: a link with a
//     referral consented in a month counts in that month's links_clicked
//     (and once in the total) even when none of its clicks there was
//     classed human, say when a mail scanner's fetch took the person's
//     view for its own (the page records at most one click per link, class
//     and minute). links_clicked_at_consent counts the links added so; the
//     funnel then never turns upside down: a month's referrals are at most
//     its links_clicked. This needs the Source's referral list
//     (referralLister, *referral.Service has it).
//   - click_rate = links_clicked / links_sent and referral_rate =
//     referrals / links_sent, null when no link was sent; consent_rate =
//     referrals / links_clicked (the consents per person who clicked),
//     null when no link was clicked. Events are not tied to the month of
//     their mail, so a month's click_rate or referral_rate can pass 100%.
//   - ratings, rating_average: the anonymous 1-5 ratings of the rejection
//     mail left on the completion page (links.rating), by when they were
//     given; rating_average has two decimals and is null without ratings.
//     A Source without the optional Ratings method reports none.
//
// Previous holds the same figures for the period of equal length just
// before: as many whole months when the period is whole months (first day
// of a month to the last day of a month), else as many days.
//
// fees_saved_yen is the credits granted in the period less those revoked,
// times the tenant's credit_value_yen (configs), and
// fees_saved_to_date_yen the same from the whole ledger up to the end of
// the period; both are null when credit_value_yen is 0. They are
// estimates from the configured value of one hire, not invoices.
//
// The credit progress is read from the whole ledger up to the end of the
// period: the n-th referral of a tenant grants a credit when n is a
// multiple of referrals_per_credit, so the next credit comes after
// referrals_per_credit - (n mod referrals_per_credit) more referrals
// (voided referrals keep their n; a revoke corrects the count). Available
// is granted - redeemed + adjusted - revoked, below 0 when credits are
// owed.
package report

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/careerrelay/careerrelay/configs"
	"github.com/careerrelay/careerrelay/internal/referral"
	"github.com/careerrelay/careerrelay/store"
)

// Zone is the time zone of the report's days and months: Japan time.
var Zone = time.FixedZone("JST", 9*60*60)

// DateLayout is how the period's days are written (-from, -to, JSON).
const DateLayout = "2006-01-02"

// MaxMonths bounds a report's period.
const MaxMonths = 120

// now is the clock of Report.Generated; tests replace it.
var now = time.Now

// Source is the bookkeeping a report reads; *referral.Service has it.
// A Source may also list referrals (referralLister) and ratings
// (ratingLister).
type Source interface {
	Sends(fn func(s *store.Send) error) error
	Clicks(fn func(c *referral.Click) error) error
	Ledger() ([]referral.Entry, error)
}

// ratingLister is the part of a Source that lists the tenant's anonymous
// ratings (1 to 5 stars) of the rejection mail, each with when it was
// given. A Source without it reports none.
type ratingLister interface {
	Ratings(tenant string, fn func(at time.Time, stars int) error) error
}

// Report is a tenant's impact report for one period.
type Report struct {
	Tenant     string    `json:"tenant"`
	TenantName string    `json:"tenant_name"`
	From       string    `json:"from"` // first day, YYYY-MM-DD, Japan time
	To         string    `json:"to"`   // last day, inclusive
	TimeZone   string    `json:"time_zone"`
	Generated  time.Time `json:"generated"`
	Months     []Figures `json:"months"` // every month of the period, oldest first
	Total      Figures   `json:"total"`  // the whole period
	Credit     Progress  `json:"credit"` // at the end of the period
	// LedgerEntries and LedgerHead name the ledger the report was built
	// from (all tenants): its length and its last entry's hash, as
	// `careerrelay ledger verify` prints them.
	LedgerEntries int    `json:"ledger_entries"`
	LedgerHead    string `json:"ledger_head,omitempty"`
	// Previous is the period of equal length just before (see the
	// package doc).
	Previous *PreviousPeriod `json:"previous"`
	// CreditValueYen is tenants[].credit_value_yen; FeesSavedYen and
	// FeesSavedToDateYen the estimates from it, null when it is 0.
	CreditValueYen     int  `json:"credit_value_yen"`
	FeesSavedYen       *int `json:"fees_saved_yen"`
	FeesSavedToDateYen *int `json:"fees_saved_to_date_yen"`

	accent string // the tenant's colour, for the HTML page
}

// Figures are the counts of one month (Month "YYYY-MM") or of the whole
// period (Month "").
type Figures struct {
	Month           string `json:"month,omitempty"`
	LinksSent       int    `json:"links_sent"`    // their copy was delivered
	LinksBounced    int    `json:"links_bounced"` // their copy failed for good
	LinksQueued     int    `json:"links_queued"`  // their copy is still queued
	LinksClicked    int    `json:"links_clicked"`
	HumanClicks     int    `json:"human_clicks"`
	BotClicks       int    `json:"bot_clicks"`
	Referrals       int    `json:"referrals"`
	CreditsGranted  int    `json:"credits_granted"`
	CreditsRedeemed int    `json:"credits_redeemed"`
	CreditsAdjusted int    `json:"credits_adjusted"`
	Voids           int    `json:"voids"`           // referrals voided (void entries)
	CreditsRevoked  int    `json:"credits_revoked"` // credits taken back for them (revoke entries)
	// The referrals consented in the month with signals the agency may
	// want to look at (referral.Signal), in all and by signal, and the
	// consents withdrawn in the month.
	ReferralsFlagged    int      `json:"referrals_flagged"`
	SignalQuickConsent  int      `json:"signal_quick_consent"`
	SignalSharedNetwork int      `json:"signal_shared_network"`
	SignalSenderNetwork int      `json:"signal_sender_network"`
	Withdrawals         int      `json:"withdrawals"`
	ClickRate           *float64 `json:"click_rate"`    // links_clicked / links_sent, null without links
	ReferralRate        *float64 `json:"referral_rate"` // referrals / links_sent
	// LinksClickedAtConsent are the links counted in LinksClicked only
	// for their consent (no human click of theirs in the month or, in the
	// total, in the period).
	LinksClickedAtConsent int      `json:"links_clicked_at_consent"`
	ConsentRate           *float64 `json:"consent_rate"` // referrals / links_clicked, null without clicks
	Ratings               int      `json:"ratings"`
	RatingAverage         *float64 `json:"rating_average"` // two decimals, null without ratings

	ratingSum int
}

// PreviousPeriod is the figures of the period just before the report's.
type PreviousPeriod struct {
	From string `json:"from"`
	To   string `json:"to"`
	Figures
}

// Progress is where the tenant stands toward its next credit, from the
// ledger up to the end of the period.
type Progress struct {
	Referrals          int     `json:"referrals"` // all the tenant's referrals so far
	ReferralsPerCredit int     `json:"referrals_per_credit"`
	TowardNext         int     `json:"toward_next"` // referrals counted toward the next credit
	Remaining          int     `json:"remaining"`   // referrals still needed for it
	Fraction           float64 `json:"fraction"`    // TowardNext / ReferralsPerCredit
	Granted            int     `json:"granted"`
	Redeemed           int     `json:"redeemed"`
	Adjusted           int     `json:"adjusted"`
	Voided             int     `json:"voided"`
	Revoked            int     `json:"revoked"`
	Available          int     `json:"available"` // granted - redeemed + adjusted - revoked; below 0: credits owed
}

// ParseDate reads a day written YYYY-MM-DD, in Zone.
func ParseDate(s string) (time.Time, error) {
	t, err := time.ParseInLocation(DateLayout, s, Zone)
	if err != nil {
		return time.Time{}, fmt.Errorf("report: date %q: want YYYY-MM-DD", s)
	}
	return t, nil
}

// Period turns the -from and -to flags (either may be "") into the first
// and last day of a report: to defaults to today, from to the first day of
// the eleventh month before to's (twelve months in all).
func Period(from, to string, today time.Time) (first, last time.Time, err error) {
	today = today.In(Zone)
	last = time.Date(today.Year(), today.Month(), today.Day(), 0, 0, 0, 0, Zone)
	if to != "" {
		if last, err = ParseDate(to); err != nil {
			return first, last, err
		}
	}
	first = time.Date(last.Year(), last.Month()-11, 1, 0, 0, 0, 0, Zone)
	if from != "" {
		if first, err = ParseDate(from); err != nil {
			return first, last, err
		}
	}
	return first, last, checkPeriod(first, last)
}

func checkPeriod(first, last time.Time) error {
	if last.Before(first) {
		return fmt.Errorf("report: the period ends (%s) before it starts (%s)", last.Format(DateLayout), first.Format(DateLayout))
	}
	if n := monthIndex(last) - monthIndex(first) + 1; n > MaxMonths {
		return fmt.Errorf("report: the period spans %d months; at most %d", n, MaxMonths)
	}
	return nil
}

// monthIndex numbers t's month (in Zone) so that consecutive months differ
// by one.
func monthIndex(t time.Time) int {
	t = t.In(Zone)
	return t.Year()*12 + int(t.Month()) - 1
}

// Build reads src and returns tenant t's report for the days first to last
// (inclusive, in Zone; only their dates count).
func Build(src Source, t *configs.Tenant, first, last time.Time) (*Report, error) {
	if src == nil || t == nil {
		return nil, errors.New("report: Build needs a source and a tenant")
	}
	first = startOfDay(first)
	end := startOfDay(last).AddDate(0, 0, 1) // exclusive
	if err := checkPeriod(first, end.AddDate(0, 0, -1)); err != nil {
		return nil, err
	}
	r, err := build(src, t, first, end)
	if err != nil {
		return nil, err
	}
	pf, pe := previousPeriod(first, end)
	p, err := build(src, t, pf, pe)
	if err != nil {
		return nil, err
	}
	r.Previous = &PreviousPeriod{From: p.From, To: p.To, Figures: p.Total}
	if v := t.CreditValueYen; v > 0 {
		r.CreditValueYen = v
		period := (r.Total.CreditsGranted - r.Total.CreditsRevoked) * v
		toDate := (r.Credit.Granted - r.Credit.Revoked) * v
		r.FeesSavedYen, r.FeesSavedToDateYen = &period, &toDate
	}
	return r, nil
}

// previousPeriod is the period of equal length just before first..end
// (end exclusive): as many months when both are the first of a month,
// else as many days.
func previousPeriod(first, end time.Time) (time.Time, time.Time) {
	if first.Day() == 1 && end.Day() == 1 {
		return first.AddDate(0, monthIndex(first)-monthIndex(end), 0), first
	}
	days := int(math.Round(end.Sub(first).Hours() / 24))
	return first.AddDate(0, 0, -days), first
}

// build counts tenant t's figures from first to end (exclusive), both the
// start of a day in Zone.
func build(src Source, t *configs.Tenant, first, end time.Time) (*Report, error) {
	r := &Report{
		Tenant:     t.ID,
		TenantName: t.Name,
		From:       first.Format(DateLayout),
		To:         end.AddDate(0, 0, -1).Format(DateLayout),
		TimeZone:   "Asia/Tokyo (UTC+09:00)",
		Generated:  now().UTC().Truncate(time.Second),
		accent:     t.Color,
	}
	base := monthIndex(first)
	for m := base; m <= monthIndex(end.AddDate(0, 0, -1)); m++ {
		r.Months = append(r.Months, Figures{Month: fmt.Sprintf("%04d-%02d", m/12, m%12+1)})
	}
	in := func(at time.Time) (*Figures, bool) {
		if at.Before(first) || !at.Before(end) {
			return nil, false
		}
		return &r.Months[monthIndex(at)-base], true
	}

	err := src.Sends(func(s *store.Send) error {
		if f, ok := in(s.Sent); ok && s.Tenant == t.ID {
			switch s.Delivery {
			case store.SendBounced:
				f.LinksBounced++
				r.Total.LinksBounced++
			case store.SendQueued:
				f.LinksQueued++
				r.Total.LinksQueued++
			default:
				f.LinksSent++
				r.Total.LinksSent++
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("report: read send records: %w", err)
	}

	clicked := map[string]bool{}         // links with a human click in the period
	monthClicked := map[[2]string]bool{} // (month, link) pairs counted
	err = src.Clicks(func(c *referral.Click) error {
		f, ok := in(c.Time)
		if !ok || c.Tenant != t.ID {
			return nil
		}
		n := max(c.Count, 1)
		if c.Class != referral.Human {
			f.BotClicks += n
			r.Total.BotClicks += n
			return nil
		}
		f.HumanClicks += n
		r.Total.HumanClicks += n
		if k := [2]string{f.Month, c.SendID}; !monthClicked[k] {
			monthClicked[k] = true
			f.LinksClicked++
		}
		if !clicked[c.SendID] {
			clicked[c.SendID] = true
			r.Total.LinksClicked++
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("report: read clicks: %w", err)
	}

	if err := r.countReferrals(src, t.ID, in, clicked, monthClicked); err != nil {
		return nil, err
	}
	if err := r.countRatings(src, t.ID, in); err != nil {
		return nil, err
	}

	entries, err := src.Ledger()
	if err != nil {
		return nil, fmt.Errorf("report: read ledger: %w", err)
	}
	r.LedgerEntries = len(entries)
	if len(entries) > 0 {
		r.LedgerHead = entries[len(entries)-1].Hash
	}
	p := &r.Credit
	for i := range entries {
		e := &entries[i]
		if e.Tenant != t.ID || !e.Time.Before(end) {
			continue
		}
		p.add(e)
		if f, ok := in(e.Time); ok {
			f.add(e)
			r.Total.add(e)
		}
	}
	p.ReferralsPerCredit = t.ReferralsPerCredit
	if p.ReferralsPerCredit <= 0 {
		p.ReferralsPerCredit = configs.DefaultReferralsPerCredit
	}
	p.TowardNext = p.Referrals % p.ReferralsPerCredit
	p.Remaining = p.ReferralsPerCredit - p.TowardNext
	p.Fraction = *ratio(p.TowardNext, p.ReferralsPerCredit)
	p.Available = p.Granted - p.Redeemed + p.Adjusted - p.Revoked

	for i := range r.Months {
		r.Months[i].rates()
	}
	r.Total.rates()
	return r, nil
}

func startOfDay(t time.Time) time.Time {
	t = t.In(Zone)
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, Zone)
}

// add counts a ledger entry of the tenant.
func (f *Figures) add(e *referral.Entry) {
	switch e.Kind {
	case referral.KindReferral:
		f.Referrals++
	case referral.KindGrant:
		f.CreditsGranted++
	case referral.KindRedeem:
		f.CreditsRedeemed++
	case referral.KindAdjust:
		f.CreditsAdjusted += e.Amount
	case referral.KindVoid:
		f.Voids++
	case referral.KindRevoke:
		f.CreditsRevoked++
	}
}

// add counts a ledger entry of the tenant up to the end of the period.
func (p *Progress) add(e *referral.Entry) {
	switch e.Kind {
	case referral.KindReferral:
		p.Referrals++
	case referral.KindGrant:
		p.Granted++
	case referral.KindRedeem:
		p.Redeemed++
	case referral.KindAdjust:
		p.Adjusted += e.Amount
	case referral.KindVoid:
		p.Voided++
	case referral.KindRevoke:
		p.Revoked++
	}
}

// rates sets the rates and the average rating from the counts.
func (f *Figures) rates() {
	f.ClickRate, f.ReferralRate = ratio(f.LinksClicked, f.LinksSent), ratio(f.Referrals, f.LinksSent)
	f.ConsentRate = ratio(f.Referrals, f.LinksClicked)
	if f.Ratings > 0 {
		v := math.Round(float64(f.ratingSum)/float64(f.Ratings)*100) / 100
		f.RatingAverage = &v
	}
}

// ratio is n/d rounded to four decimals, nil when d is 0.
func ratio(n, d int) *float64 {
	if d == 0 {
		return nil
	}
	v := math.Round(float64(n)/float64(d)*10000) / 10000
	return &v
}

// countRatings counts the ratings given in the period; ratings outside 1
// to 5 are not counted.
func (r *Report) countRatings(src Source, tenant string, in func(time.Time) (*Figures, bool)) error {
	rl, ok := src.(ratingLister)
	if !ok {
		return nil
	}
	err := rl.Ratings(tenant, func(at time.Time, stars int) error {
		if f, ok := in(at); ok && stars >= 1 && stars <= 5 {
			for _, g := range []*Figures{f, &r.Total} {
				g.Ratings++
				g.ratingSum += stars
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("report: read ratings: %w", err)
	}
	return nil
}

// referralLister is the part of a Source that lists referrals, with their
// signals and withdrawals; *referral.Service has it. A Source without it
// reports none.
type referralLister interface {
	Referrals(tenant string) ([]referral.Referral, error)
}

// countReferrals counts the signals of the referrals consented in the
// period, and the withdrawals made in it; it counts the link of each
// referral as clicked in the month of its consent when no human click of
// the month did (clicked and monthClicked are the links counted by the
// clicks, in the period and by month).
func (r *Report) countReferrals(src Source, tenant string, in func(time.Time) (*Figures, bool),
	clicked map[string]bool, monthClicked map[[2]string]bool) error {
	rl, ok := src.(referralLister)
	if !ok {
		return nil
	}
	refs, err := rl.Referrals(tenant)
	if err != nil {
		return fmt.Errorf("report: read referrals: %w", err)
	}
	for i := range refs {
		ref := &refs[i]
		if f, ok := in(ref.ConsentAt); ok && ref.SendID != "" {
			if k := [2]string{f.Month, ref.SendID}; !monthClicked[k] {
				monthClicked[k] = true
				f.LinksClicked++
				f.LinksClickedAtConsent++
			}
			if !clicked[ref.SendID] {
				clicked[ref.SendID] = true
				r.Total.LinksClicked++
				r.Total.LinksClickedAtConsent++
			}
		}
		if f, ok := in(ref.ConsentAt); ok && len(ref.Signals) > 0 {
			for _, g := range []*Figures{f, &r.Total} {
				g.ReferralsFlagged++
				for _, s := range ref.Signals {
					switch s.Name {
					case referral.SignalQuick:
						g.SignalQuickConsent++
					case referral.SignalSharedNetwork:
						g.SignalSharedNetwork++
					case referral.SignalSenderNetwork:
						g.SignalSenderNetwork++
					}
				}
			}
		}
		if ref.WithdrawnAt != nil {
			if f, ok := in(*ref.WithdrawnAt); ok {
				f.Withdrawals++
				r.Total.Withdrawals++
			}
		}
	}
	return nil
}
