package reporttest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"time"

	"github.com/careerrelay/careerrelay/internal/referral"
	"github.com/careerrelay/careerrelay/store"
)

// Memory is a bookkeeping held in memory, a report.Source with the
// optional referral list and ratings.
type Memory struct {
	SendList  []store.Send
	ClickList []referral.Click
	Entries   []referral.Entry
	Refs      []referral.Referral
	Stars     []Rating
}

// Rating is one anonymous rating of a tenant's rejection mail.
type Rating struct {
	Tenant string
	At     time.Time
	Stars  int
}

// Sends calls fn for each send record.
func (m *Memory) Sends(fn func(*store.Send) error) error {
	for i := range m.SendList {
		if err := fn(&m.SendList[i]); err != nil {
			return err
		}
	}
	return nil
}

// Clicks calls fn for each click record.
func (m *Memory) Clicks(fn func(*referral.Click) error) error {
	for i := range m.ClickList {
		if err := fn(&m.ClickList[i]); err != nil {
			return err
		}
	}
	return nil
}

// Ledger returns the ledger, oldest entry first.
func (m *Memory) Ledger() ([]referral.Entry, error) { return m.Entries, nil }

// Referrals returns tenant's referrals.
func (m *Memory) Referrals(tenant string) ([]referral.Referral, error) {
	var out []referral.Referral
	for _, r := range m.Refs {
		if r.Tenant == tenant {
			out = append(out, r)
		}
	}
	return out, nil
}

// Ratings calls fn for each of tenant's ratings.
func (m *Memory) Ratings(tenant string, fn func(time.Time, int) error) error {
	for _, r := range m.Stars {
		if r.Tenant == tenant {
			if err := fn(r.At, r.Stars); err != nil {
				return err
			}
		}
	}
	return nil
}

// YearFrom and YearTo are the period of Year's busy year; the 12 months
// before it are a quieter previous period.
const (
	YearFrom = "2026-01-01"
	YearTo   = "2026-12-31"
)

// Year makes 24 months of a busy tenant's bookkeeping, 2025 and 2026
// (every month of 2026 busier than 2025's): each month about a hundred
// mails, a third of them clicked by a person, one in eight consenting, a
// credit every perCredit referrals, a few redeemed, link scanners'
// clicks, a consent whose only click was classed bot each month, ratings,
// a void and its revoke, signals and a withdrawal. Everything the page can
// show is there, so it is the longest page of a year.
func Year(tenant string, perCredit int) *Memory {
	m := &Memory{}
	type event struct {
		at   time.Time
		kind string
		ref  string
	}
	var events []event
	jst := time.FixedZone("JST", 9*60*60)
	n := 0
	for mi := range 24 {
		month := time.Date(2025, time.Month(1+mi), 1, 0, 0, 0, 0, jst)
		sends := 70 + (mi*37)%40
		if mi >= 12 {
			sends += 25
		}
		for i := range sends {
			n++
			id := fmt.Sprintf("%032x", n)
			sent := month.Add(time.Duration(4+i%20)*24*time.Hour + 10*time.Hour)
			m.SendList = append(m.SendList, store.Send{ID: id, Tenant: tenant, Sent: sent, Delivery: store.SendDelivered,
				Rcpt: fmt.Sprintf("c%d@mail.example", n), QueueID: "q" + id})
			if i%9 == 0 {
				m.ClickList = append(m.ClickList, referral.Click{SendID: id, Tenant: tenant, Class: referral.Bot, Time: sent.Add(5 * time.Second)})
			}
			human := i%3 == 0
			if human {
				m.ClickList = append(m.ClickList, referral.Click{SendID: id, Tenant: tenant, Class: referral.Human,
					Time: sent.Add(20 * time.Hour), Count: 1 + i%2})
			}
			// One in eight consents; one more each month whose view was
			// classed bot.
			if (human && i%24 == 0) || (mi >= 12 && i%24 == 3) || i == 10 {
				consent := sent.Add(2 * 24 * time.Hour)
				ref := referral.Referral{ID: "ref-" + id, Tenant: tenant, SendID: id, ConsentAt: consent, ConsentVersion: "v1"}
				if n%41 == 0 {
					ref.Signals = []referral.Signal{{Name: referral.SignalQuick}}
				}
				m.Refs = append(m.Refs, ref)
				events = append(events, event{consent, referral.KindReferral, ref.ID})
				m.Stars = append(m.Stars, Rating{Tenant: tenant, At: consent.Add(time.Minute), Stars: 3 + n%3})
			} else if i%7 == 0 {
				m.Stars = append(m.Stars, Rating{Tenant: tenant, At: sent.Add(21 * time.Hour), Stars: 2 + n%4})
			}
		}
		if mi%4 == 3 {
			events = append(events, event{month.Add(26 * 24 * time.Hour), referral.KindRedeem, ""})
		}
	}
	// In 2026 a referral voided (and a credit revoked), one withdrawn.
	r := &m.Refs[len(m.Refs)-40]
	v := r.ConsentAt.Add(10 * 24 * time.Hour)
	r.VoidedAt, r.VoidReason = &v, "registered twice"
	events = append(events, event{v, referral.KindVoid, r.ID}, event{v, referral.KindRevoke, r.ID})
	w := m.Refs[len(m.Refs)-20].ConsentAt.Add(48 * time.Hour)
	m.Refs[len(m.Refs)-20].WithdrawnAt = &w
	sort.SliceStable(events, func(i, j int) bool { return events[i].at.Before(events[j].at) })
	seq, refs, prev := uint64(0), 0, ""
	add := func(e event, amount int) {
		seq++
		sum := sha256.Sum256(fmt.Appendf(nil, "%s %d %s", prev, seq, e.kind))
		h := hex.EncodeToString(sum[:])
		m.Entries = append(m.Entries, referral.Entry{Seq: seq, Time: e.at.UTC(), Tenant: tenant, Kind: e.kind,
			ReferralID: e.ref, Amount: amount, Prev: prev, Hash: h})
		prev = h
	}
	for _, e := range events {
		switch e.kind {
		case referral.KindReferral:
			refs++
			add(e, 0)
			if refs%perCredit == 0 {
				add(event{e.at, referral.KindGrant, e.ref}, 1)
			}
		case referral.KindRedeem, referral.KindRevoke:
			add(e, -1)
		default:
			add(e, 0)
		}
	}
	return m
}
