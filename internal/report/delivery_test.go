package report_test

import (
	"bytes"
	"encoding/csv"
	"strings"
	"testing"
	"time"

	"github.com/careerrelay/careerrelay/internal/referral"
	"github.com/careerrelay/careerrelay/store"
)

// sendsSource has only send records.
type sendsSource []store.Send

func (s sendsSource) Sends(fn func(*store.Send) error) error {
	for i := range s {
		if err := fn(&s[i]); err != nil {
			return err
		}
	}
	return nil
}
func (sendsSource) Clicks(func(*referral.Click) error) error { return nil }
func (sendsSource) Ledger() ([]referral.Entry, error)        { return nil, nil }

// TestLinksSentCountsDeliveredCopies: a link counts as sent once its copy
// was delivered (or when its record predates the delivery field); bounced
// and still queued copies are counted apart, in JSON, CSV and the page.
func TestLinksSentCountsDeliveredCopies(t *testing.T) {
	at := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	src := sendsSource{
		{ID: "1", Tenant: "acme", Sent: at, Delivery: store.SendDelivered},
		{ID: "2", Tenant: "acme", Sent: at, Delivery: ""}, // written before the field
		{ID: "3", Tenant: "acme", Sent: at, Delivery: store.SendBounced},
		{ID: "4", Tenant: "acme", Sent: at, Delivery: store.SendQueued},
		{ID: "5", Tenant: "beta", Sent: at, Delivery: store.SendBounced},
	}
	r := build(t, testConfig(), src, "acme", "2026-03-01", "2026-03-31")
	if f := r.Total; f.LinksSent != 2 || f.LinksBounced != 1 || f.LinksQueued != 1 {
		t.Errorf("total: sent %d bounced %d queued %d, want 2 1 1", f.LinksSent, f.LinksBounced, f.LinksQueued)
	}
	var c bytes.Buffer
	if err := r.WriteCSV(&c); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&c).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := map[string]int{}
	for i, name := range rows[0] {
		col[name] = i
	}
	total := rows[len(rows)-1]
	if total[col["links_sent"]] != "2" || total[col["links_bounced"]] != "1" || total[col["links_queued"]] != "1" {
		t.Errorf("CSV total row %v (header %v)", total, rows[0])
	}
	var h bytes.Buffer
	if err := r.WriteHTML(&h); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(h.String(), "届いた通知のみ（未達1名・配送中1名を除く）") {
		t.Error("the page does not say which links are not counted as sent")
	}
}
