package pipeline

import (
	"fmt"

	"github.com/careerrelay/careerrelay/configs"
	"github.com/careerrelay/careerrelay/smtp/dkim"
)

// sign is the last stage: the tenant's DKIM signatures over the final
// bytes of the copy; fromDomain is the From header's domain (d= aligns
// with it when it is the tenant's). Signatures the client made are kept on a copy that
// went out as it came in, and removed from a copy careerrelay changed,
// where they would fail ("body hash did not verify").
func (p *Pipeline) sign(t *configs.Tenant, c *Copy, fromDomain string) error {
	s := p.signers[t.ID]
	if s == nil {
		return nil
	}
	if c.Changed {
		c.Body = dkim.StripSignatures(c.Body)
	}
	signed, err := s.Sign(c.Body, fromDomain)
	if err != nil {
		return fmt.Errorf("dkim sign for tenant %s: %w", t.ID, err)
	}
	c.Body = signed
	return nil
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
