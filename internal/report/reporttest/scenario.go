// Package reporttest plays a scripted history into a real store through
// the real referral service — mails with personal links, clicks by people
// and by link scanners, referrals across two months, a credit granted and
// one redeemed, events just outside the period and another tenant's — and
// gives the figures the impact report must show for it. The tests of
// package report, of the admin API and the integration tests share it.
package reporttest

import (
	"context"
	"fmt"
	"time"

	"github.com/careerrelay/careerrelay/internal/testlib"

	"github.com/careerrelay/careerrelay/configs"
	"github.com/careerrelay/careerrelay/internal/linktoken"
	"github.com/careerrelay/careerrelay/internal/referral"
	"github.com/careerrelay/careerrelay/store"
)

// The period the figures are for, and how many referrals earn a credit:
// the tenant played must be configured with PerCredit.
const (
	From      = "2026-03-01"
	To        = "2026-04-30"
	PerCredit = 3
)

// Figures are the counts of one month ("YYYY-MM") or of the period ("").
type Figures struct {
	Month                        string
	Sent, Clicked, Human, Bot    int
	Referrals, Granted, Redeemed int
	ClickRate, ReferralRate      float64
}

// Want is what the report of From..To must show for the tenant played.
var Want = struct {
	Months []Figures
	Total  Figures
	// At the end of the period, from the whole ledger: referrals #1
	// (February) to #5, one credit granted (#3) and redeemed.
	Referrals, TowardNext, Remaining, Granted, Redeemed, Available int
}{
	Months: []Figures{
		{"2026-03", 6, 3, 4, 2, 2, 1, 0, 0.5, 0.3333},
		{"2026-04", 4, 3, 4, 1, 2, 0, 1, 0.75, 0.5},
	},
	// s3 is clicked in March and in April: once in the total.
	Total:     Figures{"", 10, 5, 8, 3, 4, 1, 1, 0.5, 0.4},
	Referrals: 5, TowardNext: 2, Remaining: 1, Granted: 1, Redeemed: 1, Available: 0,
}

// player plays the script; the first error stops it.
type player struct {
	ctx   context.Context
	db    *store.DB
	svc   *referral.Service
	keys  *linktoken.Keys
	clock *testlib.Clock
	n     int
	err   error
}

// Play writes the history into db for tenant (which must have
// referrals_per_credit PerCredit) and, in March, a little of other's (a
// tenant id of cfg, or "" for none), with a referral service of its own on
// a fake clock. The service it used is returned for inspection.
func Play(ctx context.Context, cfg *configs.Config, db *store.DB, tenant, other string) (*referral.Service, error) {
	t := cfg.TenantByID(tenant)
	if t == nil || t.ReferralsPerCredit != PerCredit {
		return nil, fmt.Errorf("reporttest: tenant %q must exist with referrals_per_credit %d", tenant, PerCredit)
	}
	clock := testlib.NewClock(time.Time{})
	svc, err := referral.New(cfg, db, nil, referral.Options{Now: clock.Now})
	if err != nil {
		return nil, err
	}
	keys, err := linktoken.NewKeys(cfg.Links.Keys)
	if err != nil {
		return nil, err
	}
	p := &player{ctx: ctx, db: db, svc: svc, keys: keys, clock: clock}

	// February (before the period): referral #1.
	p.at("2026-02-10T10:00:00+09:00")
	s0 := p.mail(tenant)
	p.at("2026-02-12T12:00:00+09:00")
	p.click(s0, referral.Human)
	p.refer(s0)

	// March: six mails, the first at the period's first instant.
	p.at("2026-03-01T00:00:00+09:00")
	s1 := p.mail(tenant)
	p.at("2026-03-03T09:30:00+09:00")
	s2, s3, s4, s5, s6 := p.mail(tenant), p.mail(tenant), p.mail(tenant), p.mail(tenant), p.mail(tenant)
	_, _ = s5, s6
	p.at("2026-03-03T09:30:05+09:00")
	p.click(s1, referral.Bot) // a link scanner, seconds after delivery
	p.click(s4, referral.Bot)
	p.at("2026-03-04T20:15:00+09:00")
	p.click(s1, referral.Human)
	p.click(s1, referral.Human) // the same person again: one link clicked
	p.click(s2, referral.Human)
	p.click(s3, referral.Human)
	p.at("2026-03-10T21:00:00+09:00")
	p.refer(s1) // #2
	p.refer(s2) // #3: a credit
	if other != "" {
		o1, o2 := p.mail(other), p.mail(other)
		_ = o2
		p.click(o1, referral.Human)
		p.refer(o1)
	}

	// April: four mails, the first 30 minutes into April in Japan (still
	// March 31 in UTC).
	p.at("2026-04-01T00:30:00+09:00")
	s7 := p.mail(tenant)
	p.at("2026-04-05T10:00:00+09:00")
	s8, s9, s10 := p.mail(tenant), p.mail(tenant), p.mail(tenant)
	p.at("2026-04-05T10:00:03+09:00")
	p.click(s9, referral.Bot)
	p.at("2026-04-06T08:00:00+09:00")
	p.click(s3, referral.Human) // a March link, clicked again in April
	p.click(s7, referral.Human)
	p.click(s8, referral.Human)
	p.click(s8, referral.Human)
	p.at("2026-04-07T19:00:00+09:00")
	p.refer(s3) // #4
	p.refer(s7) // #5
	p.at("2026-04-20T15:00:00+09:00")
	p.redeem(tenant, "採用 1名（4月入社）")

	// May (after the period): a click at its first instant, then #6 and a
	// credit.
	p.at("2026-05-01T00:00:00+09:00")
	p.click(s10, referral.Human)
	p.at("2026-05-03T11:00:00+09:00")
	p.mail(tenant)
	p.refer(s8)
	return svc, p.err
}

func (p *player) at(s string) {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	p.clock.Set(t)
}

// mail stores a send record of tenant, sent now, and returns its link.
func (p *player) mail(tenant string) *referral.Link {
	if p.err != nil {
		return nil
	}
	p.n++
	id := linktoken.NewSendID()
	s := &store.Send{
		ID: id.String(), Tenant: tenant, Rcpt: fmt.Sprintf("candidate-%02d@mail.example", p.n),
		Name: fmt.Sprintf("候補者 %02d", p.n), MessageID: fmt.Sprintf("<reject-%02d@%s.example>", p.n, tenant),
		QueueID: "q" + id.String(), Sent: p.clock.Now(),
	}
	if p.err = p.db.Update(p.ctx, func(tx *store.Tx) error { return tx.PutSend(s) }); p.err != nil {
		return nil
	}
	l, err := p.svc.Resolve(p.keys.Mint(id))
	p.err = err
	return l
}

func (p *player) click(l *referral.Link, class string) {
	if p.err == nil {
		p.err = p.svc.RecordClick(p.ctx, l, class)
	}
}

func (p *player) refer(l *referral.Link) {
	if p.err == nil {
		_, p.err = p.svc.Refer(p.ctx, l, "consent-2026-01")
	}
}

func (p *player) redeem(tenant, note string) {
	if p.err == nil {
		_, p.err = p.svc.Redeem(p.ctx, tenant, note)
	}
}
