package referral

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/careerrelay/careerrelay/store"
)

// ErrRated: the candidate has rated already, or the stars are not 1 to 5.
var ErrRated = errors.New("referral: already rated")

// Rate counts the link's candidate's anonymous rating of the rejection
// mail (1 to 5 stars), once per referral: the referral only notes that it
// rated (Referral.Rated); the stars are added to the tenant's counts of
// the hour (store.BucketRatings), with nothing that ties them to it.
func (s *Service) Rate(ctx context.Context, l *Link, stars int) error {
	if err := s.checkLink(l); err != nil {
		return err
	}
	if stars < 1 || stars > 5 {
		return fmt.Errorf("%w: %d stars is not 1 to 5", ErrRated, stars)
	}
	now := s.now().UTC()
	err := s.sh.Update(ctx, func(tx store.SharedTx) error {
		btx := tx
		id := btx.Bucket(store.BucketReferralIndex).Get(indexKey(l.Send.Tenant, s.sendHash(l.Send)))
		if id == nil {
			return ErrNotReferred
		}
		r, err := getReferral(btx, string(id))
		if err != nil {
			return err
		}
		if r.Rated {
			return ErrRated
		}
		r.Rated = true
		v, err := json.Marshal(r)
		if err != nil {
			return err
		}
		if err := btx.Bucket(store.BucketReferrals).Put([]byte(r.ID), v); err != nil {
			return err
		}
		b := btx.Bucket(store.BucketRatings)
		key := binary.BigEndian.AppendUint64([]byte(r.Tenant+"\x00"), uint64(now.Truncate(time.Hour).Unix()))
		var counts [5]int
		if v := b.Get(key); v != nil {
			if err := json.Unmarshal(v, &counts); err != nil {
				return fmt.Errorf("decode ratings %x: %w", key, err)
			}
		}
		counts[stars-1]++
		v, err = json.Marshal(counts)
		if err != nil {
			return err
		}
		return b.Put(key, v)
	})
	if err != nil && !errors.Is(err, ErrRated) && !errors.Is(err, ErrNotReferred) {
		return fmt.Errorf("referral: record rating: %w", err)
	}
	return err
}

// Ratings calls fn for each rating of tenant, with the hour it was given
// in, oldest first (the impact report's average).
func (s *Service) Ratings(tenant string, fn func(at time.Time, stars int) error) error {
	prefix := []byte(tenant + "\x00")
	return s.sh.View(func(tx store.SharedTx) error {
		c := tx.Bucket(store.BucketRatings).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			if len(k) != len(prefix)+8 {
				continue
			}
			at := time.Unix(int64(binary.BigEndian.Uint64(k[len(prefix):])), 0).UTC()
			var counts [5]int
			if err := json.Unmarshal(v, &counts); err != nil {
				return fmt.Errorf("referral: decode ratings %x: %w", k, err)
			}
			for i, n := range counts {
				for range n {
					if err := fn(at, i+1); err != nil {
						return err
					}
				}
			}
		}
		return nil
	})
}
