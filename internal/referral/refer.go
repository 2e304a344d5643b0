package referral

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/careerrelay/careerrelay/configs"
	"github.com/careerrelay/careerrelay/internal/address"
	"github.com/careerrelay/careerrelay/internal/metrics"
	"github.com/careerrelay/careerrelay/store"
)

// idEncoding spells referral ids: lower-case base32 without padding, safe in
// a URL query and case-insensitive to read out.
var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// newReferralID returns 128 random bits as 26 characters.
func newReferralID() string {
	var b [16]byte
	rand.Read(b[:])
	return idEncoding.EncodeToString(b[:])
}

// counts are a tenant's running totals in store.BucketBalances. Records
// written before voids have no voided and revoked: 0.
type counts struct {
	Referrals int `json:"referrals"`
	Granted   int `json:"granted"`
	Redeemed  int `json:"redeemed"`
	Adjusted  int `json:"adjusted"`
	Voided    int `json:"voided,omitempty"`
	Revoked   int `json:"revoked,omitempty"`
}

// available may be below zero after a revoke: credits owed.
func (c counts) available() int { return c.Granted - c.Redeemed + c.Adjusted - c.Revoked }

func (c counts) balance(tenant string) *Balance {
	return &Balance{
		Tenant: tenant, Referrals: c.Referrals, Granted: c.Granted,
		Redeemed: c.Redeemed, Adjusted: c.Adjusted, Voided: c.Voided, Revoked: c.Revoked,
		Available: c.available(),
	}
}

func getCounts(tx store.SharedTx, tenant string) (counts, error) {
	var c counts
	v := tx.Bucket(store.BucketBalances).Get([]byte(tenant))
	if v == nil {
		return c, nil
	}
	if err := json.Unmarshal(v, &c); err != nil {
		return c, fmt.Errorf("decode balance of %s: %w", tenant, err)
	}
	return c, nil
}

func putCounts(tx store.SharedTx, tenant string, c counts) error {
	v, err := json.Marshal(c)
	if err != nil {
		return err
	}
	return tx.Bucket(store.BucketBalances).Put([]byte(tenant), v)
}

// indexKey is the key of (tenant, candidate) in store.BucketReferralIndex:
// the tenant, a 0 byte, '#' and the keyed hash of the candidate's mailbox
// identity (address.IdentityHash), so that the spellings of one address
// (case, a trailing dot, +sub-addresses, Gmail's dots) count once, and
// the index holds no address.
func indexKey(tenant, hash string) []byte {
	return []byte(tenant + "\x00#" + hash)
}

// identityHash is the keyed hash of addr's mailbox identity.
func (s *Service) identityHash(addr string) string { return address.IdentityHash(s.hashKey, addr) }

// sendHash is the identity hash of a send record's candidate: from its
// address, or the hash kept once the address was erased.
func (s *Service) sendHash(send *store.Send) string {
	if send.Rcpt != "" {
		return s.identityHash(send.Rcpt)
	}
	return send.Hash
}

// reindex checks the hash key against the store and brings the referral
// index to keyed identity hashes. Stores written before had the
// lower-cased address, then the identity, in clear as keys; each referral
// gets its hash (Referral.CandidateHash) and an entry under it, and the
// keys in clear are deleted, in one commit. Counts are not changed.
func (s *Service) reindex(ctx context.Context) error {
	changes := 0
	check := func(btx store.SharedTx, write bool) error {
		missing, err := checkHashKey(btx, s.hashKey, write)
		if err != nil {
			return err
		}
		if missing {
			changes++
		}
		idx := btx.Bucket(store.BucketReferralIndex)
		refs := btx.Bucket(store.BucketReferrals)
		var fixed [][2][]byte
		err = refs.ForEach(func(k, v []byte) error {
			var r Referral
			if err := json.Unmarshal(v, &r); err != nil {
				return err
			}
			if r.CandidateHash == "" && r.Candidate != "" {
				r.CandidateHash = s.identityHash(r.Candidate)
				nv, err := json.Marshal(&r)
				if err != nil {
					return err
				}
				fixed = append(fixed, [2][]byte{append([]byte(nil), k...), nv})
			}
			if r.CandidateHash == "" || idx.Get(indexKey(r.Tenant, r.CandidateHash)) != nil {
				return nil
			}
			changes++
			if write {
				return idx.Put(indexKey(r.Tenant, r.CandidateHash), []byte(r.ID))
			}
			return nil
		})
		if err != nil {
			return err
		}
		changes += len(fixed)
		var clear [][]byte
		idx.ForEach(func(k, _ []byte) error {
			if _, rest, ok := bytes.Cut(k, []byte{0}); !ok || !bytes.HasPrefix(rest, []byte("#")) {
				clear = append(clear, append([]byte(nil), k...))
			}
			return nil
		})
		changes += len(clear)
		if !write {
			return nil
		}
		for _, kv := range fixed {
			if err := refs.Put(kv[0], kv[1]); err != nil {
				return err
			}
		}
		for _, k := range clear {
			if err := idx.Delete(k); err != nil {
				return err
			}
		}
		return nil
	}
	if err := s.sh.View(func(tx store.SharedTx) error { return check(tx, false) }); err != nil || changes == 0 {
		return err
	}
	n := changes
	err := s.sh.Update(ctx, func(tx store.SharedTx) error { changes = 0; return check(tx, true) })
	if err == nil {
		s.log.Info("referral index: candidates are indexed by keyed hashes of their mailbox identities", "changes", n)
	}
	return err
}

func (s *Service) refer(ctx context.Context, l *Link, consentVersion string, client netip.Addr) (*Referral, error) {
	if err := s.checkLink(l); err != nil {
		return nil, err
	}
	if s.expired(l.Send) {
		return nil, ErrExpired
	}
	if strings.TrimSpace(consentVersion) == "" {
		return nil, errors.New("referral: consent version missing")
	}
	t := s.cfg.TenantByID(l.Send.Tenant)
	perCredit := t.ReferralsPerCredit
	if perCredit <= 0 {
		perCredit = configs.DefaultReferralsPerCredit
	}
	// The id is drawn outside fn: fn may run more than once, and must not
	// give the same referral two ids.
	fresh := &Referral{
		ID:             newReferralID(),
		Tenant:         t.ID,
		SendID:         l.Send.ID,
		Candidate:      l.Send.Rcpt,
		CandidateHash:  s.sendHash(l.Send),
		Name:           l.Send.Name,
		ConsentAt:      s.now().UTC().Truncate(time.Second),
		ConsentVersion: consentVersion,
	}
	fresh.ConsentSeconds = consentSeconds(l.Send, fresh.ConsentAt)
	var (
		ref     *Referral
		created bool
		granted bool
	)
	err := s.sh.Update(ctx, func(tx store.SharedTx) error {
		ref, created, granted = nil, false, false
		btx := tx
		idx := btx.Bucket(store.BucketReferralIndex)
		key := indexKey(t.ID, fresh.CandidateHash)
		if id := idx.Get(key); id != nil {
			old, err := getReferral(btx, string(id))
			if err != nil {
				return err
			}
			ref = old
			return nil
		}
		c, err := getCounts(btx, t.ID)
		if err != nil {
			return err
		}
		r := *fresh
		c.Referrals++
		r.Seq = c.Referrals
		if r.Signals, err = s.signals(btx, t, &r, client); err != nil {
			return err
		}
		v, err := json.Marshal(&r)
		if err != nil {
			return err
		}
		if err := btx.Bucket(store.BucketReferrals).Put([]byte(r.ID), v); err != nil {
			return err
		}
		if err := idx.Put(key, []byte(r.ID)); err != nil {
			return err
		}
		re := &Entry{Time: r.ConsentAt, Tenant: t.ID, Kind: KindReferral, ReferralID: r.ID}
		if err := appendEntry(btx, re); err != nil {
			return err
		}
		if r.Seq%perCredit == 0 {
			ge := &Entry{Time: r.ConsentAt, Tenant: t.ID, Kind: KindGrant, ReferralID: r.ID, Amount: 1,
				Note: fmt.Sprintf("referral %d, one credit per %d", r.Seq, perCredit)}
			if err := appendEntry(btx, ge); err != nil {
				return err
			}
			c.Granted++
			granted = true
		}
		if err := putCounts(btx, t.ID, c); err != nil {
			return err
		}
		if s.hookURL != "" {
			if err := queueWebhook(btx, s.payload(&r, t, re, granted), r.ID, r.ConsentAt); err != nil {
				return err
			}
		}
		ref, created = &r, true
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("referral: record referral: %w", err)
	}
	if !created {
		return ref, nil
	}
	if s.confirm != nil {
		s.confirm(context.WithoutCancel(ctx), ref, l)
	}
	metrics.Referrals.WithLabelValues(t.ID).Inc()
	if granted {
		metrics.CreditsGranted.WithLabelValues(t.ID).Inc()
	}
	s.log.Info("referral recorded", "tenant", t.ID, "referral", ref.ID, "seq", ref.Seq,
		"send", ref.SendID, "candidate", address.LogHash(ref.Candidate), "credit_granted", granted)
	if s.hookURL != "" {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
	return ref, nil
}

func getReferral(tx store.SharedTx, id string) (*Referral, error) {
	v := tx.Bucket(store.BucketReferrals).Get([]byte(id))
	if v == nil {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	r := &Referral{}
	if err := json.Unmarshal(v, r); err != nil {
		return nil, fmt.Errorf("decode referral %s: %w", id, err)
	}
	return r, nil
}

// Referral returns the referral id (ErrNotFound).
func (s *Service) Referral(id string) (*Referral, error) {
	var r *Referral
	err := s.sh.View(func(tx store.SharedTx) error {
		var err error
		r, err = getReferral(tx, id)
		return err
	})
	if err != nil && !errors.Is(err, ErrNotFound) {
		err = fmt.Errorf("referral: %w", err)
	}
	return r, err
}

// Referrals returns the tenant's referrals (all tenants' for ""), in the
// order of their Seq within each tenant.
func (s *Service) Referrals(tenant string) ([]Referral, error) {
	var out []Referral
	err := s.sh.View(func(tx store.SharedTx) error {
		return tx.Bucket(store.BucketReferrals).ForEach(func(k, v []byte) error {
			var r Referral
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("decode referral %s: %w", k, err)
			}
			if tenant == "" || r.Tenant == tenant {
				out = append(out, r)
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("referral: list referrals: %w", err)
	}
	slices.SortFunc(out, func(a, b Referral) int {
		return cmp.Or(strings.Compare(a.Tenant, b.Tenant), cmp.Compare(a.Seq, b.Seq))
	})
	return out, nil
}
