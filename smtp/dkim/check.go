package dkim

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"net"

	"github.com/careerrelay/careerrelay/configs"
)

// Status is the outcome of checking one selector's DNS record.
type Status int

// The outcomes of a check.
const (
	Match        Status = iota // the record publishes the configured key
	NoRecord                   // no TXT record at the name
	DifferentKey               // the record publishes another key, or revokes it
	Malformed                  // the record cannot be parsed, or forbids our signatures
	LookupFailed               // DNS did not answer (timeout, SERVFAIL): try again
)

func (s Status) String() string {
	switch s {
	case Match:
		return "matches"
	case NoRecord:
		return "no record"
	case DifferentKey:
		return "record has a different key"
	case Malformed:
		return "record malformed"
	case LookupFailed:
		return "lookup failed"
	}
	return fmt.Sprintf("Status(%d)", int(s))
}

// CheckResult is the outcome for one selector of one tenant domain.
type CheckResult struct {
	Tenant   string
	Domain   string
	Selector string
	Name     string // selector._domainkey.domain
	Status   Status
	Detail   string // why, when Status is not Match; a note (testing mode) when it is
}

func (r CheckResult) String() string {
	s := fmt.Sprintf("%s (tenant %s): %s", r.Name, r.Tenant, r.Status)
	if r.Detail != "" {
		s += ": " + r.Detail
	}
	return s
}

// LookupTXT looks up the TXT records of a fully qualified name (with a
// trailing dot), one string per record with its character-strings joined,
// as net.Resolver.LookupTXT does.
type LookupTXT func(ctx context.Context, name string) ([]string, error)

// Check looks up, for every tenant of cfg, every domain and every selector
// (mail is signed as any of the tenant's domains, so each must publish each
// key), the key record in DNS, and compares it with the configured key.
func Check(ctx context.Context, cfg *configs.Config, lookup LookupTXT) []CheckResult {
	var out []CheckResult
	for _, t := range cfg.Tenants {
		for _, d := range t.Domains {
			for _, k := range t.DKIM {
				r := CheckResult{Tenant: t.ID, Domain: d, Selector: k.Selector, Name: RecordName(k.Selector, d)}
				r.Status, r.Detail = checkOne(ctx, lookup, r.Name, k.Signer)
				out = append(out, r)
			}
		}
	}
	return out
}

// checkOne checks the record at name against key.
func checkOne(ctx context.Context, lookup LookupTXT, name string, key crypto.Signer) (Status, string) {
	txts, err := lookup(ctx, name+".")
	var dnsErr *net.DNSError
	switch {
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		return NoRecord, "publish the record printed by careerrelay dkim-keygen"
	case err != nil:
		return LookupFailed, err.Error()
	case len(txts) == 0:
		return NoRecord, "publish the record printed by careerrelay dkim-keygen"
	case len(txts) > 1:
		return Malformed, fmt.Sprintf("%d TXT records at the name; verifiers need exactly one", len(txts))
	}
	rec, err := parseRecord(txts[0])
	if err != nil {
		return Malformed, err.Error()
	}
	if key == nil {
		return DifferentKey, "the configured key is not loaded"
	}
	if rec.pub == nil {
		return DifferentKey, "the record revokes the key (empty p=)"
	}
	type equaler interface{ Equal(crypto.PublicKey) bool }
	ours, ok := key.Public().(equaler)
	if !ok || !ours.Equal(rec.pub) {
		return DifferentKey, fmt.Sprintf("the record has %s, the key file %s", keyDesc(rec.pub), keyDesc(key.Public()))
	}
	if rec.testing {
		return Match, "t=y: the record says the domain is testing DKIM; receivers may ignore failures"
	}
	return Match, ""
}
