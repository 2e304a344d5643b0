package referral

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/careerrelay/careerrelay/configs"
	"github.com/careerrelay/careerrelay/store"
)

// void records the agency's void of referral id: the referral is marked,
// a "void" entry is appended and, when the tenant's valid referrals no
// longer cover the credits granted and not yet revoked, one "revoke"
// entry, all in one commit. Voids never touch the index: the candidate
// still counts once, and the referral keeps its seq.
func (s *Service) void(ctx context.Context, id, reason string) ([]Entry, error) {
	id, reason = strings.TrimSpace(id), strings.TrimSpace(reason)
	if id == "" {
		return nil, fmt.Errorf("%w: void: a referral id is required", ErrBadText)
	}
	if reason == "" {
		return nil, fmt.Errorf("%w: void %s: a reason is required", ErrBadText, id)
	}
	if err := checkText("reason", reason); err != nil {
		return nil, err
	}
	now := s.now()
	var (
		out    []Entry
		tenant string
	)
	err := s.sh.Update(ctx, func(tx store.SharedTx) error {
		out, tenant = nil, ""
		btx := tx
		r, err := getReferral(btx, id)
		if err != nil {
			return err
		}
		if r.VoidedAt != nil {
			return fmt.Errorf("%w: %s on %s (%s)", ErrAlreadyVoided, id, r.VoidedAt.Format("2006-01-02"), r.VoidReason)
		}
		tenant = r.Tenant
		c, err := getCounts(btx, r.Tenant)
		if err != nil {
			return err
		}
		perCredit := configs.DefaultReferralsPerCredit
		if t := s.cfg.TenantByID(r.Tenant); t != nil && t.ReferralsPerCredit > 0 {
			perCredit = t.ReferralsPerCredit
		}
		ve := Entry{Time: now, Tenant: r.Tenant, Kind: KindVoid, ReferralID: r.ID, Amount: 0, Note: reason}
		if err := appendEntry(btx, &ve); err != nil {
			return err
		}
		out = append(out, ve)
		c.Voided++
		valid := c.Referrals - c.Voided
		covered := valid / perCredit
		if c.Granted-c.Revoked > covered {
			re := Entry{Time: now, Tenant: r.Tenant, Kind: KindRevoke, ReferralID: r.ID, Amount: -1,
				Note: fmt.Sprintf("referral voided: %d valid referrals cover %d of %d credits granted", valid, covered, c.Granted-c.Revoked)}
			if err := appendEntry(btx, &re); err != nil {
				return err
			}
			out = append(out, re)
			c.Revoked++
		}
		at := ve.Time
		r.VoidedAt, r.VoidReason = &at, reason
		v, err := json.Marshal(r)
		if err != nil {
			return err
		}
		if err := btx.Bucket(store.BucketReferrals).Put([]byte(r.ID), v); err != nil {
			return err
		}
		return putCounts(btx, r.Tenant, c)
	})
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrAlreadyVoided) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("referral: void: %w", err)
	}
	s.log.Info("referral voided", "tenant", tenant, "referral", id, "seq", out[0].Seq, "credit_revoked", len(out) > 1)
	return out, nil
}
