package referral

import (
	"fmt"
	"slices"
	"time"

	"github.com/careerrelay/careerrelay/internal/address"
	"github.com/careerrelay/careerrelay/store"
)

// Disclosure is every record held about one candidate address for one
// tenant: the answer to a disclosure request (`careerrelay privacy
// export`). Records whose personal fields were erased are listed too,
// found by the keyed hash of the address.
type Disclosure struct {
	Tenant       string            `json:"tenant"`
	Address      string            `json:"address"`       // as asked
	IdentityHash string            `json:"identity_hash"` // the keyed hash that stands in for the address once erased
	Made         time.Time         `json:"made"`
	Sends        []DisclosedSend   `json:"sends"`     // the mails that carried a personal link
	Clicks       []Click           `json:"clicks"`    // the views of those links, by class and hour
	Referrals    []Referral        `json:"referrals"` // consents
	Ledger       []Entry           `json:"ledger"`    // the ledger entries of those referrals
	Webhooks     []PendingWebhook  `json:"webhooks"`  // their agency webhooks not yet delivered
	Queued       []DisclosedQueued `json:"queued"`    // copies to the address still in the queue
}

// DisclosedSend is a send record with its id.
type DisclosedSend struct {
	ID string `json:"id"`
	*store.Send
}

// DisclosedQueued is a queued copy to the address.
type DisclosedQueued struct {
	QueueID  string    `json:"queue_id"`
	Received time.Time `json:"received"`
	Attempts int       `json:"attempts"`
}

// Disclose gathers every record about addr (by its mailbox identity) for
// tenant.
func (s *Service) Disclose(tenant, addr string) (*Disclosure, error) {
	if s.cfg.TenantByID(tenant) == nil {
		return nil, ErrUnknownTenant
	}
	if address.Domain(addr) == "" {
		return nil, ErrBadAddress
	}
	hash := s.identityHash(addr)
	d := &Disclosure{Tenant: tenant, Address: addr, IdentityHash: hash, Made: s.now().UTC().Truncate(time.Second),
		Sends: []DisclosedSend{}, Clicks: []Click{}, Referrals: []Referral{}, Ledger: []Entry{},
		Webhooks: []PendingWebhook{}, Queued: []DisclosedQueued{}}
	sendIDs := map[string]bool{}
	err := s.sh.View(func(tx store.SharedTx) error {
		return store.Sends(tx, func(v *store.Send) error {
			if v.Tenant == tenant && s.sendHash(v) == hash {
				d.Sends = append(d.Sends, DisclosedSend{ID: v.ID, Send: v})
				sendIDs[v.ID] = true
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("referral: disclose: %w", err)
	}
	slices.SortFunc(d.Sends, func(a, b DisclosedSend) int { return a.Sent.Compare(b.Sent) })
	if err := s.Clicks(func(c *Click) error {
		if sendIDs[c.SendID] {
			d.Clicks = append(d.Clicks, *c)
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("referral: disclose: %w", err)
	}
	refs, err := s.Referrals(tenant)
	if err != nil {
		return nil, err
	}
	refIDs := map[string]bool{}
	for _, r := range refs {
		if r.CandidateHash == hash || r.CandidateHash == "" && r.Candidate != "" && s.identityHash(r.Candidate) == hash {
			d.Referrals = append(d.Referrals, r)
			refIDs[r.ID] = true
		}
	}
	entries, err := s.ledger(tenant)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if refIDs[e.ReferralID] {
			d.Ledger = append(d.Ledger, e)
		}
	}
	hooks, err := s.PendingWebhooks()
	if err != nil {
		return nil, err
	}
	for _, h := range hooks {
		if refIDs[h.ReferralID] {
			d.Webhooks = append(d.Webhooks, h)
		}
	}
	err = s.db.View(func(tx *store.Tx) error {
		return tx.Queued(func(m *store.Message) error {
			for _, r := range m.PendingRcpts() {
				if m.Tenant == tenant && s.identityHash(r) == hash {
					d.Queued = append(d.Queued, DisclosedQueued{QueueID: m.ID, Received: m.Received, Attempts: m.Attempts})
					break
				}
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("referral: disclose: queue: %w", err)
	}
	return d, nil
}
