package web

import (
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/careerrelay/careerrelay/internal/referral"
	"github.com/careerrelay/careerrelay/store"
)

// TestConsentAfterMetaSyncFailure: the fdatasync after bbolt's meta page
// write fails for the commit of the 10th consent, the one that grants a
// credit (store fault "meta-sync"). Afterwards the store file is reopened:
// the page the candidate saw matches what it holds.
func TestConsentAfterMetaSyncFailure(t *testing.T) {
	// run consents 9 candidates, arms failures (-1: every sync from then
	// on), consents the 10th and returns its response, the environment
	// reopened on the same file without faults, and the 10th token.
	run := func(t *testing.T, failures int) (*http.Response, string, *realEnv, string) {
		t.Helper()
		var armed atomic.Bool
		var left atomic.Int64
		left.Store(int64(failures))
		path := filepath.Join(t.TempDir(), "careerrelay.db")
		e := newRealEnvAt(t, path, store.Options{Fault: func(op string) error {
			if op == "meta-sync" && armed.Load() && (failures < 0 || left.Add(-1) >= 0) {
				return errors.New("injected: fdatasync: input/output error")
			}
			return nil
		}})
		tp := &testPublic{Public: e.pub}
		tokens := e.mail(t, 10)
		for _, tok := range tokens[:9] {
			if rec := tp.post("/c/"+tok, tp.consentForm(t, tok)); rec.Code != http.StatusSeeOther {
				t.Fatalf("consent: %d", rec.Code)
			}
		}
		armed.Store(true)
		rec := tp.post("/c/"+tokens[9], tp.consentForm(t, tokens[9]))
		e.db.Close()
		return rec.Result(), rec.Body.String(), newRealEnvAt(t, path, store.Options{}), tokens[9]
	}
	stored := func(t *testing.T, e *realEnv) ([]referral.Referral, *referral.Balance) {
		t.Helper()
		refs, err := e.svc.Referrals("acme")
		if err != nil {
			t.Fatal(err)
		}
		b, err := e.svc.Balance("acme")
		if err != nil {
			t.Fatal(err)
		}
		entries, err := e.svc.Ledger()
		if err != nil {
			t.Fatal(err)
		}
		if err := referral.Verify(entries); err != nil {
			t.Errorf("ledger: %v", err)
		}
		return refs, b
	}

	// The store settles the commit (a fence commit syncs): the candidate is
	// sent on with the referral id, and the file holds that referral and
	// its credit.
	t.Run("settled", func(t *testing.T) {
		resp, _, e, _ := run(t, 1)
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("consent: %d, want 303", resp.StatusCode)
		}
		loc, _ := resp.Location()
		refs, b := stored(t, e)
		tp := &testPublic{Public: e.pub}
		if len(refs) != 10 || b.Granted != 1 || loc == nil ||
			refOnPage(t, tp.get(loc.Path).Body.String(), e.cfg.Agency.RegistrationURL) != refs[9].ID {
			t.Errorf("redirect %v; file holds %d referrals (last %s), %d credits", loc, len(refs), refs[len(refs)-1].ID, b.Granted)
		}
	})

	// Nobody can tell whether the referral is on disk. The page does not
	// say it failed (that could hide a recorded referral and credit): it
	// says it could not be confirmed and that retrying is safe. After the
	// restart the retry is answered with one referral and one credit, not
	// two, whatever the disk kept (here, the fault only reported a failure,
	// so the file holds the referral and the retry returns it).
	t.Run("unsettled", func(t *testing.T) {
		resp, body, e, token := run(t, -1)
		if resp.StatusCode != http.StatusInternalServerError || !strings.Contains(body, "登録されたかどうかを確認できませんでした") {
			t.Fatalf("consent: %d, want 500 with the page that says it is unknown\n%s", resp.StatusCode, body)
		}
		if strings.Contains(body, "完了できませんでした") {
			t.Errorf("the page says the consent failed")
		}
		before, _ := stored(t, e)
		tp := &testPublic{Public: e.pub}
		rec := tp.post("/c/"+token, tp.consentForm(t, token))
		ref := tp.consented(t, rec, token)
		refs, b := stored(t, e)
		if len(refs) != 10 || b.Granted != 1 || ref != refs[9].ID {
			t.Errorf("after the retry: %d referrals, %d credits, ref %s", len(refs), b.Granted, ref)
		}
		if len(before) == 10 && before[9].ID != refs[9].ID {
			t.Errorf("the retry made a second referral: %s, then %s", before[9].ID, refs[9].ID)
		}
	})
}

// A redemption whose commit cannot be settled is answered outcome_unknown,
// not "internal": a retry of a recorded redemption would spend a second
// credit.
func TestRedeemAfterMetaSyncFailure(t *testing.T) {
	var armed atomic.Bool
	e := newRealEnvAt(t, filepath.Join(t.TempDir(), "careerrelay.db"), store.Options{Fault: func(op string) error {
		if op == "meta-sync" && armed.Load() {
			return errors.New("injected: fdatasync: input/output error")
		}
		return nil
	}})
	tp := &testPublic{Public: e.pub}
	for _, tok := range e.mail(t, 10) {
		if rec := tp.post("/c/"+tok, tp.consentForm(t, tok)); rec.Code != http.StatusSeeOther {
			t.Fatalf("consent: %d", rec.Code)
		}
	}
	armed.Store(true)
	ta := &testAdmin{Admin: e.admin}
	wantError(t, "redeem", ta.ok(http.MethodPost, "/api/redeem", `{"tenant":"acme"}`), http.StatusInternalServerError, "outcome_unknown")
}
