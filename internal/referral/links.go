package referral

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/careerrelay/careerrelay/internal/metrics"
	"github.com/careerrelay/careerrelay/store"
)

// Click is one recorded click on a personal link. It holds no IP address
// and no user agent: the class is all the report needs.
type Click struct {
	SendID string    `json:"send_id"`
	Tenant string    `json:"tenant"`
	Time   time.Time `json:"time"`
	Class  string    `json:"class"` // Human or Bot
}

func (s *Service) resolve(token string) (*Link, error) {
	id, err := s.keys.Verify(token)
	if err != nil {
		return nil, ErrInvalidToken
	}
	var send *store.Send
	err = s.db.View(func(tx *store.Tx) error {
		var err error
		send, err = tx.GetSend(id.String())
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
	l := &Link{Send: send, Tenant: t}
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
	c := &Click{SendID: l.Send.ID, Tenant: l.Send.Tenant, Time: s.now().UTC(), Class: class}
	v, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("referral: encode click: %w", err)
	}
	err = s.db.Update(ctx, func(tx *store.Tx) error {
		b := tx.Bolt().Bucket([]byte(store.BucketClicks))
		n, err := b.NextSequence()
		if err != nil {
			return err
		}
		return b.Put(seqKey(n), v)
	})
	if err != nil {
		return fmt.Errorf("referral: record click: %w", err)
	}
	metrics.LinkClicks.WithLabelValues(c.Tenant, class).Inc()
	return nil
}

// Clicks calls fn for every recorded click, oldest first, until fn
// returns an error (which Clicks returns). fn runs inside a read
// transaction: it must not call the Service's writing methods.
func (s *Service) Clicks(fn func(c *Click) error) error {
	return s.db.View(func(tx *store.Tx) error {
		return tx.Bolt().Bucket([]byte(store.BucketClicks)).ForEach(func(k, v []byte) error {
			c := &Click{}
			if err := json.Unmarshal(v, c); err != nil {
				return fmt.Errorf("referral: decode click %x: %w", k, err)
			}
			return fn(c)
		})
	})
}

// seqKey is the bucket key of sequence number n: 8 bytes, big-endian, so
// that keys sort by number.
func seqKey(n uint64) []byte {
	return binary.BigEndian.AppendUint64(nil, n)
}
