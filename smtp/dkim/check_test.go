package dkim

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/careerrelay/careerrelay/configs"
)

// fakeDNS answers TXT lookups from a map of fully qualified names; a name
// it does not hold is NXDOMAIN, as net.Resolver reports it.
type fakeDNS struct {
	records map[string][]string
	errs    map[string]error
	asked   []string
}

func (f *fakeDNS) lookup(ctx context.Context, name string) ([]string, error) {
	f.asked = append(f.asked, name)
	if err := f.errs[name]; err != nil {
		return nil, err
	}
	if r, ok := f.records[name]; ok {
		return r, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

func txt(t *testing.T, key string) string {
	t.Helper()
	s, err := TXTRecord(testKeys()[key].Public())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestCheck(t *testing.T) {
	acme := *testTenant("rsa", "ed25519")
	acme.Domains = []string{"acme.example", "acme-mail.example"}
	beta := configs.Tenant{ID: "beta", Domains: []string{"beta.example"}, DKIM: testTenant("rsa2").DKIM}
	demo := configs.Tenant{ID: "demo", Domains: []string{"example.jp"}} // no keys: nothing to check
	cfg := &configs.Config{Tenants: []configs.Tenant{acme, demo, beta}}

	dns := &fakeDNS{
		records: map[string][]string{
			"cr2026._domainkey.acme.example.":       {txt(t, "rsa")},
			"cr2026e._domainkey.acme.example.":      {txt(t, "ed25519b")}, // another key
			"cr2026._domainkey.acme-mail.example.":  {"v=DKIM1; k=rsa; p=not base64!"},
			"cr2026e._domainkey.acme-mail.example.": {txt(t, "ed25519"), "v=spf1 -all"},
		},
		errs: map[string]error{
			"old._domainkey.beta.example.": &net.DNSError{Err: "server misbehaving", Name: "old._domainkey.beta.example", IsTemporary: true},
		},
	}
	got := Check(context.Background(), cfg, dns.lookup)
	want := []struct {
		name   string
		status Status
		detail string
	}{
		{"cr2026._domainkey.acme.example", Match, ""},
		{"cr2026e._domainkey.acme.example", DifferentKey, "the record has an Ed25519 key (SHA256:"},
		{"cr2026._domainkey.acme-mail.example", Malformed, "not base64"},
		{"cr2026e._domainkey.acme-mail.example", Malformed, "2 TXT records"},
		{"old._domainkey.beta.example", LookupFailed, "server misbehaving"},
	}
	if len(got) != len(want) {
		t.Fatalf("%d results, want %d: %v", len(got), len(want), got)
	}
	for i, w := range want {
		g := got[i]
		if g.Name != w.name || g.Status != w.status || !strings.Contains(g.Detail, w.detail) {
			t.Errorf("result %d: %v\nwant %s: %s: ...%s...", i, g, w.name, w.status, w.detail)
		}
	}
	if got[0].Tenant != "acme" || got[0].Domain != "acme.example" || got[0].Selector != "cr2026" {
		t.Errorf("result 0: %+v", got[0])
	}
	for _, name := range dns.asked {
		if !strings.HasSuffix(name, ".") {
			t.Errorf("looked up %q: not fully qualified (a search domain could answer)", name)
		}
	}
}

func TestCheckOutcomes(t *testing.T) {
	for _, tc := range []struct {
		name    string
		records []string
		err     error
		status  Status
		detail  string
	}{
		{"match rsa", []string{txt(t, "rsa")}, nil, Match, ""},
		{"match with t=y", []string{txt(t, "rsa") + "; t=y"}, nil, Match, "testing"},
		{"no record", nil, nil, NoRecord, "dkim-keygen"},
		{"nxdomain", nil, &net.DNSError{Err: "no such host", IsNotFound: true}, NoRecord, "dkim-keygen"},
		{"wrapped nxdomain", nil, errors.Join(errors.New("lookup"), &net.DNSError{IsNotFound: true}), NoRecord, ""},
		{"timeout", nil, &net.DNSError{Err: "i/o timeout", IsTimeout: true}, LookupFailed, "timeout"},
		{"other rsa key", []string{txt(t, "rsa2")}, nil, DifferentKey, "RSA-2048"},
		{"ed25519 for rsa", []string{txt(t, "ed25519")}, nil, DifferentKey, "the record has an Ed25519 key"},
		{"revoked", []string{"v=DKIM1; k=rsa; p="}, nil, DifferentKey, "revokes"},
		{"sha1 only", []string{txt(t, "rsa") + "; h=sha1"}, nil, Malformed, "h=sha1"},
		{"two records", []string{txt(t, "rsa"), txt(t, "rsa")}, nil, Malformed, "exactly one"},
		{"not a key record", []string{"hello"}, nil, Malformed, "no name=value"},
	} {
		lookup := func(ctx context.Context, name string) ([]string, error) { return tc.records, tc.err }
		st, detail := checkOne(context.Background(), lookup, "cr2026._domainkey.acme.example", testKeys()["rsa"])
		if st != tc.status || !strings.Contains(detail, tc.detail) {
			t.Errorf("%s: %s: %s; want %s: ...%s...", tc.name, st, detail, tc.status, tc.detail)
		}
	}
}

func TestCheckResultString(t *testing.T) {
	r := CheckResult{Tenant: "acme", Name: "s._domainkey.acme.example", Status: NoRecord, Detail: "publish it"}
	if got, want := r.String(), "s._domainkey.acme.example (tenant acme): no record: publish it"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if got := Status(42).String(); got != "Status(42)" {
		t.Errorf("Status(42) = %q", got)
	}
}
