package referral

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/careerrelay/careerrelay/internal/metrics"
	"github.com/careerrelay/careerrelay/store"
)

func TestReferOnceUnderConcurrency(t *testing.T) {
	e := newEnv(t, "https://agency.invalid/hook")
	l := e.link("acme", "c@cand.example")
	before := counter(metrics.Referrals, "acme")
	const n = 50
	refs := make([]*Referral, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			r, err := e.s.Refer(context.Background(), l, "consent-v1")
			if err != nil {
				t.Error(err)
			}
			refs[i] = r
		})
	}
	wg.Wait()
	for _, r := range refs {
		if r == nil || r.ID != refs[0].ID {
			t.Fatalf("referrals differ: %+v vs %+v", r, refs[0])
		}
	}
	r := refs[0]
	if r.Seq != 1 || r.Tenant != "acme" || r.Candidate != "c@cand.example" || r.SendID != l.Send.ID ||
		r.ConsentVersion != "consent-v1" || !r.ConsentAt.Equal(t0) || len(r.ID) != 26 {
		t.Errorf("referral %+v", r)
	}
	if d := counter(metrics.Referrals, "acme") - before; d != 1 {
		t.Errorf("referrals metric +%v, want +1", d)
	}
	for b, want := range map[string]int{store.BucketReferrals: 1, store.BucketReferralIndex: 1, store.BucketLedger: 1, store.BucketOutbox: 1} {
		if got := e.count(b); got != want {
			t.Errorf("bucket %s: %d records, want %d", b, got, want)
		}
	}
	if got, err := e.s.Referral(r.ID); err != nil || !reflect.DeepEqual(got, r) {
		t.Errorf("Referral(%s) = %+v, %v", r.ID, got, err)
	}
	if _, err := e.s.Referral("nope"); err == nil {
		t.Error("Referral of an unknown id")
	}
}

// The same address in another case, mailed again, counts once per tenant;
// another tenant counts it again.
func TestReferOncePerTenantAndAddress(t *testing.T) {
	e := newEnv(t, "")
	first := e.refer("acme", "Taro.Yamada@Cand.Example")
	again := e.refer("acme", " taro.yamada@cand.example")
	if again.ID != first.ID || again.Candidate != "Taro.Yamada@Cand.Example" {
		t.Errorf("second mail, other case: %+v, want the first %+v", again, first)
	}
	beta := e.refer("beta", "TARO.YAMADA@CAND.EXAMPLE")
	if beta.ID == first.ID || beta.Seq != 1 {
		t.Errorf("other tenant: %+v", beta)
	}
	if b := e.balance("acme"); b.Referrals != 1 {
		t.Errorf("acme balance %+v", b)
	}
	if n := len(e.ledger()); n != 2 {
		t.Errorf("ledger holds %d entries, want 2", n)
	}
	refs, err := e.s.Referrals("acme")
	if err != nil || len(refs) != 1 {
		t.Errorf("Referrals(acme) = %v, %v", refs, err)
	}
	if refs, _ := e.s.Referrals(""); len(refs) != 2 || refs[0].Tenant != "acme" || refs[1].Tenant != "beta" {
		t.Errorf("Referrals() = %v", refs)
	}
}

func TestReferNeedsConsentVersion(t *testing.T) {
	e := newEnv(t, "")
	if _, err := e.s.Refer(context.Background(), e.link("acme", "c@cand.example"), " "); err == nil {
		t.Error("referral without a consent version")
	}
	if _, err := e.s.Refer(context.Background(), nil, "v1"); err != ErrInvalidToken {
		t.Errorf("nil link: %v", err)
	}
	if n := e.count(store.BucketReferrals); n != 0 {
		t.Errorf("%d referrals stored", n)
	}
}

func TestCredits(t *testing.T) {
	e := newEnv(t, "")
	granted0 := counter(metrics.CreditsGranted, "acme")
	e.referN("acme", "a", 9)
	if b := e.balance("acme"); *b != (Balance{Tenant: "acme", Referrals: 9}) {
		t.Errorf("after 9: %+v", b)
	}
	refs := e.referN("acme", "b", 1)
	if b := e.balance("acme"); *b != (Balance{Tenant: "acme", Referrals: 10, Granted: 1, Available: 1}) {
		t.Errorf("after 10: %+v", b)
	}
	e.referN("acme", "c", 10)
	if b := e.balance("acme"); *b != (Balance{Tenant: "acme", Referrals: 20, Granted: 2, Available: 2}) {
		t.Errorf("after 20: %+v", b)
	}
	if d := counter(metrics.CreditsGranted, "acme") - granted0; d != 2 {
		t.Errorf("credits metric +%v, want +2", d)
	}
	// beta earns one per 3, independently.
	e.referN("beta", "x", 7)
	if b := e.balance("beta"); b.Granted != 2 || b.Referrals != 7 {
		t.Errorf("beta after 7: %+v", b)
	}
	if b := e.balance("acme"); b.Granted != 2 {
		t.Errorf("acme changed by beta's referrals: %+v", b)
	}
	// The 10th referral's grant follows it in the ledger.
	l := e.ledger()
	if len(l) != 20+2+7+2 {
		t.Fatalf("ledger holds %d entries", len(l))
	}
	if g := l[10]; g.Kind != KindGrant || g.Amount != 1 || g.ReferralID != refs[0].ID || g.Seq != 11 || l[9].ReferralID != refs[0].ID {
		t.Errorf("entries 10, 11: %+v %+v", l[9], g)
	}
	if err := Verify(l); err != nil {
		t.Error(err)
	}
	if _, err := e.s.Balance("nope"); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("unknown tenant balance: %v", err)
	}
}

func TestRedeem(t *testing.T) {
	e := newEnv(t, "")
	ctx := context.Background()
	_, err := e.s.Redeem(ctx, "acme", "first hire")
	wantErr(t, err, ErrNoCredit)
	if msg := err.Error(); !strings.Contains(msg, "no credit left") || !strings.Contains(msg, "acme has 0 available") {
		t.Errorf("unclear message: %q", msg)
	}
	e.referN("acme", "a", 10)
	en, err := e.s.Redeem(ctx, "acme", "  hire of 山田, 2026-12  ")
	if err != nil {
		t.Fatal(err)
	}
	if en.Kind != KindRedeem || en.Amount != -1 || en.Note != "hire of 山田, 2026-12" || en.Seq != 12 || en.Tenant != "acme" {
		t.Errorf("redeem entry %+v", en)
	}
	if b := e.balance("acme"); *b != (Balance{Tenant: "acme", Referrals: 10, Granted: 1, Redeemed: 1}) {
		t.Errorf("balance %+v", b)
	}
	_, err = e.s.Redeem(ctx, "acme", "second")
	wantErr(t, err, ErrNoCredit)
	if msg := err.Error(); !strings.Contains(msg, "granted 1, redeemed 1") {
		t.Errorf("message %q", msg)
	}
	if _, err := e.s.Redeem(ctx, "nope", ""); err == nil {
		t.Error("redeem of an unknown tenant")
	}
	if _, err := e.s.Redeem(ctx, "acme", "two\nlines"); err == nil {
		t.Error("note with a line break accepted")
	}
	if n := len(e.ledger()); n != 12 {
		t.Errorf("refused redemptions left entries: %d", n)
	}
	if err := Verify(e.ledger()); err != nil {
		t.Error(err)
	}
}

func TestAdjust(t *testing.T) {
	e := newEnv(t, "")
	ctx := context.Background()
	if _, err := e.s.Adjust(ctx, "acme", 2, "hire agreed before go-live"); err != nil {
		t.Fatal(err)
	}
	_, err := e.s.Adjust(ctx, "acme", -3, "too much")
	wantErr(t, err, ErrBelowZero)
	if !strings.Contains(err.Error(), "acme has 2 available, adjusting by -3 would leave -1") {
		t.Errorf("message %q", err)
	}
	for _, bad := range []struct {
		amount int
		note   string
	}{{0, "nothing"}, {1, ""}, {1, "   "}, {1, "tab\there"}, {1, strings.Repeat("x", maxNote+1)}, {1, "\xff"}} {
		if _, err := e.s.Adjust(ctx, "acme", bad.amount, bad.note); err == nil {
			t.Errorf("Adjust(%d, %q) accepted", bad.amount, bad.note)
		}
	}
	en, err := e.s.Adjust(ctx, "acme", -2, "double count")
	if err != nil {
		t.Fatal(err)
	}
	if en.Kind != KindAdjust || en.Amount != -2 || en.Seq != 2 {
		t.Errorf("entry %+v", en)
	}
	if b := e.balance("acme"); *b != (Balance{Tenant: "acme", Adjusted: 0, Available: 0}) {
		t.Errorf("balance %+v", b)
	}
	wantErr(t, func() error { _, err := e.s.Redeem(ctx, "acme", ""); return err }(), ErrNoCredit)
	if err := Verify(e.ledger()); err != nil {
		t.Error(err)
	}
}

// Concurrent redemptions of one credit: exactly one wins.
func TestRedeemConcurrent(t *testing.T) {
	e := newEnv(t, "")
	e.referN("beta", "a", 3)
	var wg sync.WaitGroup
	errs := make(chan error, 10)
	for range 10 {
		wg.Go(func() {
			_, err := e.s.Redeem(context.Background(), "beta", "hire")
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	won := 0
	for err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, ErrNoCredit):
			t.Error(err)
		}
	}
	if b := e.balance("beta"); won != 1 || b.Redeemed != 1 || b.Available != 0 {
		t.Errorf("%d redemptions won, balance %+v", won, b)
	}
}

// TestReferOncePerMailbox: the spellings of one mailbox (case, a trailing
// dot, +sub-addresses, Gmail's dots and googlemail.com) are one candidate.
func TestReferOncePerMailbox(t *testing.T) {
	e := newEnv(t, "")
	first := e.refer("acme", "dup@gmail.com")
	for _, v := range []string{"dup@gmail.com.", "dup+1@gmail.com", "d.up@gmail.com", "D.U.P+jobs@GoogleMail.com"} {
		if r := e.refer("acme", v); r.ID != first.ID {
			t.Errorf("%s counted as a new candidate", v)
		}
	}
	if other := e.refer("acme", "d.up@example.jp"); other.ID == first.ID {
		t.Error("another domain's mailbox counted as the same")
	}
	if b := e.balance("acme"); b.Referrals != 2 {
		t.Errorf("%d referrals, want 2", b.Referrals)
	}
}

// TestReindexOldStore: a referral indexed the old way (the lower-cased
// address) gets its identity entry when the service starts, so another
// spelling of its address does not count again.
func TestReindexOldStore(t *testing.T) {
	e := newEnv(t, "")
	first := e.refer("acme", "T.Aro+x@Gmail.com")
	err := e.db.Update(context.Background(), func(tx *store.Tx) error {
		idx := tx.Bolt().Bucket([]byte(store.BucketReferralIndex))
		if err := idx.Delete(indexKey("acme", first.CandidateHash)); err != nil {
			return err
		}
		old := *first
		old.CandidateHash = ""
		v, _ := json.Marshal(&old)
		if err := tx.Bolt().Bucket([]byte(store.BucketReferrals)).Put([]byte(old.ID), v); err != nil {
			return err
		}
		return idx.Put([]byte("acme\x00t.aro+x@gmail.com"), []byte(first.ID)) // as the old store had it
	})
	if err != nil {
		t.Fatal(err)
	}
	e.restart()
	if r := e.refer("acme", "taro@gmail.com"); r.ID != first.ID {
		t.Errorf("after the restart another spelling counted again")
	}
	if b := e.balance("acme"); b.Referrals != 1 {
		t.Errorf("%d referrals", b.Referrals)
	}
	if n := e.count(store.BucketReferralIndex); n != 1 {
		t.Errorf("the index has %d entries, want 1 (the old key in clear deleted)", n)
	}
}
