package integration

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/careerrelay/careerrelay/internal/referral"
)

// TestPrivacyExportEraseExport is spec §14's disclosure and erasure
// through the binary: `privacy export` shows the candidate's records,
// `privacy erase` erases them, and a second export finds them only by the
// keyed hash; no file under data_dir holds the address or the name any
// more (free pages included), the other candidate's data is intact,
// `ledger verify` passes, and `audit` lists redeem, void, export and erase
// by the admin token's id and time, never the address.
func TestPrivacyExportEraseExport(t *testing.T) {
	t.Parallel()
	sink := newSink(t, nil)
	r := StartRelay(t, sink.Addr, withLocalLinks, func(dir string, c *Config) {
		c.Tenants[0].ReferralsPerCredit = 2
	})
	const gone, kept = "erase.me@cand.example", "keep.me@cand.example"
	links := relayLinks(t, r, sink, gone, kept)
	consentRef(t, links[gone])
	keptRef := consentRef(t, links[kept])
	admin := []string{"-config", r.ConfigPath, "-ready-file", r.ReadyPath}
	run := func(args ...string) string {
		t.Helper()
		out, code := runBinary(t, append(args, admin...)...)
		if code != 0 {
			t.Fatalf("careerrelay %s: exit %d: %s", strings.Join(args, " "), code, out)
		}
		return out
	}
	run("ledger", "redeem", "-tenant", tenantID, "-note", "hire 2026-12")
	run("ledger", "void", "-ref", keptRef, "-reason", "registered twice")

	// The flags come before the address (Go's flag package stops at it).
	export := func() referral.Disclosure {
		t.Helper()
		out, code := runBinary(t, append([]string{"privacy", "export", "-tenant", tenantID}, append(admin, "ERASE.ME@cand.example")...)...)
		var d referral.Disclosure
		if code != 0 || json.Unmarshal([]byte(out), &d) != nil {
			t.Fatalf("privacy export: exit %d: %s", code, out)
		}
		return d
	}
	d := export()
	if len(d.Sends) != 1 || d.Sends[0].Rcpt != gone || len(d.Referrals) != 1 || d.Referrals[0].Candidate != gone || len(d.Ledger) == 0 {
		t.Fatalf("export before the erasure: %+v", d)
	}
	dataDir := r.Config.DataDir
	if len(filesWith(t, dataDir, gone)) == 0 {
		t.Fatal("data_dir does not hold the address before the erasure: the test would prove nothing")
	}

	out, code := runBinary(t, append([]string{"privacy", "erase", "-tenant", tenantID}, append(admin, gone)...)...)
	var er referral.Erasure
	if code != 0 || json.Unmarshal([]byte(out), &er) != nil || er.Sends != 1 || er.Referrals != 1 {
		t.Fatalf("privacy erase: exit %d: %s", code, out)
	}
	d = export()
	if len(d.Sends) != 1 || d.Sends[0].Rcpt != "" || d.Sends[0].Erased.IsZero() || len(d.Referrals) != 1 || d.Referrals[0].Candidate != "" {
		t.Errorf("export after the erasure: %+v", d)
	}
	if got := filesWith(t, dataDir, gone, "erase.me"); len(got) > 0 {
		t.Errorf("after the erasure: %v", got)
	}
	if len(filesWith(t, dataDir, kept)) == 0 {
		t.Error("the other candidate's address is gone from data_dir too")
	}
	if out := run("ledger", "verify"); !strings.Contains(out, "ledger OK") {
		t.Errorf("ledger verify: %s", out)
	}

	// A retention pass now (the default retention keeps everything here).
	var purged referral.Purged
	if err := json.Unmarshal([]byte(run("privacy", "purge")), &purged); err != nil || purged.Before.IsZero() || purged.Sends+purged.Referrals != 0 {
		t.Errorf("privacy purge: %+v, %v", purged, err)
	}

	out = run("audit", "-format", "json")
	var recs []referral.AuditRecord
	if err := json.Unmarshal([]byte(out), &recs); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, a := range recs {
		seen[a.Action] = true
		if a.Token == "" || a.Time.IsZero() {
			t.Errorf("audit record without token id or time: %+v", a)
		}
	}
	for _, want := range []string{"redeem", "void", "privacy_export", "erase", "purge"} {
		if !seen[want] {
			t.Errorf("audit trail has no %s record:\n%s", want, out)
		}
	}
	if strings.Contains(strings.ToLower(out), "cand.example") {
		t.Errorf("the audit trail names a candidate:\n%s", out)
	}
}

// filesWith lists the files under dir whose bytes hold one of needles,
// case-insensitively.
func filesWith(t *testing.T, dir string, needles ...string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(path string, de os.DirEntry, err error) error {
		if err != nil || de.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		data = bytes.ToLower(data)
		for _, n := range needles {
			if bytes.Contains(data, []byte(strings.ToLower(n))) {
				out = append(out, path+": "+n)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
