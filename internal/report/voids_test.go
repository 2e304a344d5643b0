package report_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/careerrelay/careerrelay/internal/linktoken"
	"github.com/careerrelay/careerrelay/internal/referral"
	"github.com/careerrelay/careerrelay/internal/report"
	"github.com/careerrelay/careerrelay/internal/testlib"
	"github.com/careerrelay/careerrelay/store"
)

// TestVoids is spec §14's acceptance case as the report shows it: with 2
// referrals per credit, 2 referrals in March give 1 credit; a void in
// April adds a void and a revoke, the balance is 0, the ledger verifies,
// and the report counts the void and the revoked credit in April, in JSON,
// CSV and HTML.
func TestVoids(t *testing.T) {
	cfg := testConfig()
	cfg.TenantByID("beta").ReferralsPerCredit = 2
	db, err := store.Open(filepath.Join(t.TempDir(), "careerrelay.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	clock := testlib.NewClock(time.Date(2026, 3, 10, 3, 0, 0, 0, time.UTC))
	svc, err := referral.New(cfg, db, nil, referral.Options{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := linktoken.NewKeys(cfg.Links.Keys)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var refs []*referral.Referral
	for i := range 2 {
		id := linktoken.NewSendID()
		err := db.Update(ctx, func(tx *store.Tx) error {
			return tx.PutSend(&store.Send{ID: id.String(), Tenant: "beta", Rcpt: fmt.Sprintf("void-%d@cand.example", i),
				QueueID: "q" + id.String(), Sent: clock.Now()})
		})
		if err != nil {
			t.Fatal(err)
		}
		l, err := svc.Resolve(keys.Mint(id))
		if err != nil {
			t.Fatal(err)
		}
		r, err := svc.Refer(ctx, l, "consent-v1")
		if err != nil {
			t.Fatal(err)
		}
		refs = append(refs, r)
	}
	clock.Set(time.Date(2026, 4, 2, 3, 0, 0, 0, time.UTC))
	out, err := svc.Void(ctx, refs[0].ID, "registered twice")
	if err != nil || len(out) != 2 || out[0].Kind != referral.KindVoid || out[1].Kind != referral.KindRevoke {
		t.Fatalf("void: %+v %v", out, err)
	}
	if b, _ := svc.Balance("beta"); b.Available != 0 || b.Voided != 1 || b.Revoked != 1 {
		t.Errorf("balance %+v", b)
	}
	l, _ := svc.Ledger()
	if err := referral.Verify(l); err != nil {
		t.Error(err)
	}

	r := build(t, cfg, svc, "beta", "2026-03-01", "2026-04-30")
	mar, apr := r.Months[0], r.Months[1]
	if mar.Referrals != 2 || mar.CreditsGranted != 1 || mar.Voids != 0 || apr.Voids != 1 || apr.CreditsRevoked != 1 ||
		r.Total.Voids != 1 || r.Total.CreditsRevoked != 1 {
		t.Errorf("figures March %+v, April %+v, total %+v", mar, apr, r.Total)
	}
	if c := r.Credit; c.Granted != 1 || c.Voided != 1 || c.Revoked != 1 || c.Available != 0 {
		t.Errorf("credit %+v", c)
	}
	// March alone: the void has not happened yet.
	if m := build(t, cfg, svc, "beta", "2026-03-01", "2026-03-31"); m.Total.Voids != 0 || m.Credit.Available != 1 {
		t.Errorf("March alone: %+v %+v", m.Total, m.Credit)
	}

	var js bytes.Buffer
	if err := r.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back report.Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || back.Total.Voids != 1 || back.Total.CreditsRevoked != 1 || back.Credit.Revoked != 1 {
		t.Errorf("JSON %v:\n%s", err, js.String())
	}
	for _, want := range []string{`"voids": 1,`, `"credits_revoked": 1,`, `"revoked": 1,`} {
		if !strings.Contains(js.String(), want) {
			t.Errorf("JSON lacks %s", want)
		}
	}

	var cb bytes.Buffer
	if err := r.WriteCSV(&cb); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&cb).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	n := slices.Index(report.CSVHeader, "voids")
	if h := rows[0]; n < 0 || h[n] != "voids" || h[n+1] != "credits_revoked" || h[n-1] != "links_queued" {
		t.Errorf("CSV header %q: voids and credits_revoked must follow links_queued", h)
	}
	for i, want := range []string{"0,0", "1,1", "1,1"} { // March, April, total
		if got := strings.Join(rows[i+1][n:n+2], ","); got != want {
			t.Errorf("CSV row %q: voids,credits_revoked %s, want %s", rows[i+1], got, want)
		}
	}

	var h bytes.Buffer
	if err := r.WriteHTML(&h); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"人材紹介会社が無効とした申込 1名", "取り消された無料の採用支援 1名分", "<th>無効</th>", "<th>取消</th>", "未利用 0名分"} {
		if !strings.Contains(h.String(), want) {
			t.Errorf("HTML lacks %q", want)
		}
	}
	// Without voids, the page has no such columns.
	var plain bytes.Buffer
	if err := build(t, cfg, svc, "beta", "2026-03-01", "2026-03-31").WriteHTML(&plain); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(plain.String(), "取り消された無料の採用支援") || strings.Contains(plain.String(), "<th>取消</th>") {
		t.Error("a period without voids shows the void columns")
	}
}
