package referral

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"net/netip"
	"time"

	"github.com/careerrelay/careerrelay/configs"
	"github.com/careerrelay/careerrelay/store"
)

// Signals of a consent that the agency may want to look at before it
// honours a referral (docs/privacy.md). They never block a consent: a
// person may well consent quickly, or from an office network; they are
// kept with the referral, sent in the webhook and counted in the report.
const (
	// SignalQuick: the consent came less than QuickConsent after the mail
	// was delivered (Referral.ConsentSeconds says how long).
	SignalQuick = "quick_consent"
	// SignalSharedNetwork: at least SharedNetworkConsents consents for
	// the tenant came from the client's network (an IPv4 /24, an IPv6 /64)
	// within SharedNetworkWindow, this one included (Signal.Consents).
	SignalSharedNetwork = "shared_network"
	// SignalSenderNetwork: the consent came from the tenant's own mail
	// server network (its ingress.networks or smtp.allow_networks).
	SignalSenderNetwork = "sender_network"
)

// The thresholds of the signals.
const (
	QuickConsent          = 60 * time.Second
	SharedNetworkConsents = 3
	SharedNetworkWindow   = 24 * time.Hour
)

// Signal is one signal of a referral.
type Signal struct {
	Name     string `json:"name"`
	Consents int    `json:"consents,omitempty"` // shared_network: consents from the network in the window
}

// consentSeconds is how long after its mail's delivery (its acceptance
// for records without a delivery time) the link's candidate consented.
func consentSeconds(send *store.Send, at time.Time) int64 {
	from := send.Delivered
	if from.IsZero() {
		from = send.Sent
	}
	return max(int64(at.Sub(from)/time.Second), 0)
}

// networkOf is the network a client counts in: its /24 or /64.
func networkOf(a netip.Addr) netip.Prefix {
	a = a.Unmap()
	bits := 24
	if a.Is6() {
		bits = 64
	}
	p, _ := a.Prefix(bits)
	return p
}

// senderNetwork tells whether a is one of the tenant's mail servers.
func senderNetwork(cfg *configs.Config, t *configs.Tenant, a netip.Addr) bool {
	a = a.Unmap()
	for _, list := range [][]netip.Prefix{t.Ingress.Prefixes, cfg.SMTP.Networks} {
		for _, p := range list {
			if p.Contains(a) {
				return true
			}
		}
	}
	return false
}

// countNetwork adds a consent at now from client's network to the
// tenant's recent consents (store.BucketConsentNetworks, keyed by a keyed
// hash of the network, never the address) and returns how many there are
// within SharedNetworkWindow, this one included.
func (s *Service) countNetwork(tx store.SharedTx, tenant string, client netip.Addr, now time.Time) (int, error) {
	m := hmac.New(sha256.New, s.hashKey)
	m.Write([]byte("network\x00" + networkOf(client).String()))
	key := append([]byte(tenant+"\x00"), m.Sum(nil)[:16]...)
	b := tx.Bucket(store.BucketConsentNetworks)
	var times []int64
	if v := b.Get(key); v != nil {
		if err := json.Unmarshal(v, &times); err != nil {
			return 0, err
		}
	}
	keep := times[:0]
	for _, u := range times {
		if now.Sub(time.Unix(u, 0)) < SharedNetworkWindow {
			keep = append(keep, u)
		}
	}
	keep = append(keep, now.Unix())
	if len(keep) > 1000 {
		keep = keep[len(keep)-1000:]
	}
	v, err := json.Marshal(keep)
	if err != nil {
		return 0, err
	}
	return len(keep), b.Put(key, v)
}

// signals are the signals of a new referral r of tenant t from client
// (invalid when unknown), computed in the referral's commit.
func (s *Service) signals(tx store.SharedTx, t *configs.Tenant, r *Referral, client netip.Addr) ([]Signal, error) {
	out := []Signal{}
	if r.ConsentSeconds < int64(QuickConsent/time.Second) {
		out = append(out, Signal{Name: SignalQuick})
	}
	if !client.IsValid() {
		return out, nil
	}
	n, err := s.countNetwork(tx, t.ID, client, r.ConsentAt)
	if err != nil {
		return nil, err
	}
	if n >= SharedNetworkConsents {
		out = append(out, Signal{Name: SignalSharedNetwork, Consents: n})
	}
	if senderNetwork(s.cfg, t, client) {
		out = append(out, Signal{Name: SignalSenderNetwork})
	}
	return out, nil
}

// signalsOrEmpty is sig, or [] for none: the webhook always has the list.
func signalsOrEmpty(sig []Signal) []Signal {
	if sig == nil {
		return []Signal{}
	}
	return sig
}
