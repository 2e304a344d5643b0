package referral

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"
)

// TestWithdrawWebhook: a withdrawal marks the referral, sends the agency a
// signed referral.withdrawn webhook once (a second withdrawal sends none),
// and changes no count, credit or ledger entry.
func TestWithdrawWebhook(t *testing.T) {
	a := newAgency(t, http.StatusOK)
	e := newEnv(t, a.URL)
	tok := e.mail("beta", "Withdrawer@Cand.example", "")
	l, err := e.s.Resolve(tok)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.Withdraw(context.Background(), l); !errors.Is(err, ErrNotReferred) {
		t.Errorf("withdrawal before consent: %v", err)
	}
	ref, err := e.s.Refer(context.Background(), l, "consent-v1")
	if err != nil {
		t.Fatal(err)
	}
	if l2, err := e.s.Resolve(tok); err != nil || l2.Referral == nil || l2.Referral.ID != ref.ID {
		t.Errorf("the link after consent resolves with referral %+v (%v), want %s", l2, err, ref.ID)
	}
	e.deliver()
	before, entries := e.balance("beta"), len(e.ledger())
	e.clock.Advance(time.Hour)
	w, err := e.s.Withdraw(context.Background(), l)
	if err != nil || w.ID != ref.ID || w.WithdrawnAt == nil || !w.WithdrawnAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("Withdraw = %+v, %v", w, err)
	}
	if again, err := e.s.Withdraw(context.Background(), l); err != nil || !again.WithdrawnAt.Equal(*w.WithdrawnAt) {
		t.Errorf("second withdrawal = %+v, %v", again, err)
	}
	e.deliver()
	got := a.received()
	if len(got) != 2 {
		t.Fatalf("agency got %d webhooks, want the referral's and one withdrawal", len(got))
	}
	r := got[1]
	if !VerifySignature(hookSecret, r.body, r.sig) {
		t.Error("the withdrawal webhook's signature does not verify")
	}
	var p WebhookPayload
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatal(err)
	}
	if p.Event != EventWithdrawn || p.ReferralID != ref.ID || p.TenantID != "beta" || p.WithdrawnAt == nil ||
		!p.WithdrawnAt.Equal(t0.Add(time.Hour)) || p.CandidateEmail != "Withdrawer@Cand.example" {
		t.Errorf("withdrawal webhook = %s", r.body)
	}
	if after := e.balance("beta"); *after != *before || len(e.ledger()) != entries {
		t.Errorf("the withdrawal changed the books: %+v -> %+v, %d -> %d entries", before, after, entries, len(e.ledger()))
	}
	if got, err := e.s.Resolve(tok); err != nil || got.Referral == nil || got.Referral.WithdrawnAt == nil {
		t.Errorf("the link after the withdrawal resolves with referral %+v (%v)", got, err)
	}
}
