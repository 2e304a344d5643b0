package referral

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/careerrelay/careerrelay/internal/address"
	"github.com/careerrelay/careerrelay/store"
)

// EventWithdrawn is the event of the webhook sent when a candidate
// withdraws their consent.
const EventWithdrawn = "referral.withdrawn"

// ErrNotReferred: a withdrawal for a link whose candidate has not
// consented.
var ErrNotReferred = errors.New("referral: the candidate has not consented")

// referralOf reads the referral of send's candidate (identity hash hash)
// with its tenant, nil when there is none.
func referralOf(tx store.SharedTx, send *store.Send, hash string) (*Referral, error) {
	id := tx.Bucket(store.BucketReferralIndex).Get(indexKey(send.Tenant, hash))
	if id == nil {
		return nil, nil
	}
	return getReferral(tx, string(id))
}

// Withdraw records that the link's candidate withdraws their consent: the
// referral gets WithdrawnAt and the agency a signed referral.withdrawn
// webhook, in one commit. Counts, credits and the ledger do not change
// (the agency may void a referral it cannot honour, see Void). A second
// withdrawal returns the referral as it is. ErrNotReferred when the
// candidate has not consented.
func (s *Service) Withdraw(ctx context.Context, l *Link) (*Referral, error) {
	if err := s.checkLink(l); err != nil {
		return nil, err
	}
	t := s.cfg.TenantByID(l.Send.Tenant)
	now := s.now().UTC().Truncate(time.Second)
	var (
		ref  *Referral
		done bool
	)
	err := s.sh.Update(ctx, func(tx store.SharedTx) error {
		ref, done = nil, false
		btx := tx
		id := btx.Bucket(store.BucketReferralIndex).Get(indexKey(t.ID, s.sendHash(l.Send)))
		if id == nil {
			return ErrNotReferred
		}
		r, err := getReferral(btx, string(id))
		if err != nil {
			return err
		}
		ref = r
		if r.WithdrawnAt != nil {
			return nil
		}
		r.WithdrawnAt = &now
		v, err := json.Marshal(r)
		if err != nil {
			return err
		}
		if err := btx.Bucket(store.BucketReferrals).Put([]byte(r.ID), v); err != nil {
			return err
		}
		if s.hookURL != "" {
			p := &WebhookPayload{Event: EventWithdrawn, ReferralID: r.ID, TenantID: t.ID, TenantName: t.Name,
				CandidateEmail: r.Candidate, CandidateName: r.Name, ConsentAt: r.ConsentAt,
				ConsentVersion: r.ConsentVersion, ReferralSeq: r.Seq, WithdrawnAt: &now,
				ConsentSeconds: r.ConsentSeconds, Signals: signalsOrEmpty(r.Signals)}
			if err := queueWebhook(btx, p, r.ID, now); err != nil {
				return err
			}
		}
		done = true
		return nil
	})
	if err != nil {
		if errors.Is(err, ErrNotReferred) {
			return nil, err
		}
		return nil, fmt.Errorf("referral: record withdrawal: %w", err)
	}
	if done {
		s.log.Info("consent withdrawn", "tenant", t.ID, "referral", ref.ID, "candidate", address.LogHash(ref.Candidate))
		if s.hookURL != "" {
			select {
			case s.wake <- struct{}{}:
			default:
			}
		}
	}
	return ref, nil
}

// SetConfirmation sets what is done once a new referral is durable: the
// server queues the candidate's confirmation mail (links.confirmation_mail).
// It is best effort: a crash between the referral's commit and fn loses
// the mail, never the referral. Call it before the pages serve.
func (s *Service) SetConfirmation(fn func(ctx context.Context, r *Referral, l *Link)) {
	s.confirm = fn
}
