package ingress

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"time"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/careerrelay/careerrelay/configs"
)

// maxVerifications bounds the signatures verified per message: each costs
// a DNS query and a public-key operation.
const maxVerifications = 5

// errNotIngressDomain refuses the key lookup of a signature whose d= is
// not one of the tenant's ingress.dkim_domains.
var errNotIngressDomain = errors.New("ingress: not a DKIM domain of the tenant")

// clockSkew is how far in the future a signature's t= may lie (the
// signer's clock may run a little ahead of ours).
const clockSkew = 5 * time.Minute

// dkimProof verifies msg's DKIM signatures and returns the header fields
// covered by the first one that proves t: d= one of t's
// ingress.dkim_domains, valid, covering From, not older than
// max_signature_age, and, when t has a microsoft365_tenant_id, with exactly
// one X-MS-Exchange-CrossTenant-Id equal to it. tempErr is set when a
// signature of one of t's domains could not be checked for a temporary
// reason (DNS): the caller answers 451, never a pass.
func (k *Checker) dkimProof(ctx context.Context, t *configs.Tenant, hdr []byte, all []field, msg []byte) (signed []string, tempErr error) {
	if len(t.Ingress.DKIMDomains) == 0 || countNamed(all, "DKIM-Signature") == 0 {
		return nil, nil
	}
	if id := t.Ingress.Microsoft365TenantID; id != "" {
		ids := named(hdr, all, CrossTenantHeader)
		if len(ids) != 1 || !strings.EqualFold(ids[0].value, id) {
			return nil, nil
		}
	}
	vs, err := dkim.VerifyWithOptions(bytes.NewReader(msg), &dkim.VerifyOptions{
		// Only the keys of t's own DKIM domains are looked up: any other
		// signature cannot prove t, and refusing its key here (a permanent
		// failure) spares the query and the body hash it would cost.
		LookupTXT: func(name string) ([]string, error) {
			_, domain, ok := strings.Cut(name, "._domainkey.")
			if !ok || !t.Proves(domain) {
				return nil, errNotIngressDomain
			}
			return k.lookupTXT(ctx, name)
		},
		MaxVerifications: maxVerifications,
	})
	if err != nil && len(vs) == 0 {
		return nil, nil // the header cannot be read: no proof
	}
	now := k.now()
	for _, v := range vs {
		if !t.Proves(v.Domain) {
			continue
		}
		if v.Err != nil {
			if dkim.IsTempFail(v.Err) {
				tempErr = v.Err
			}
			continue
		}
		if !containsFold(v.HeaderKeys, "From") || v.Time.IsZero() {
			continue
		}
		if age := now.Sub(v.Time); age > t.Ingress.MaxSignatureAge || age < -clockSkew {
			continue
		}
		return v.HeaderKeys, nil
	}
	return nil, tempErr
}
