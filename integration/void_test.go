package integration

import (
	"encoding/csv"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/careerrelay/careerrelay/internal/referral"
)

// TestWebLedgerVoid is spec §14's acceptance case through the binary:
// with 2 referrals per credit, 2 referrals give 1 credit; `ledger void`
// adds a void and a revoke entry, the balance is 0, `ledger verify`
// passes, the report shows the void and `audit` lists it by the admin
// token's id, without the candidate.
func TestWebLedgerVoid(t *testing.T) {
	t.Parallel()
	sink := newSink(t, nil)
	r := StartRelay(t, sink.Addr, withLocalLinks, func(dir string, c *Config) {
		c.Tenants[0].ReferralsPerCredit = 2
	})
	links := relayLinks(t, r, sink, "void.a@cand.example", "void.b@cand.example")
	ref := consentRef(t, links["void.a@cand.example"])
	consentRef(t, links["void.b@cand.example"])
	if b := fullBalance(t, r); b.Granted != 1 || b.Available != 1 {
		t.Fatalf("balance after 2 referrals: %+v, want 1 credit", b)
	}
	admin := []string{"-config", r.ConfigPath, "-ready-file", r.ReadyPath}

	if out, code := runBinary(t, append([]string{"ledger", "void", "-ref", ref}, admin...)...); code != 2 {
		t.Errorf("ledger void without -reason: exit %d: %s, want 2", code, out)
	}
	out, code := runBinary(t, append([]string{"ledger", "void", "-ref", ref, "-reason", "registered twice"}, admin...)...)
	if code != 0 {
		t.Fatalf("ledger void: exit %d: %s", code, out)
	}
	var rep struct{ Entries []referral.Entry }
	if err := json.Unmarshal([]byte(out), &rep); err != nil || len(rep.Entries) != 2 ||
		rep.Entries[0].Kind != "void" || rep.Entries[1].Kind != "revoke" || rep.Entries[1].Amount != -1 {
		t.Errorf("ledger void printed %q (%v), want the void and revoke entries", out, err)
	}
	if b := fullBalance(t, r); b.Granted != 1 || b.Voided != 1 || b.Revoked != 1 || b.Available != 0 {
		t.Errorf("balance after the void: %+v, want 1 granted, 1 revoked, 0 available", b)
	}
	if out, code := runBinary(t, append([]string{"ledger", "void", "-ref", ref, "-reason", "again"}, admin...)...); code != 1 || !strings.Contains(out, "already_voided") {
		t.Errorf("second void: exit %d: %s, want 1 with already_voided", code, out)
	}
	if out, code := runBinary(t, append([]string{"ledger", "verify"}, admin...)...); code != 0 {
		t.Errorf("ledger verify after the void: exit %d: %s", code, out)
	}

	out, code = runBinary(t, append([]string{"report", "-tenant", tenantID, "-format", "csv"}, admin...)...)
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if code != 0 || err != nil || len(rows) < 2 {
		t.Fatalf("report: exit %d, %v: %s", code, err, out)
	}
	head, total := rows[0], rows[len(rows)-1]
	if n := slices.Index(head, "voids"); n < 0 || head[n+1] != "credits_revoked" || total[n] != "1" || total[n+1] != "1" {
		t.Errorf("report CSV total %q under %q, want voids 1 and credits_revoked 1", total, head)
	}

	out, code = runBinary(t, append([]string{"audit", "-format", "json"}, admin...)...)
	var recs []referral.AuditRecord
	if code != 0 || json.Unmarshal([]byte(out), &recs) != nil {
		t.Fatalf("audit: exit %d: %s", code, out)
	}
	found := false
	for _, a := range recs {
		if a.Action == "void" {
			found = true
			if a.Token == "" || a.Time.IsZero() || a.Tenant != tenantID || !strings.Contains(a.Detail, ref) || !strings.Contains(a.Detail, "1 credit revoked") {
				t.Errorf("audit record %+v", a)
			}
		}
	}
	if !found || strings.Contains(out, "cand.example") || strings.Contains(out, "registered twice") {
		t.Errorf("audit trail without the void, or naming the candidate:\n%s", out)
	}
}
