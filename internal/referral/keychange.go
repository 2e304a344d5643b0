package referral

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/careerrelay/careerrelay/configs"
	"github.com/careerrelay/careerrelay/store"
)

// keyFingerprints names every key and secret of cfg by a short digest,
// never the key: link keys, the agency webhook secret, the admin token,
// the tenants' API keys, DKIM keys and HR users' password hashes, and the
// privacy hash key.
func keyFingerprints(cfg *configs.Config, hashKey []byte) map[string]string {
	fp := func(b []byte) string {
		if len(b) == 0 {
			return ""
		}
		sum := sha256.Sum256(b)
		return hex.EncodeToString(sum[:4])
	}
	out := map[string]string{}
	put := func(name string, b []byte) {
		if f := fp(b); f != "" {
			out[name] = f
		}
	}
	for _, k := range cfg.Links.Keys {
		put("links.keys "+k.ID, k.Secret)
	}
	put("agency.webhook secret", cfg.Agency.Webhook.Secret)
	put("admin token", []byte(cfg.Admin.Token))
	put("privacy hash key", hashKey)
	for _, t := range cfg.Tenants {
		for _, k := range t.APIKeys {
			put("tenant "+t.ID+" api key "+k.ID, k.Sum)
		}
		for _, k := range t.DKIM {
			if k.Signer != nil {
				der, _ := x509.MarshalPKIXPublicKey(k.Signer.Public())
				put("tenant "+t.ID+" dkim "+k.Selector, der)
			}
		}
		for _, u := range t.HRUsers {
			put("tenant "+t.ID+" hr user "+u.Name, []byte(u.PasswordHash))
		}
	}
	return out
}

// RecordKeyChanges compares the keys of the configuration with those of
// the last start and writes an audit record (action key_change, token
// "config": the change came from the configuration file) naming what was
// added, removed or replaced. The first start records the keys it finds.
func (s *Service) RecordKeyChanges(ctx context.Context) error {
	now := s.now().UTC().Truncate(time.Second)
	cur := keyFingerprints(s.cfg, s.hashKey)
	return s.sh.Update(ctx, func(tx store.SharedTx) error {
		b := tx.Bucket(store.BucketPrivacy)
		old := map[string]string{}
		first := true
		if v := b.Get([]byte("key_fingerprints")); v != nil {
			first = false
			if err := json.Unmarshal(v, &old); err != nil {
				return fmt.Errorf("decode key fingerprints: %w", err)
			}
		}
		var changes []string
		for _, name := range slices.Sorted(maps.Keys(cur)) {
			switch o, ok := old[name]; {
			case !ok:
				changes = append(changes, "added "+name)
			case o != cur[name]:
				changes = append(changes, "replaced "+name)
			}
		}
		for _, name := range slices.Sorted(maps.Keys(old)) {
			if _, ok := cur[name]; !ok {
				changes = append(changes, "removed "+name)
			}
		}
		if len(changes) == 0 {
			return nil
		}
		v, err := json.Marshal(cur)
		if err != nil {
			return err
		}
		if err := b.Put([]byte("key_fingerprints"), v); err != nil {
			return err
		}
		detail := strings.Join(changes, "; ")
		if first {
			detail = "keys at first start: " + strings.Join(slices.Sorted(maps.Keys(cur)), ", ")
		}
		return appendAudit(tx, AuditRecord{Time: now, Token: "config", Action: "key_change", Detail: detail})
	})
}
