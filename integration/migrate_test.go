package integration

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/careerrelay/careerrelay/internal/testlib"
)

// TestStoreMigrate: a node of the current release on bbolt makes
// referrals and a credit; stopped, its store is copied into PostgreSQL by
// `careerrelay store migrate`, which verifies the ledger; a second run
// duplicates nothing; a node on the database then has the same balance,
// a verifying ledger, and serves the old node's links.
func TestStoreMigrate(t *testing.T) {
	t.Parallel()
	sink := newSink(t, nil)
	dir := t.TempDir()
	b := make([]byte, 32)
	rand.Read(b)
	hashKey := filepath.Join(dir, "privacy.key")
	writeFile(t, hashKey, []byte(hex.EncodeToString(b)+"\n"))
	old := StartRelay(t, sink.Addr, withLocalLinks, func(_ string, c *Config) {
		c.Privacy = &Privacy{HashKeyFile: hashKey}
		c.Tenants[0].ReferralsPerCredit = 2
	})
	cands := []string{"mig.a@cand.example", "mig.b@cand.example", "mig.c@cand.example"}
	links := relayLinks(t, old, sink, cands...)
	for _, c := range cands[:2] {
		consentRef(t, links[c])
	}
	before := fullBalance(t, old)
	old.Stop()

	pg := testlib.NewPostgres(t)
	dsnFile := filepath.Join(dir, "pg.dsn")
	writeFile(t, dsnFile, []byte(pg.DSN+"\n"))
	next := NewRelay(t, sink.Addr, withLocalLinks, func(_ string, c *Config) {
		c.Privacy = &Privacy{HashKeyFile: hashKey}
		c.Tenants[0].ReferralsPerCredit = 2
		c.Links.Keys[0].SecretFile = old.Config.Links.Keys[0].SecretFile
		c.Store = &Store{Shared: SharedStore{Driver: "postgres", DSNFile: dsnFile}}
	})
	from := filepath.Join(old.Config.DataDir, "careerrelay.db")
	migrate := func() string {
		t.Helper()
		out, code := runBinary(t, "store", "migrate", "-config", next.ConfigPath, "-from-bbolt", from)
		if code != 0 || !regexp.MustCompile(`(?m)^ledger OK: 3 entries, head [0-9a-f]{64}$`).MatchString(out) {
			t.Fatalf("store migrate: exit %d:\n%s", code, out)
		}
		return out
	}
	first := migrate()
	if !strings.Contains(first, "sends              3 records") || !strings.Contains(first, "referrals          2 records") {
		t.Errorf("store migrate copied:\n%s", first)
	}
	if again := migrate(); again != first {
		t.Errorf("a second run differs:\n%s\nthe first:\n%s", again, first)
	}

	next.Start()
	if after := fullBalance(t, next); after != before || after.Referrals != 2 || after.Granted != 1 {
		t.Errorf("balance on the database %+v, on bbolt it was %+v", after, before)
	}
	if out, code := runBinary(t, "ledger", "verify", "-config", next.ConfigPath, "-ready-file", next.ReadyPath); code != 0 {
		t.Errorf("ledger verify on the database: exit %d: %s", code, out)
	}
	// The old node's links work on the new one: a consented candidate sees
	// the application, another one the landing page, and consents once.
	resp, page := get(t, http.MethodGet, onNode(t, links[cands[0]], old, next), map[string]string{"User-Agent": personUA})
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "お申し込み") || csrfRE.MatchString(page) && strings.Contains(page, `name="consent"`) {
		t.Errorf("a consented candidate's old link on the new node: %s", resp.Status)
	}
	consentRef(t, onNode(t, links[cands[2]], old, next))
	if b := fullBalance(t, next); b.Referrals != 3 {
		t.Errorf("after a new consent: %+v, want 3 referrals", b)
	}
}
