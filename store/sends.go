package store

import (
	"encoding/json"
	"fmt"
	"time"
)

// BucketSends holds the send records, keyed by send id.
const BucketSends = "sends"

var bucketSends = []byte(BucketSends)

// Send is the record behind one personal link: who was sent it, for which
// tenant, in which mail. A link token carries only the send id; this record
// is where the personal data lives.
type Send struct {
	ID        string    `json:"-"`                    // send id (hex), the key
	Tenant    string    `json:"tenant"`               // tenant id
	Rcpt      string    `json:"rcpt"`                 // the candidate's address, as in RCPT TO
	Name      string    `json:"name,omitempty"`       // the candidate's display name from To/Cc, decoded
	MessageID string    `json:"message_id,omitempty"` // the Message-ID header
	QueueID   string    `json:"queue_id"`             // the queued copy that carries the link
	Sent      time.Time `json:"sent"`                 // when the mail was accepted
	Delivery  string    `json:"delivery,omitempty"`   // SendQueued, SendDelivered or SendBounced; "" for records older than the field
	Delivered time.Time `json:"delivered,omitzero"`   // when the next hop accepted the copy
	// Hash stands in for Rcpt once the personal fields are erased (by
	// retention or on request): the keyed hash of the address's identity
	// (address.IdentityHash), so that the candidate still counts once.
	Hash   string    `json:"hash,omitempty"`
	Erased time.Time `json:"erased,omitzero"` // when Rcpt, Name and MessageID were erased
}

// Where the copy that carries a send record's link stands (Send.Delivery):
// queued until the next hop accepted it (delivered) or it failed for good
// (bounced). A record without the field was written before careerrelay
// followed its copy, and counts as delivered.
const (
	SendQueued    = "queued"
	SendDelivered = "delivered"
	SendBounced   = "bounced"
	// SendMinted: the link was made for the tenant's own mail system (the
	// tenant API, `careerrelay links`), which sends it; counted as sent.
	SendMinted = "minted"
)

// SetSendDelivery records where the copy of send record id stands
// (SendDelivered or SendBounced); the delivery engine calls it in the
// commit that records the attempt. A record that is gone gives ErrNotFound.
func (tx *Tx) SetSendDelivery(id, delivery string) error {
	return SetSendDelivery(tx.Shared(), id, delivery)
}

// PutSend stores a send record; the pipeline writes it in the same commit
// as the copy that carries its link.
func (tx *Tx) PutSend(s *Send) error { return PutSend(tx.Shared(), s) }

// GetSend returns the send record id, or ErrNotFound.
func (tx *Tx) GetSend(id string) (*Send, error) { return GetSend(tx.Shared(), id) }

// Sends calls fn for every send record in id order (which is random, not
// time: callers that need a period filter on Sent).
func (tx *Tx) Sends(fn func(s *Send) error) error { return Sends(tx.Shared(), fn) }

// SetSendDelivery records where the copy of send record id stands in a
// shared store's transaction (see Tx.SetSendDelivery).
func SetSendDelivery(tx SharedTx, id, delivery string) error {
	s, err := GetSend(tx, id)
	if err != nil {
		return err
	}
	if s.Delivery == delivery {
		return nil
	}
	s.Delivery = delivery
	if delivery == SendDelivered {
		s.Delivered = time.Now().UTC()
	}
	return PutSend(tx, s)
}

// PutSend stores a send record in a shared store's transaction.
func PutSend(tx SharedTx, s *Send) error {
	if s.ID == "" {
		return fmt.Errorf("store: send record without id")
	}
	v, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("store: encode send %s: %w", s.ID, err)
	}
	if err := tx.Bucket(BucketSends).Put([]byte(s.ID), v); err != nil {
		return fmt.Errorf("store: put send %s: %w", s.ID, err)
	}
	return nil
}

// GetSend returns the send record id of a shared store, or ErrNotFound.
func GetSend(tx SharedTx, id string) (*Send, error) {
	v := tx.Bucket(BucketSends).Get([]byte(id))
	if v == nil {
		return nil, ErrNotFound
	}
	s := &Send{ID: id}
	if err := json.Unmarshal(v, s); err != nil {
		return nil, fmt.Errorf("store: decode send %s: %w", id, err)
	}
	return s, nil
}

// Sends calls fn for every send record of a shared store, in id order.
func Sends(tx SharedTx, fn func(s *Send) error) error {
	return tx.Bucket(BucketSends).ForEach(func(k, v []byte) error {
		s := &Send{ID: string(k)}
		if err := json.Unmarshal(v, s); err != nil {
			return fmt.Errorf("store: decode send %s: %w", k, err)
		}
		return fn(s)
	})
}
