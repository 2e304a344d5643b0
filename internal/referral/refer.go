package referral

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

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

func getCounts(tx *bolt.Tx, tenant string) (counts, error) {
	var c counts
	v := tx.Bucket([]byte(store.BucketBalances)).Get([]byte(tenant))
	if v == nil {
		return c, nil
	}
	if err := json.Unmarshal(v, &c); err != nil {
		return c, fmt.Errorf("decode balance of %s: %w", tenant, err)
	}
	return c, nil
}

func putCounts(tx *bolt.Tx, tenant string, c counts) error {
	v, err := json.Marshal(c)
	if err != nil {
		return err
	}
	return tx.Bucket([]byte(store.BucketBalances)).Put([]byte(tenant), v)
}

// indexKey is the key of (tenant, candidate) in store.BucketReferralIndex:
// the candidate's mailbox identity (address.Identity), so that the
// spellings of one address (case, a trailing dot, +sub-addresses, Gmail's
// dots) count once.
func indexKey(tenant, addr string) []byte {
	return []byte(tenant + "\x00" + address.Identity(addr))
}

// reindex gives every referral an index entry under its identity key.
// Stores written before identities had the lower-cased address as key;
// without this, a referral made then would not stop another spelling of
// its address from counting again. It writes only when an entry is
// missing, and leaves the old entries (and the counts) as they are.
func (s *Service) reindex(ctx context.Context) error {
	missing := 0
	check := func(btx *bolt.Tx, put bool) error {
		idx := btx.Bucket([]byte(store.BucketReferralIndex))
		return btx.Bucket([]byte(store.BucketReferrals)).ForEach(func(_, v []byte) error {
			var r Referral
			if err := json.Unmarshal(v, &r); err != nil {
				return err
			}
			key := indexKey(r.Tenant, r.Candidate)
			if idx.Get(key) != nil {
				return nil
			}
			missing++
			if put {
				return idx.Put(key, []byte(r.ID))
			}
			return nil
		})
	}
	if err := s.db.View(func(tx *store.Tx) error { return check(tx.Bolt(), false) }); err != nil || missing == 0 {
		return err
	}
	n := missing
	err := s.db.Update(ctx, func(tx *store.Tx) error { missing = 0; return check(tx.Bolt(), true) })
	if err == nil {
		s.log.Info("referral index: entries added for the candidates' mailbox identities", "referrals", n)
	}
	return err
}

// normAddr is the form in which two spellings of an address count once.
func normAddr(addr string) string { return strings.ToLower(strings.TrimSpace(addr)) }

// addrHash is how logs name a candidate.
func addrHash(addr string) string {
	h := sha256.Sum256([]byte(normAddr(addr)))
	return hex.EncodeToString(h[:6])
}

func (s *Service) refer(ctx context.Context, l *Link, consentVersion string) (*Referral, error) {
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
		Name:           l.Send.Name,
		ConsentAt:      s.now().UTC().Truncate(time.Second),
		ConsentVersion: consentVersion,
	}
	var (
		ref     *Referral
		created bool
		granted bool
	)
	err := s.db.Update(ctx, func(tx *store.Tx) error {
		ref, created, granted = nil, false, false
		btx := tx.Bolt()
		idx := btx.Bucket([]byte(store.BucketReferralIndex))
		key := indexKey(t.ID, l.Send.Rcpt)
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
		v, err := json.Marshal(&r)
		if err != nil {
			return err
		}
		if err := btx.Bucket([]byte(store.BucketReferrals)).Put([]byte(r.ID), v); err != nil {
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
	metrics.Referrals.WithLabelValues(t.ID).Inc()
	if granted {
		metrics.CreditsGranted.WithLabelValues(t.ID).Inc()
	}
	s.log.Info("referral recorded", "tenant", t.ID, "referral", ref.ID, "seq", ref.Seq,
		"send", ref.SendID, "candidate", addrHash(ref.Candidate), "credit_granted", granted)
	if s.hookURL != "" {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
	return ref, nil
}

func getReferral(tx *bolt.Tx, id string) (*Referral, error) {
	v := tx.Bucket([]byte(store.BucketReferrals)).Get([]byte(id))
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
	err := s.db.View(func(tx *store.Tx) error {
		var err error
		r, err = getReferral(tx.Bolt(), id)
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
	err := s.db.View(func(tx *store.Tx) error {
		return tx.Bolt().Bucket([]byte(store.BucketReferrals)).ForEach(func(k, v []byte) error {
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
