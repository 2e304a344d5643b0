package integration

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/careerrelay/careerrelay/internal/referral"
)

// TestPrivacyEraseOnPostgres: with the shared records in PostgreSQL,
// `privacy erase` leaves no byte of the address in the database's table
// files (the table is rewritten and a checkpoint removes the old files)
// nor in the node's data_dir. The WAL (pg_wal) is left out: its segments
// keep old row images until PostgreSQL recycles them (docs/privacy.md).
func TestPrivacyEraseOnPostgres(t *testing.T) {
	t.Parallel()
	sink := newSink(t, nil)
	nodes, pg := sharedNodes(t, sink.Addr, 1)
	r := nodes[0]
	const gone, kept = "pg.erase.me@cand.example", "pg.keep.me@cand.example"
	links := relayLinks(t, r, sink, gone, kept)
	consentRef(t, links[gone])
	consentRef(t, links[kept])

	checkpoint := func() {
		t.Helper()
		conn, err := pgx.Connect(context.Background(), pg.DSN)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(context.Background(), "CHECKPOINT"); err != nil {
			t.Fatal(err)
		}
	}
	tables := filepath.Join(pg.Dir, "data", "base")
	checkpoint()
	if len(filesWith(t, tables, gone)) == 0 {
		t.Fatal("the database's files do not hold the address before the erasure: the test would prove nothing")
	}
	out, code := runBinary(t, "privacy", "erase", "-tenant", tenantID, "-config", r.ConfigPath, "-ready-file", r.ReadyPath, gone)
	var er referral.Erasure
	if code != 0 || json.Unmarshal([]byte(out), &er) != nil || er.Sends != 1 || er.Referrals != 1 {
		t.Fatalf("privacy erase: exit %d: %s", code, out)
	}
	checkpoint()
	for _, dir := range []string{tables, r.Config.DataDir} {
		if got := filesWith(t, dir, gone); len(got) > 0 {
			t.Errorf("after the erasure: %v", got)
		}
	}
	if len(filesWith(t, tables, kept)) == 0 {
		t.Error("the other candidate's address is gone from the database too")
	}
	if out, code := runBinary(t, "ledger", "verify", "-config", r.ConfigPath, "-ready-file", r.ReadyPath); code != 0 {
		t.Errorf("ledger verify after the erasure: exit %d: %s", code, out)
	}
}
