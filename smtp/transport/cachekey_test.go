package transport

import (
	"crypto/tls"
	"testing"
)

// Sessions are kept apart by everything that makes them what they are.
func TestCacheKey(t *testing.T) {
	base := peer{addr: "192.0.2.1:25", name: "mx.example", policy: tlsOpportunistic,
		tlsConfig: &tls.Config{InsecureSkipVerify: true}}
	same := base
	same.tlsConfig = &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}
	if base.key() != same.key() {
		t.Error("equal peers have different keys")
	}
	for name, change := range map[string]func(*peer){
		"address":     func(p *peer) { p.addr = "192.0.2.2:25" },
		"name":        func(p *peer) { p.name = "mx2.example" },
		"TLS policy":  func(p *peer) { p.policy = tlsNone },
		"verified":    func(p *peer) { p.tlsConfig = &tls.Config{} },
		"server name": func(p *peer) { p.tlsConfig = &tls.Config{InsecureSkipVerify: true, ServerName: "other.example"} },
		"AUTH user":   func(p *peer) { p.user = "postfix" },
	} {
		p := base
		change(&p)
		if p.key() == base.key() {
			t.Errorf("peers differing in their %s share a key", name)
		}
	}
}
