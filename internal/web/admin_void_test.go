package web

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/careerrelay/careerrelay/internal/referral"
	"github.com/careerrelay/careerrelay/store"
)

func TestAdminVoid(t *testing.T) {
	ta := newTestAdmin(t)
	rec := ta.ok(http.MethodPost, "/api/void", `{"referral_id":"R1","reason":"二重登録"}`)
	var rep voidReply
	if err := json.Unmarshal(rec.Body.Bytes(), &rep); err != nil || rec.Code != 200 {
		t.Fatalf("%d %s %v", rec.Code, rec.Body, err)
	}
	if len(rep.Entries) != 2 || rep.Entries[0].Kind != "void" || rep.Entries[0].Note != "二重登録" || rep.Entries[1].Kind != "revoke" {
		t.Errorf("entries %+v", rep.Entries)
	}
	wantError(t, "again", ta.ok(http.MethodPost, "/api/void", `{"referral_id":"R1","reason":"x"}`), http.StatusConflict, "already_voided")
	wantError(t, "unknown referral", ta.ok(http.MethodPost, "/api/void", `{"referral_id":"R9","reason":"x"}`), http.StatusNotFound, "not_found")
	for name, body := range map[string]string{
		"empty":         "",
		"not JSON":      "referral_id=R2",
		"no reason":     `{"referral_id":"R2"}`,
		"blank reason":  `{"referral_id":"R2","reason":"  "}`,
		"no referral":   `{"reason":"x"}`,
		"unknown field": `{"referral_id":"R2","reason":"x","tenant":"acme"}`,
		"two objects":   `{"referral_id":"R2","reason":"x"}{}`,
	} {
		wantError(t, name, ta.ok(http.MethodPost, "/api/void", body), http.StatusBadRequest, "bad_request")
	}
	wantError(t, "GET", ta.ok(http.MethodGet, "/api/void", ""), http.StatusMethodNotAllowed, "method_not_allowed")
	if ta.ledger.voided["R2"] {
		t.Error("a bad request voided R2")
	}
}

// TestAdminVoidReal is spec §14's acceptance case through the admin API
// on the real bookkeeping: 2 referrals per credit, 2 referrals, 1 credit;
// the void adds void and revoke, the balance is 0, the ledger verifies
// and the audit trail lists the void by the admin token's id, with its
// time and no candidate.
func TestAdminVoidReal(t *testing.T) {
	cfg := testConfig()
	cfg.Tenants[0].ReferralsPerCredit = 2
	e := newRealEnvConfig(t, cfg, filepath.Join(t.TempDir(), "careerrelay.db"), store.Options{})
	tp := &testPublic{Public: e.pub}
	for _, tok := range e.mail(t, 2) {
		if rec := tp.post("/c/"+tok, tp.consentForm(t, tok)); rec.Code != http.StatusSeeOther {
			t.Fatalf("consent: %d", rec.Code)
		}
	}
	refs, err := e.svc.Referrals("acme")
	if err != nil || len(refs) != 2 {
		t.Fatalf("referrals %+v %v", refs, err)
	}
	ta := &testAdmin{Admin: e.admin}
	rec := ta.ok(http.MethodPost, "/api/void", `{"referral_id":"`+refs[0].ID+`","reason":"duplicate registration"}`)
	var rep voidReply
	if err := json.Unmarshal(rec.Body.Bytes(), &rep); err != nil || rec.Code != 200 {
		t.Fatalf("void: %d %s %v", rec.Code, rec.Body, err)
	}
	if len(rep.Entries) != 2 || rep.Entries[0].Seq != 4 || rep.Entries[1].Kind != referral.KindRevoke {
		t.Errorf("entries %+v", rep.Entries)
	}
	wantError(t, "again", ta.ok(http.MethodPost, "/api/void", `{"referral_id":"`+refs[0].ID+`","reason":"x"}`), http.StatusConflict, "already_voided")
	wantError(t, "bad reason", ta.ok(http.MethodPost, "/api/void", `{"referral_id":"`+refs[1].ID+`","reason":"a\nb"}`), http.StatusBadRequest, "bad_request")

	var b referral.Balance
	if rec := ta.ok(http.MethodGet, "/api/balance?tenant=acme", ""); json.Unmarshal(rec.Body.Bytes(), &b) != nil ||
		b.Granted != 1 || b.Voided != 1 || b.Revoked != 1 || b.Available != 0 {
		t.Errorf("balance %s", rec.Body)
	}
	var v verifyReply
	if rec := ta.ok(http.MethodGet, "/api/ledger/verify", ""); json.Unmarshal(rec.Body.Bytes(), &v) != nil || !v.OK || v.Entries != 5 {
		t.Errorf("verify %s", rec.Body)
	}

	rec = ta.ok(http.MethodGet, "/api/audit", "")
	var recs []referral.AuditRecord
	if json.Unmarshal(rec.Body.Bytes(), &recs) != nil || len(recs) != 1 {
		t.Fatalf("audit: %s", rec.Body)
	}
	sum := sha256.Sum256([]byte(adminToken))
	a := recs[0]
	want := "referral " + refs[0].ID + ", ledger 4-5, 1 credit revoked"
	if a.Action != "void" || a.Tenant != "acme" || a.Token != hex.EncodeToString(sum[:4]) || !a.Time.Equal(testNow) || a.Detail != want {
		t.Errorf("audit record %+v, want detail %q", a, want)
	}
	if body := rec.Body.String(); strings.Contains(body, "cand.example") || strings.Contains(body, "候補") || strings.Contains(body, "duplicate") {
		t.Errorf("the audit trail holds a candidate or the reason:\n%s", body)
	}
}
