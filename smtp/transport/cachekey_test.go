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
		"client certificate": func(p *peer) {
			p.tlsConfig = &tls.Config{InsecureSkipVerify: true,
				Certificates: []tls.Certificate{{Certificate: [][]byte{[]byte("acme leaf")}}}}
		},
		"hello name": func(p *peer) { p.hello = "acme.example" },
		"route":      func(p *peer) { p.route = "acme" },
	} {
		p := base
		change(&p)
		if p.key() == base.key() {
			t.Errorf("peers differing in their %s share a key", name)
		}
	}
}

// Two tenants' routes to one upstream address never share a key: not with
// different client certificates, not with different AUTH users or
// passwords, and not even when every setting is the same (the route).
func TestCacheKeyPerRoute(t *testing.T) {
	cert := func(leaf string) []tls.Certificate {
		return []tls.Certificate{{Certificate: [][]byte{[]byte(leaf)}}}
	}
	route := func(id, leaf, user, password string) peer {
		return peer{addr: "198.51.100.7:25", name: "relay.example", policy: tlsStartTLS, route: id, hello: "out.example",
			tlsConfig: &tls.Config{ServerName: "relay.example", Certificates: cert(leaf)}, user: user, password: password}
	}
	acme := route("acme", "acme leaf", "", "")
	if acme.key() != route("acme", "acme leaf", "", "").key() {
		t.Fatal("one route has two keys")
	}
	for name, other := range map[string]peer{
		"another certificate":          route("beta", "beta leaf", "", ""),
		"another certificate, same id": route("acme", "beta leaf", "", ""),
		"the same certificate":         route("beta", "acme leaf", "", ""),
		"an AUTH user":                 route("acme", "acme leaf", "beta", "pw"),
		"the global route":             route("", "acme leaf", "", ""),
	} {
		if other.key() == acme.key() {
			t.Errorf("%s: shares acme's key", name)
		}
	}
	u1, u2 := route("acme", "", "u", "pw1"), route("acme", "", "u", "pw2")
	if u1.key() == u2.key() {
		t.Error("one user with two passwords shares a key")
	}
}
