package referral

import (
	"bytes"
	"context"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/careerrelay/careerrelay/store"
)

// filesHolding lists the files under dir whose bytes contain any of
// needles, case-insensitively (an address is case-blind).
func filesHolding(t *testing.T, dir string, needles ...string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		low := bytes.ToLower(data)
		for _, n := range needles {
			if bytes.Contains(low, bytes.ToLower([]byte(n))) {
				out = append(out, filepath.Base(path)+" holds "+n)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (e *env) disclose(tenant, addr string) *Disclosure {
	e.t.Helper()
	d, err := e.s.Disclose(tenant, addr)
	if err != nil {
		e.t.Fatal(err)
	}
	return d
}

// TestExportEraseExport is a disclosure request, then an erasure, then the
// same disclosure request: the address, name and Message-ID are gone from
// the answer and from every file of the store's folder, free pages
// included; the other candidate's data is intact, the ledger verifies,
// and the erased candidate still counts once.
func TestExportEraseExport(t *testing.T) {
	e := newEnv(t, "https://agency.example/hook") // webhooks stay in the outbox: nothing delivers them
	e.cfg.Tenants[0].ReferralsPerCredit = 2
	const addr, name = "Hanako.Yamada+jobs@Example.JP", "山田 花子"
	tok := e.mail("acme", addr, name)
	l, err := e.s.Resolve(tok)
	if err != nil {
		t.Fatal(err)
	}
	msgID := l.Send.MessageID
	ref, err := e.s.Refer(context.Background(), l, "consent-v1")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.s.RecordClick(context.Background(), l, Human); err != nil {
		t.Fatal(err)
	}
	other := e.refer("acme", "keep.me@example.jp") // the second referral grants a credit

	d := e.disclose("acme", "hanako.yamada@example.jp") // another spelling of the same mailbox
	if len(d.Sends) != 1 || d.Sends[0].Rcpt != addr || d.Sends[0].Name != name || len(d.Referrals) != 1 ||
		d.Referrals[0].ID != ref.ID || len(d.Clicks) != 1 || len(d.Ledger) != 1 || len(d.Webhooks) != 1 {
		js, _ := json.MarshalIndent(d, "", " ")
		t.Fatalf("disclosure before the erasure:\n%s", js)
	}
	dir := filepath.Dir(e.path)
	if len(filesHolding(t, dir, "hanako.yamada", name)) == 0 {
		t.Fatal("the store does not hold the address before the erasure: the test would prove nothing")
	}

	er, err := e.s.Erase(context.Background(), "acme", addr)
	if err != nil {
		t.Fatal(err)
	}
	if er.Sends != 1 || er.Referrals != 1 || er.Webhooks != 1 || er.PagesZeroed == 0 {
		t.Errorf("erasure = %+v", er)
	}
	d = e.disclose("acme", addr)
	js, _ := json.Marshal(d.Sends)
	js2, _ := json.Marshal(d.Referrals)
	if len(d.Sends) != 1 || len(d.Referrals) != 1 || bytes.Contains(bytes.ToLower(append(js, js2...)), []byte("hanako")) ||
		strings.Contains(string(js)+string(js2), name) || d.Sends[0].Erased.IsZero() || d.Referrals[0].ErasedAt == nil {
		t.Errorf("disclosure after the erasure: sends %s referrals %s", js, js2)
	}
	if got := filesHolding(t, dir, "hanako.yamada", name, strings.Trim(msgID, "<>")); len(got) > 0 {
		t.Errorf("after the erasure: %v", got)
	}
	if got := filesHolding(t, dir, "keep.me@example.jp"); len(got) == 0 {
		t.Error("the other candidate's address is gone too")
	}
	if err := Verify(e.ledger()); err != nil {
		t.Errorf("ledger after the erasure: %v", err)
	}
	if b := e.balance("acme"); b.Referrals != 2 || b.Granted != 1 {
		t.Errorf("balance after the erasure = %+v, want the counts unchanged", b)
	}
	// The erased candidate mailed again (other case) still counts once.
	if r := e.refer("acme", "HANAKO.YAMADA@example.jp"); r.ID != ref.ID {
		t.Errorf("the erased candidate counted again: %s, first %s", r.ID, ref.ID)
	}
	if r, _ := e.s.Referral(other.ID); r.Candidate != "keep.me@example.jp" {
		t.Errorf("other referral = %+v", r)
	}
	if _, err := e.s.Erase(context.Background(), "acme", "not an address"); err == nil {
		t.Error("erasing a non-address succeeded")
	}
	if _, err := e.s.Erase(context.Background(), "nobody", addr); err == nil {
		t.Error("erasing for an unknown tenant succeeded")
	}
}

// TestRetention: with a retention of a few seconds, a purge erases the
// address and name of older send records and referrals, keeps newer ones,
// and a new mail to the same address in another case does not count again.
func TestRetention(t *testing.T) {
	e := newEnv(t, "")
	e.cfg.Privacy.Retention = 5 * time.Second
	first := e.refer("acme", "Old.Candidate@example.jp")
	e.clock.Advance(6 * time.Second)
	e.mail("acme", "new.candidate@example.jp", "新しい 人")

	p, err := e.s.Purge(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if p.Sends != 1 || p.Referrals != 1 {
		t.Errorf("purge = %+v, want 1 send and 1 referral", p)
	}
	if got := filesHolding(t, filepath.Dir(e.path), "old.candidate"); len(got) > 0 {
		t.Errorf("after the purge: %v", got)
	}
	if got := filesHolding(t, filepath.Dir(e.path), "new.candidate@example.jp"); len(got) == 0 {
		t.Error("the send within the retention was erased too")
	}
	r, err := e.s.Referral(first.ID)
	if err != nil || r.Candidate != "" || r.CandidateHash == "" || r.ErasedAt == nil {
		t.Errorf("purged referral = %+v, %v", r, err)
	}
	if again := e.refer("acme", "OLD.CANDIDATE@EXAMPLE.JP"); again.ID != first.ID {
		t.Error("a candidate whose data was purged counted again")
	}
	if b := e.balance("acme"); b.Referrals != 1 {
		t.Errorf("%d referrals, want 1", b.Referrals)
	}
	if _, err := e.s.ReferFrom(context.Background(), e.link("acme", "third@example.jp"), "consent-v1", netip.MustParseAddr("203.0.113.9")); err != nil {
		t.Fatal(err)
	}
	if n := e.count(store.BucketConsentNetworks); n != 1 {
		t.Fatalf("%d consent networks counted, want 1", n)
	}
	e.clock.Advance(SharedNetworkWindow)
	if p, err := e.s.Purge(context.Background()); err != nil || p.Sends != 3 || p.Referrals != 1 {
		// the new candidate's mail, the second mail to the old one, the third candidate's
		t.Errorf("second purge = %+v, %v; want 3 sends, 1 referral", p, err)
	}
	if n := e.count(store.BucketConsentNetworks); n != 0 {
		t.Errorf("%d consent networks kept past %v", n, SharedNetworkWindow)
	}
	if p, err := e.s.Purge(context.Background()); err != nil || p.Sends+p.Referrals != 0 {
		t.Errorf("a third purge erased again: %+v, %v", p, err)
	}
}

// TestHashKeyChangeRefused: a store written with one privacy key refuses
// another, whose hashes would let erased candidates count again.
func TestHashKeyChangeRefused(t *testing.T) {
	e := newEnv(t, "")
	e.refer("acme", "a@example.jp")
	if err := os.WriteFile(filepath.Join(filepath.Dir(e.path), hashKeyFile), []byte(strings.Repeat("k", 40)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := e.db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(e.path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e.db = db
	if _, err := New(e.cfg, db, nil, e.opts); err == nil || !strings.Contains(err.Error(), "privacy hash key") {
		t.Errorf("New with another key: %v", err)
	}
}

// TestEraseWithQueuedCopy: a copy still queued to the erased candidate is
// counted, not removed; once it leaves the queue (delivered), the next
// retention pass zeroes its freed pages although it erases nothing itself.
func TestEraseWithQueuedCopy(t *testing.T) {
	e := newEnv(t, "")
	e.cfg.Privacy.Retention = 9360 * time.Hour
	const addr = "queued.candidate@example.jp"
	e.mail("acme", addr, "")
	var id string
	err := e.db.Update(context.Background(), func(tx *store.Tx) error {
		m := &store.Message{Tenant: "acme", From: "hr@acme.example", Rcpts: []store.Rcpt{{Addr: addr}}, Received: e.clock.Now()}
		if err := tx.Enqueue(m, []byte("To: "+addr+"\r\n\r\nbody\r\n")); err != nil {
			return err
		}
		id = m.ID
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	er, err := e.s.Erase(context.Background(), "acme", addr)
	if err != nil || er.Queued != 1 {
		t.Fatalf("erase = %+v, %v; want 1 queued copy", er, err)
	}
	if err := e.db.Update(context.Background(), func(tx *store.Tx) error { return tx.Delete(id) }); err != nil {
		t.Fatal(err)
	}
	if len(filesHolding(t, filepath.Dir(e.path), addr)) == 0 {
		t.Fatal("the delivered copy's bytes are not in the file: the test would prove nothing")
	}
	p, err := e.s.Purge(context.Background())
	if err != nil || p.Sends+p.Referrals != 0 || p.PagesZeroed == 0 {
		t.Errorf("purge = %+v, %v; want nothing erased and free pages zeroed", p, err)
	}
	if got := filesHolding(t, filepath.Dir(e.path), addr); len(got) > 0 {
		t.Errorf("after the purge: %v", got)
	}
}
