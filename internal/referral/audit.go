package referral

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	"github.com/careerrelay/careerrelay/store"
)

// AuditRecord is one admin action: when, by which admin token (its id, a
// digest prefix, never the token), what, for which tenant, and a detail
// that names records by their ids (a ledger sequence number, a count),
// never a candidate's address or name.
type AuditRecord struct {
	Seq    uint64    `json:"seq"`
	Time   time.Time `json:"time"`
	Token  string    `json:"token"`
	Action string    `json:"action"`
	Tenant string    `json:"tenant,omitempty"`
	Detail string    `json:"detail,omitempty"`
}

// RecordAudit appends an audit record (its Seq and, when zero, its Time
// are set here). The admin API writes it right after the action's own
// commit: a crash in between loses the record, never the action.
func (s *Service) RecordAudit(ctx context.Context, a AuditRecord) error {
	if a.Time.IsZero() {
		a.Time = s.now().UTC()
	}
	return s.sh.Update(ctx, func(tx store.SharedTx) error { return appendAudit(tx, a) })
}

// appendAudit appends a to the audit trail in tx, with the next Seq.
func appendAudit(tx store.SharedTx, a AuditRecord) error {
	b := tx.Bucket(store.BucketAudit)
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	a.Seq = seq
	v, err := json.Marshal(&a)
	if err != nil {
		return err
	}
	return b.Put(binary.BigEndian.AppendUint64(nil, seq), v)
}

// Audit returns the audit trail, oldest first.
func (s *Service) Audit() ([]AuditRecord, error) {
	var out []AuditRecord
	err := s.sh.View(func(tx store.SharedTx) error {
		return tx.Bucket(store.BucketAudit).ForEach(func(k, v []byte) error {
			var a AuditRecord
			if err := json.Unmarshal(v, &a); err != nil {
				return fmt.Errorf("decode audit record %x: %w", k, err)
			}
			out = append(out, a)
			return nil
		})
	})
	return out, err
}
