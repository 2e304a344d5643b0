package pipeline

import (
	"fmt"

	"github.com/careerrelay/careerrelay/configs"
	"github.com/careerrelay/careerrelay/smtp/dkim"
)

// signatures is the last stage: the tenant's DKIM signatures over the
// final bytes of the copy, body, which it returns with them (fromDomain,
// the From header's domain, picks d=). Signatures the client made are kept
// on a copy that went out as it came in, and removed from a copy
// careerrelay changed, where they would fail ("body hash did not verify").
// The copy's bytes are sigs followed by the body returned.
func (p *Pipeline) signatures(pl *plan, c *Copy, body []byte) (sigs, signed []byte, err error) {
	if pl.tenant == nil {
		return nil, body, nil
	}
	s := p.signers[pl.tenant.ID]
	if s == nil {
		return nil, body, nil
	}
	if c.Changed {
		body = dkim.StripSignatures(body)
	}
	sigs, err = s.Signatures(body, pl.from)
	if err != nil {
		return nil, nil, fmt.Errorf("dkim sign for tenant %s: %w", pl.tenant.ID, err)
	}
	return sigs, body, nil
}

// newSigners builds one DKIM signer per tenant that has keys.
func newSigners(cfg *configs.Config) (map[string]*dkim.Signer, error) {
	signers := map[string]*dkim.Signer{}
	for i := range cfg.Tenants {
		t := &cfg.Tenants[i]
		if len(t.DKIM) == 0 {
			continue
		}
		s, err := dkim.NewSigner(t, nil)
		if err != nil {
			return nil, fmt.Errorf("tenant %s: %w", t.ID, err)
		}
		signers[t.ID] = s
	}
	return signers, nil
}
