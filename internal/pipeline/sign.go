package pipeline

import (
	"fmt"

	"github.com/careerrelay/careerrelay/configs"
	"github.com/careerrelay/careerrelay/smtp/dkim"
)

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
