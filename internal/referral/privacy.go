package referral

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/careerrelay/careerrelay/internal/address"
	"github.com/careerrelay/careerrelay/store"
)

// Privacy work (docs/privacy.md): a candidate's personal data is the
// address, display name and Message-ID of their send records, the address
// and name of their referral, and the same in an agency webhook still in
// the outbox. Retention (Purge) and erasure (Erase) blank those fields and
// keep the keyed hash of the address's identity (Send.Hash,
// Referral.CandidateHash), so that the candidate still counts once; clicks
// hold only a class and a time, and the ledger names referrals by id, so
// both stay as they are and the ledger stays verifiable. Then the store's
// free pages are zeroed (store.DB.ScrubFree; with the shared records in
// PostgreSQL, its table is rewritten too), so that no old copy of the
// records stays in the file.

// ErrBadAddress: an erasure or disclosure request without a usable address.
var ErrBadAddress = errors.New("referral: not a mail address")

// Erasure says what Erase did.
type Erasure struct {
	Tenant      string `json:"tenant"`
	Sends       int    `json:"sends"`        // send records whose address, name and Message-ID were erased
	Referrals   int    `json:"referrals"`    // referrals whose address and name were erased
	Webhooks    int    `json:"webhooks"`     // agency webhooks in the outbox whose candidate fields were erased
	Queued      int    `json:"queued"`       // copies to the address still in the queue: they leave the store when delivered
	PagesZeroed int    `json:"pages_zeroed"` // free pages of the store file overwritten
}

// Purged says what a retention pass did.
type Purged struct {
	Before      time.Time `json:"before"` // records older than this were erased
	Sends       int       `json:"sends"`
	Referrals   int       `json:"referrals"`
	Webhooks    int       `json:"webhooks"`
	PagesZeroed int       `json:"pages_zeroed"`
}

// batch bounds the records one retention commit rewrites.
const batch = 500

// Erase erases the personal data held about addr for tenant now: every
// send record and referral whose address has addr's mailbox identity, and
// the candidate fields of their webhooks still in the outbox. Copies still
// queued to addr are counted, not removed: they are the company's mail in
// transit, and leave the store when delivered.
func (s *Service) Erase(ctx context.Context, tenant, addr string) (*Erasure, error) {
	if s.cfg.TenantByID(tenant) == nil {
		return nil, ErrUnknownTenant
	}
	if address.Domain(addr) == "" {
		return nil, ErrBadAddress
	}
	hash := s.identityHash(addr)
	now := s.now().UTC().Truncate(time.Second)
	e := &Erasure{Tenant: tenant}
	sends := func(v *store.Send) bool { return v.Tenant == tenant && s.sendHash(v) == hash }
	refs := func(r *Referral) bool { return r.Tenant == tenant && r.CandidateHash == hash }
	if err := s.erase(ctx, now, sends, refs, &e.Sends, &e.Referrals, &e.Webhooks); err != nil {
		return nil, fmt.Errorf("referral: erase: %w", err)
	}
	err := s.db.View(func(tx *store.Tx) error {
		return tx.Queued(func(m *store.Message) error {
			for _, r := range m.PendingRcpts() {
				if m.Tenant == tenant && s.identityHash(r) == hash {
					e.Queued++
				}
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("referral: erase: queue: %w", err)
	}
	if e.Queued > 0 {
		// Those copies leave the store when delivered or bounced, within
		// delivery.lifetime: until then every retention pass zeroes the
		// free pages, so their bytes do not stay behind either.
		until := now.Add(max(s.cfg.Delivery.Lifetime, 24*time.Hour)).Unix()
		err := s.sh.Update(ctx, func(tx store.SharedTx) error {
			return tx.Bucket(store.BucketPrivacy).Put([]byte("scrub_until"), []byte(strconv.FormatInt(until, 10)))
		})
		if err != nil {
			return nil, fmt.Errorf("referral: erase: %w", err)
		}
	}
	if e.PagesZeroed, err = s.scrub(ctx); err != nil {
		return e, fmt.Errorf("referral: erased, but the freed pages are not zeroed yet (the hourly pass retries): %w", err)
	}
	s.log.Info("candidate erased", "tenant", tenant, "candidate", address.LogHash(addr),
		"sends", e.Sends, "referrals", e.Referrals, "webhooks", e.Webhooks, "queued", e.Queued, "pages_zeroed", e.PagesZeroed)
	return e, nil
}

// Purge erases the personal data older than privacy.retention: send
// records sent before it, referrals consented before it and the candidate
// fields of those referrals' webhooks still in the outbox; then it zeroes
// the store's free pages. It also drops the consent counts of networks
// with no consent within SharedNetworkWindow.
func (s *Service) Purge(ctx context.Context) (*Purged, error) {
	now := s.now().UTC()
	p := &Purged{Before: now.Add(-s.cfg.Privacy.Retention).Truncate(time.Second)}
	if s.cfg.Privacy.Retention <= 0 {
		return p, nil // not configured (tests that build a Config by hand)
	}
	sends := func(v *store.Send) bool { return v.Sent.Before(p.Before) }
	refs := func(r *Referral) bool { return r.ConsentAt.Before(p.Before) }
	if err := s.erase(ctx, now.Truncate(time.Second), sends, refs, &p.Sends, &p.Referrals, &p.Webhooks); err != nil {
		return nil, fmt.Errorf("referral: retention: %w", err)
	}
	if err := s.pruneNetworks(ctx, now); err != nil {
		return nil, fmt.Errorf("referral: retention: consent networks: %w", err)
	}
	if p.Sends+p.Referrals+p.Webhooks > 0 || s.scrubPending(now) {
		// The old copies of what was just erased are in free pages now,
		// or an erasure waits for queued copies to leave. (A pass with
		// neither leaves the file alone: zeroing reads every free page
		// under the writer lock.)
		var err error
		if p.PagesZeroed, err = s.scrub(ctx); err != nil {
			return p, fmt.Errorf("referral: retention: %w", err)
		}
	}
	if p.Sends+p.Referrals+p.Webhooks > 0 || p.PagesZeroed > 0 {
		s.log.Info("retention: personal data erased", "before", p.Before, "sends", p.Sends,
			"referrals", p.Referrals, "webhooks", p.Webhooks, "pages_zeroed", p.PagesZeroed)
	}
	return p, nil
}

// scrubber is a shared store that can rewrite its files so that blanked
// records leave them (store/postgres: VACUUM FULL and a checkpoint).
type scrubber interface {
	Scrub(ctx context.Context) error
}

// scrub zeroes the free pages of the node's bbolt file and, when the
// shared records are elsewhere and that store can, rewrites its files
// too. It returns the pages zeroed in the bbolt file.
func (s *Service) scrub(ctx context.Context) (int, error) {
	n, err := s.db.ScrubFree(ctx)
	if err != nil {
		return n, err
	}
	if sc, ok := s.sh.(scrubber); ok {
		if err := sc.Scrub(ctx); err != nil {
			return n, fmt.Errorf("shared store: %w", err)
		}
	}
	return n, nil
}

// RetentionInterval is how often RunRetention purges.
const RetentionInterval = time.Hour

// RunRetention purges (Purge) at once and then every RetentionInterval
// until ctx is done. A failed pass is logged and tried again at the next.
func (s *Service) RunRetention(ctx context.Context) {
	t := time.NewTicker(RetentionInterval)
	defer t.Stop()
	for {
		if _, err := s.Purge(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("retention pass", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// scrubPending tells whether an erasure found copies still queued to the
// candidate less than delivery.lifetime ago (see Erase).
func (s *Service) scrubPending(now time.Time) bool {
	var until int64
	s.sh.View(func(tx store.SharedTx) error {
		until, _ = strconv.ParseInt(string(tx.Bucket(store.BucketPrivacy).Get([]byte("scrub_until"))), 10, 64)
		return nil
	})
	return now.Unix() < until
}

// pruneNetworks deletes the consent counts of networks whose last consent
// is older than SharedNetworkWindow.
func (s *Service) pruneNetworks(ctx context.Context, now time.Time) error {
	return s.sh.Update(ctx, func(tx store.SharedTx) error {
		b := tx.Bucket(store.BucketConsentNetworks)
		var old [][]byte
		err := b.ForEach(func(k, v []byte) error {
			var times []int64
			if err := json.Unmarshal(v, &times); err != nil {
				return err
			}
			if len(times) == 0 || now.Sub(time.Unix(times[len(times)-1], 0)) >= SharedNetworkWindow {
				old = append(old, bytes.Clone(k))
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range old {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
}

// erase blanks the personal fields of the send records and referrals that
// match, and of the webhooks of those referrals, adding to the counts.
func (s *Service) erase(ctx context.Context, now time.Time, sendMatch func(*store.Send) bool,
	refMatch func(*Referral) bool, nSends, nRefs, nHooks *int) error {
	n, err := s.rewriteAll(ctx, store.BucketSends, func(k, v []byte) ([]byte, error) {
		send := &store.Send{ID: string(k)}
		if err := json.Unmarshal(v, send); err != nil {
			return nil, fmt.Errorf("decode send %s: %w", k, err)
		}
		if send.Rcpt == "" && send.Name == "" && send.MessageID == "" || !sendMatch(send) {
			return nil, nil
		}
		send.Hash = s.sendHash(send)
		send.Rcpt, send.Name, send.MessageID, send.Erased = "", "", "", now
		return json.Marshal(send)
	})
	*nSends += n
	if err != nil {
		return err
	}
	erased := map[string]bool{}
	n, err = s.rewriteAll(ctx, store.BucketReferrals, func(k, v []byte) ([]byte, error) {
		r := &Referral{}
		if err := json.Unmarshal(v, r); err != nil {
			return nil, fmt.Errorf("decode referral %s: %w", k, err)
		}
		if !refMatch(r) {
			return nil, nil
		}
		erased[r.ID] = true
		if r.Candidate == "" && r.Name == "" {
			return nil, nil
		}
		if r.CandidateHash == "" {
			r.CandidateHash = s.identityHash(r.Candidate)
		}
		r.Candidate, r.Name, r.ErasedAt = "", "", &now
		return json.Marshal(r)
	})
	*nRefs += n
	if err != nil {
		return err
	}
	n, err = s.rewriteAll(ctx, store.BucketOutbox, func(k, v []byte) ([]byte, error) {
		var it outboxItem
		if err := json.Unmarshal(v, &it); err != nil {
			return nil, fmt.Errorf("decode webhook %x: %w", k, err)
		}
		if !erased[it.ReferralID] {
			return nil, nil
		}
		body, changed, err := blankCandidate(it.Body)
		if err != nil || !changed {
			return nil, err
		}
		it.Body = body
		return json.Marshal(&it)
	})
	*nHooks += n
	return err
}

// blankCandidate removes the candidate's address and name from a webhook
// body; the agency still learns the referral (by its id).
func blankCandidate(body []byte) ([]byte, bool, error) {
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, false, fmt.Errorf("decode webhook body: %w", err)
	}
	email, _ := m["candidate_email"].(string)
	_, named := m["candidate_name"]
	if email == "" && !named {
		return body, false, nil
	}
	m["candidate_email"] = ""
	delete(m, "candidate_name")
	m["candidate_erased"] = true
	out, err := json.Marshal(m)
	return out, true, err
}

// rewriteAll calls fn for every record of bucket and puts the values it
// returns (nil: unchanged), at most batch of them per commit, so that a
// pass over a large store never holds the writer for long. It returns how
// many records it rewrote. fn may be called more than once for a record
// (a commit's fn can run again): it must only compute.
func (s *Service) rewriteAll(ctx context.Context, bucket string, fn func(k, v []byte) ([]byte, error)) (int, error) {
	var from []byte
	total := 0
	for {
		var next []byte
		done := 0
		err := s.sh.Update(ctx, func(tx store.SharedTx) error {
			next, done = nil, 0
			b := tx.Bucket(bucket)
			type kv struct{ k, v []byte }
			var puts []kv
			c := b.Cursor()
			k, v := c.First()
			if from != nil {
				k, v = c.Seek(from)
			}
			for ; k != nil; k, v = c.Next() {
				if len(puts) == batch {
					next = bytes.Clone(k)
					break
				}
				nv, err := fn(k, v)
				if err != nil {
					return err
				}
				if nv != nil {
					puts = append(puts, kv{bytes.Clone(k), nv})
				}
			}
			for _, p := range puts {
				if err := b.Put(p.k, p.v); err != nil {
					return err
				}
			}
			done = len(puts)
			return nil
		})
		if err != nil {
			return total, err
		}
		total += done
		if next == nil {
			return total, nil
		}
		from = next
	}
}
