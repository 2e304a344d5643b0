package referral

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/careerrelay/careerrelay/configs"
)

// TestKeyChangesAudited: a start records the keys it finds; a start with a
// key replaced, added or removed records which, by name, never the key;
// a start with the same keys records nothing.
func TestKeyChangesAudited(t *testing.T) {
	e := newEnv(t, "")
	e.cfg.Admin.Token = strings.Repeat("A", 40)
	e.cfg.Tenants[0].APIKeys = []configs.APIKey{{ID: "k1", Sum: bytes.Repeat([]byte{1}, 32)}}
	start := func() []AuditRecord {
		t.Helper()
		if err := e.s.RecordKeyChanges(context.Background()); err != nil {
			t.Fatal(err)
		}
		recs, err := e.s.Audit()
		if err != nil {
			t.Fatal(err)
		}
		return recs
	}
	recs := start()
	if len(recs) != 1 || recs[0].Action != "key_change" || recs[0].Token != "config" ||
		!strings.Contains(recs[0].Detail, "keys at first start: ") || !strings.Contains(recs[0].Detail, "tenant acme api key k1") {
		t.Fatalf("first start: %+v", recs)
	}
	if recs = start(); len(recs) != 1 {
		t.Errorf("a start with the same keys added a record: %+v", recs[1:])
	}
	e.cfg.Links.Keys = []configs.LinkKey{{ID: "k2", Secret: bytes.Repeat([]byte("N"), 32)}, e.cfg.Links.Keys[0]}
	e.cfg.Admin.Token = strings.Repeat("B", 40)
	e.cfg.Tenants[0].APIKeys = nil
	recs = start()
	if len(recs) != 2 {
		t.Fatalf("after the changes: %+v", recs)
	}
	want := "replaced admin token; added links.keys k2; removed tenant acme api key k1" // by name
	if got := recs[1].Detail; got != want {
		t.Errorf("detail %q, want %q", got, want)
	}
	if strings.Contains(recs[1].Detail, "BBBB") || strings.Contains(recs[1].Detail, "NNNN") {
		t.Error("the audit record holds a key")
	}
}
