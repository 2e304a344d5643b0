package referral

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/careerrelay/careerrelay/internal/metrics"
	"github.com/careerrelay/careerrelay/store"
)

// Click is the clicks of one class on a personal link in one hour (Count
// of them, the first at Time), or one click as stores written before
// click counts recorded them (Count 1). It holds no IP address and no user
// agent: the class is all the report needs.
type Click struct {
	SendID string    `json:"send_id"`
	Tenant string    `json:"tenant"`
	Time   time.Time `json:"time"`            // the first click of the class in the hour
	Class  string    `json:"class"`           // Human or Bot
	Count  int       `json:"count,omitempty"` // clicks; 1 when absent
}

// MaxClickHours bounds the hour records one link keeps in the store: when
// a link is clicked in one more hour, its two oldest records are folded
// into one (counts added, kept at the older hour with the earlier first
// click times). A link's clicks therefore take at most MaxClickHours
// records, however often and however long it is clicked.
const MaxClickHours = 48

// clickCount is the value of a BucketClickCounts record: one link's
// clicks in one hour (or, once folded, from that hour up to the next
// record's).
type clickCount struct {
	Tenant     string    `json:"tenant"`
	Human      int       `json:"human,omitempty"`
	Bot        int       `json:"bot,omitempty"`
	HumanFirst time.Time `json:"human_first,omitzero"` // the first human click
	BotFirst   time.Time `json:"bot_first,omitzero"`
}

// add counts n clicks of class, the first at first.
func (c *clickCount) add(class string, n int, first time.Time) {
	count, at := &c.Human, &c.HumanFirst
	if class == Bot {
		count, at = &c.Bot, &c.BotFirst
	}
	*count += n
	if !first.IsZero() && (at.IsZero() || first.Before(*at)) {
		*at = first
	}
}

func (s *Service) resolve(token string) (*Link, error) {
	id, err := s.keys.Verify(token)
	if err != nil {
		return nil, ErrInvalidToken
	}
	var (
		send *store.Send
		ref  *Referral
	)
	// The send record and its candidate's referral in one read: the link
	// page shows the application instead of the offer once they consented.
	err = s.sh.View(func(tx store.SharedTx) error {
		var err error
		if send, err = store.GetSend(tx, id.String()); err != nil {
			return err
		}
		ref, err = referralOf(tx, send, s.sendHash(send))
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		// A valid MAC without a record: a store restored from a backup
		// older than the mail, or a send record never committed.
		return nil, ErrInvalidToken
	}
	if err != nil {
		return nil, fmt.Errorf("referral: resolve link: %w", err)
	}
	t := s.cfg.TenantByID(send.Tenant)
	if t == nil {
		return nil, fmt.Errorf("%w %q (link %s)", ErrUnknownTenant, send.Tenant, send.ID)
	}
	l := &Link{Send: send, Tenant: t, Referral: ref}
	if s.expired(send) {
		return l, ErrExpired
	}
	return l, nil
}

// expired tells whether send's link is older than links.ttl.
func (s *Service) expired(send *store.Send) bool {
	return s.now().Sub(send.Sent) > s.ttl
}

// checkLink validates a Link handed back by a caller: it has a send record
// whose tenant is still configured.
func (s *Service) checkLink(l *Link) error {
	if l == nil || l.Send == nil || l.Send.ID == "" {
		return ErrInvalidToken
	}
	if s.cfg.TenantByID(l.Send.Tenant) == nil {
		return fmt.Errorf("%w %q", ErrUnknownTenant, l.Send.Tenant)
	}
	return nil
}

func (s *Service) recordClick(ctx context.Context, l *Link, class string) error {
	if err := s.checkLink(l); err != nil {
		return err
	}
	if class != Human && class != Bot {
		return fmt.Errorf("referral: click class %q: want %q or %q", class, Human, Bot)
	}
	now := s.now().UTC()
	err := s.sh.Update(ctx, func(tx store.SharedTx) error {
		return addClick(tx.Bucket(store.BucketClickCounts), l.Send.ID, l.Send.Tenant, class, now)
	})
	if err != nil {
		return fmt.Errorf("referral: record click: %w", err)
	}
	metrics.LinkClicks.WithLabelValues(l.Send.Tenant, class).Inc()
	return nil
}

// clickPrefix is the start of the BucketClickCounts keys of a link.
func clickPrefix(sendID string) []byte { return append([]byte(sendID), 0) }

// addClick counts one click at now in the record of now's hour, folding
// the link's oldest records when it would have more than MaxClickHours.
func addClick(b store.Bucket, sendID, tenant, class string, now time.Time) error {
	prefix := clickPrefix(sendID)
	key := binary.BigEndian.AppendUint64(slices.Clip(prefix), uint64(now.Truncate(time.Hour).Unix()))
	c := &clickCount{}
	if v := b.Get(key); v != nil {
		if err := json.Unmarshal(v, c); err != nil {
			return fmt.Errorf("decode click count %x: %w", key, err)
		}
	} else if err := foldClicks(b, prefix); err != nil {
		return err
	}
	c.Tenant = tenant
	c.add(class, 1, now)
	v, err := json.Marshal(c)
	if err != nil {
		return err
	}
	return b.Put(key, v)
}

// foldClicks makes room for one more hour record of the link with keys
// prefix: while it has MaxClickHours or more, the second oldest is added
// into the oldest and deleted.
func foldClicks(b store.Bucket, prefix []byte) error {
	var keys [][]byte
	cur := b.Cursor()
	for k, _ := cur.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = cur.Next() {
		keys = append(keys, bytes.Clone(k))
	}
	if len(keys) < MaxClickHours {
		return nil
	}
	oldest := &clickCount{}
	if err := json.Unmarshal(b.Get(keys[0]), oldest); err != nil {
		return fmt.Errorf("decode click count %x: %w", keys[0], err)
	}
	for _, k := range keys[1 : len(keys)-MaxClickHours+2] {
		c := &clickCount{}
		if err := json.Unmarshal(b.Get(k), c); err != nil {
			return fmt.Errorf("decode click count %x: %w", k, err)
		}
		oldest.add(Human, c.Human, c.HumanFirst)
		oldest.add(Bot, c.Bot, c.BotFirst)
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	v, err := json.Marshal(oldest)
	if err != nil {
		return err
	}
	return b.Put(keys[0], v)
}

// Clicks calls fn for the clicks of every link, until fn returns an error
// (which Clicks returns): first one Click for each click recorded before
// click counts (oldest first), then one for each link, hour and class with
// clicks (by link, then hour). fn runs inside a read transaction: it must
// not call the Service's writing methods.
func (s *Service) Clicks(fn func(c *Click) error) error {
	return s.sh.View(func(tx store.SharedTx) error {
		err := tx.Bucket(store.BucketClicks).ForEach(func(k, v []byte) error {
			c := &Click{}
			if err := json.Unmarshal(v, c); err != nil {
				return fmt.Errorf("referral: decode click %x: %w", k, err)
			}
			c.Count = max(c.Count, 1)
			return fn(c)
		})
		if err != nil {
			return err
		}
		return tx.Bucket(store.BucketClickCounts).ForEach(func(k, v []byte) error {
			if len(k) < 9 || k[len(k)-9] != 0 {
				return fmt.Errorf("referral: click count key %x", k)
			}
			c := &clickCount{}
			if err := json.Unmarshal(v, c); err != nil {
				return fmt.Errorf("referral: decode click count %x: %w", k, err)
			}
			id := string(k[:len(k)-9])
			if c.Human > 0 {
				if err := fn(&Click{SendID: id, Tenant: c.Tenant, Time: c.HumanFirst, Class: Human, Count: c.Human}); err != nil {
					return err
				}
			}
			if c.Bot > 0 {
				return fn(&Click{SendID: id, Tenant: c.Tenant, Time: c.BotFirst, Class: Bot, Count: c.Bot})
			}
			return nil
		})
	})
}

// FirstHumanClick returns the time of the first human click on the link of
// sendID, and false when no person has clicked it.
func (s *Service) FirstHumanClick(sendID string) (time.Time, bool, error) {
	var first time.Time
	err := s.sh.View(func(tx store.SharedTx) error {
		prefix := clickPrefix(sendID)
		cur := tx.Bucket(store.BucketClickCounts).Cursor()
		for k, v := cur.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = cur.Next() {
			c := &clickCount{}
			if err := json.Unmarshal(v, c); err != nil {
				return fmt.Errorf("referral: decode click count %x: %w", k, err)
			}
			if c.Human > 0 && (first.IsZero() || c.HumanFirst.Before(first)) {
				first = c.HumanFirst
			}
		}
		// Clicks recorded before click counts, one record each.
		return tx.Bucket(store.BucketClicks).ForEach(func(k, v []byte) error {
			c := &Click{}
			if err := json.Unmarshal(v, c); err != nil {
				return fmt.Errorf("referral: decode click %x: %w", k, err)
			}
			if c.SendID == sendID && c.Class == Human && (first.IsZero() || c.Time.Before(first)) {
				first = c.Time
			}
			return nil
		})
	})
	return first, !first.IsZero(), err
}

// seqKey is the bucket key of sequence number n: 8 bytes, big-endian, so
// that keys sort by number.
func seqKey(n uint64) []byte {
	return binary.BigEndian.AppendUint64(nil, n)
}
