package web

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/careerrelay/careerrelay/internal/referral"
)

// TestAuditTrail: redeem, export and links each leave an audit record with
// the admin token's id and the time, naming records by id or count and
// never a candidate; GET /api/audit lists them in order.
func TestAuditTrail(t *testing.T) {
	e := newRealEnv(t)
	tp := &testPublic{Public: e.pub}
	for _, tok := range e.mail(t, 10) {
		if rec := tp.post("/c/"+tok, tp.consentForm(t, tok)); rec.Code != http.StatusSeeOther {
			t.Fatalf("consent: %d", rec.Code)
		}
	}
	ta := &testAdmin{Admin: e.admin}
	for _, c := range []struct{ method, path, body string }{
		{http.MethodPost, "/api/redeem", `{"tenant":"acme","note":"hire 1"}`},
		{http.MethodGet, "/api/ledger/export?tenant=acme&format=csv", ""},
		{http.MethodPost, "/api/links", `{"tenant":"acme","candidates":[{"email":"secret.person@cand.example","name":"秘密 太郎"}]}`},
	} {
		if rec := ta.ok(c.method, c.path, c.body); rec.Code/100 != 2 {
			t.Fatalf("%s %s: %d %s", c.method, c.path, rec.Code, rec.Body)
		}
	}
	rec := ta.ok(http.MethodGet, "/api/audit", "")
	var recs []referral.AuditRecord
	if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &recs) != nil {
		t.Fatalf("audit: %d %s", rec.Code, rec.Body)
	}
	sum := sha256.Sum256([]byte(adminToken))
	wantToken := hex.EncodeToString(sum[:4])
	var actions []string
	for i, a := range recs {
		actions = append(actions, a.Action)
		if a.Seq != uint64(i+1) || a.Token != wantToken || a.Time.IsZero() || a.Tenant != "acme" {
			t.Errorf("record %d: %+v (token id %s)", i, a, wantToken)
		}
	}
	if strings.Join(actions, ",") != "redeem,export,links" {
		t.Errorf("actions %v", actions)
	}
	if body := rec.Body.String(); strings.Contains(body, "secret.person") || strings.Contains(body, "秘密") || strings.Contains(body, adminToken) {
		t.Errorf("the audit trail holds a candidate or the token:\n%s", body)
	}
}
