package referral

import (
	"context"
	"strings"
	"testing"
)

// voidEnv is an env where beta earns a credit per 2 referrals.
func voidEnv(t *testing.T) *env {
	e := newEnv(t, "")
	e.cfg.TenantByID("beta").ReferralsPerCredit = 2
	return e
}

func (e *env) void(id, reason string) []Entry {
	e.t.Helper()
	out, err := e.s.Void(context.Background(), id, reason)
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

func kinds(es []Entry) string {
	var k []string
	for _, e := range es {
		k = append(k, e.Kind)
	}
	return strings.Join(k, ",")
}

// TestVoidRevokes is the acceptance case of spec §14: with 2 referrals
// per credit, 2 referrals give 1 credit; voiding one adds a void and a
// revoke entry, the balance is 0 and the ledger verifies.
func TestVoidRevokes(t *testing.T) {
	e := voidEnv(t)
	refs := e.referN("beta", "b", 2)
	if b := e.balance("beta"); b.Granted != 1 || b.Available != 1 {
		t.Fatalf("before the void: %+v", b)
	}
	out := e.void(refs[1].ID, "candidate registered twice")
	if kinds(out) != "void,revoke" {
		t.Fatalf("entries %+v", out)
	}
	v, r := out[0], out[1]
	if v.Seq != 4 || v.Amount != 0 || v.ReferralID != refs[1].ID || v.Note != "candidate registered twice" || v.Tenant != "beta" {
		t.Errorf("void entry %+v", v)
	}
	if r.Seq != 5 || r.Amount != -1 || r.ReferralID != refs[1].ID || r.Prev != v.Hash || !strings.Contains(r.Note, "1 valid referrals cover 0 of 1") {
		t.Errorf("revoke entry %+v", r)
	}
	b := e.balance("beta")
	if b.Referrals != 2 || b.Granted != 1 || b.Voided != 1 || b.Revoked != 1 || b.Available != 0 {
		t.Errorf("balance %+v", b)
	}
	l := e.ledger()
	if kinds(l) != "referral,referral,grant,void,revoke" {
		t.Errorf("ledger %s", kinds(l))
	}
	if err := Verify(l); err != nil {
		t.Error(err)
	}
	got, err := e.s.Referral(refs[1].ID)
	if err != nil || got.VoidedAt == nil || !got.VoidedAt.Equal(t0) || got.VoidReason != "candidate registered twice" || got.Seq != 2 {
		t.Errorf("voided referral %+v, %v", got, err)
	}
	if _, err := e.s.Redeem(context.Background(), "beta", "hire"); err == nil {
		t.Error("redeemed with 0 available")
	} else {
		wantErr(t, err, ErrNoCredit)
	}

	// Twice: refused, nothing appended.
	_, err = e.s.Void(context.Background(), refs[1].ID, "again")
	wantErr(t, err, ErrAlreadyVoided)
	_, err = e.s.Void(context.Background(), "nosuchreferral", "why")
	wantErr(t, err, ErrNotFound)
	for _, bad := range []string{"", "  ", "two\nlines"} {
		_, err := e.s.Void(context.Background(), refs[0].ID, bad)
		wantErr(t, err, ErrBadText)
	}
	if n := len(e.ledger()); n != 5 {
		t.Errorf("%d entries after refused voids", n)
	}

	// The voided candidate still counts once; the next referrals grant
	// at seq 4 as before.
	if again := e.refer("beta", "b-1@cand.example"); again.ID != refs[1].ID {
		t.Errorf("the voided candidate referred anew: %+v", again)
	}
	e.referN("beta", "c", 2)
	if b := e.balance("beta"); b.Referrals != 4 || b.Granted != 2 || b.Available != 1 {
		t.Errorf("after 2 more referrals: %+v", b)
	}

	// The counts survive a restart.
	e.restart()
	if b := e.balance("beta"); b.Voided != 1 || b.Revoked != 1 {
		t.Errorf("after a restart: %+v", b)
	}
}

// TestVoidCovered: a void that leaves enough valid referrals for the
// credits granted takes nothing back.
func TestVoidCovered(t *testing.T) {
	e := voidEnv(t)
	refs := e.referN("beta", "b", 3)
	out := e.void(refs[0].ID, "test entry")
	if kinds(out) != "void" {
		t.Fatalf("entries %+v", out)
	}
	if b := e.balance("beta"); b.Granted != 1 || b.Voided != 1 || b.Revoked != 0 || b.Available != 1 {
		t.Errorf("balance %+v", b)
	}
	// A second void uncovers the credit.
	if out := e.void(refs[2].ID, "test entry"); kinds(out) != "void,revoke" {
		t.Errorf("second void: %s", kinds(out))
	}
	// A third void has no credit left to revoke.
	if out := e.void(refs[1].ID, "test entry"); kinds(out) != "void" {
		t.Errorf("third void: %s", kinds(out))
	}
	if b := e.balance("beta"); b.Voided != 3 || b.Revoked != 1 || b.Available != 0 {
		t.Errorf("balance %+v", b)
	}
	if err := Verify(e.ledger()); err != nil {
		t.Error(err)
	}
}

// TestVoidAfterRedeem: a revoke of a credit already spent leaves the
// balance below zero (credits owed); the ledger still verifies, redeem is
// refused and an adjust upwards is taken.
func TestVoidAfterRedeem(t *testing.T) {
	e := voidEnv(t)
	ctx := context.Background()
	refs := e.referN("beta", "b", 2)
	if _, err := e.s.Redeem(ctx, "beta", "hire 1"); err != nil {
		t.Fatal(err)
	}
	if out := e.void(refs[0].ID, "fraud"); kinds(out) != "void,revoke" {
		t.Fatalf("entries %+v", out)
	}
	if b := e.balance("beta"); b.Available != -1 || b.Redeemed != 1 || b.Revoked != 1 {
		t.Errorf("balance %+v", b)
	}
	if err := Verify(e.ledger()); err != nil {
		t.Error(err)
	}
	_, err := e.s.Redeem(ctx, "beta", "hire 2")
	wantErr(t, err, ErrNoCredit)
	_, err = e.s.Adjust(ctx, "beta", -1, "more owed")
	wantErr(t, err, ErrBelowZero)
	if _, err := e.s.Adjust(ctx, "beta", 1, "settled"); err != nil {
		t.Fatal(err)
	}
	if b := e.balance("beta"); b.Available != 0 {
		t.Errorf("after the adjust: %+v", b)
	}
	if err := Verify(e.ledger()); err != nil {
		t.Error(err)
	}
	// Another tenant is not affected.
	if b := e.balance("acme"); b.Available != 0 || b.Voided != 0 {
		t.Errorf("acme %+v", b)
	}
}

// TestVerifyVoidRevoke: the amounts and referral ids of void and revoke
// entries, and that only a revoke may take a balance below zero.
func TestVerifyVoidRevoke(t *testing.T) {
	e := voidEnv(t)
	refs := e.referN("beta", "b", 2)
	e.void(refs[0].ID, "fraud")
	e.tamper(5, func(en *Entry) { en.Amount = -2; en.Hash = entryHash(en) })
	wantVerifyError(t, Verify(e.ledger()), 5, "amount -2 is wrong for a revoke")

	chain := func(es ...Entry) []Entry {
		prev := ""
		for i := range es {
			es[i].Seq, es[i].Time, es[i].Prev = uint64(i+1), t0, prev
			es[i].Hash = entryHash(&es[i])
			prev = es[i].Hash
		}
		return es
	}
	wantVerifyError(t, Verify(chain(
		Entry{Tenant: "beta", Kind: KindVoid, ReferralID: "r1", Amount: 1},
	)), 1, "amount 1 is wrong for a void")
	wantVerifyError(t, Verify(chain(
		Entry{Tenant: "beta", Kind: KindVoid},
	)), 1, "without a referral_id")
	wantVerifyError(t, Verify(chain(
		Entry{Tenant: "beta", Kind: KindRevoke, Amount: -1},
	)), 1, "without a referral_id")
	owed := chain(
		Entry{Tenant: "beta", Kind: KindRevoke, ReferralID: "r1", Amount: -1},
		Entry{Tenant: "beta", Kind: KindAdjust, Amount: 3, Note: "x"},
		Entry{Tenant: "beta", Kind: KindRedeem, Amount: -1},
		Entry{Tenant: "beta", Kind: KindRedeem, Amount: -1},
		Entry{Tenant: "beta", Kind: KindRedeem, Amount: -1},
	)
	if err := Verify(owed[:4]); err != nil {
		t.Errorf("revoke below zero, then paid back: %v", err)
	}
	wantVerifyError(t, Verify(owed), 5, "below zero (-1) by a redeem")
}
