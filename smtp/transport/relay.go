package transport

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/emersion/go-sasl"

	"github.com/careerrelay/careerrelay/configs"
	"github.com/careerrelay/careerrelay/store"
)

// relayTransport hands every message to one upstream smarthost: the
// global delivery.relay, or one tenant's own (tenants[].delivery.relay).
type relayTransport struct {
	d        *dialer
	peer     peer
	username string
	password string
}

// newRelayTransport makes the transport of the relay rc, configured at
// key (delivery.relay, or a tenant's), for route ("" for the global
// delivery, else the tenant id). hello is the EHLO name when rc names
// none (delivery.hello_name).
func newRelayTransport(d *dialer, key, route string, rc configs.Relay, roots *x509.CertPool, hello string) (*relayTransport, error) {
	host, _, err := net.SplitHostPort(rc.Address)
	if err != nil || host == "" {
		return nil, fmt.Errorf("%s.address %q: want host:port", key, rc.Address)
	}
	p := peer{addr: rc.Address, name: host, route: route, hello: rc.HelloName}
	if p.hello == "" {
		p.hello = hello
	}
	switch strings.ToLower(rc.TLS) {
	case "", "starttls":
		p.policy = tlsStartTLS
	case "tls":
		p.policy = tlsImplicit
	case "none":
		p.policy = tlsNone
	default:
		return nil, fmt.Errorf("%s.tls %q: want starttls, tls or none", key, rc.TLS)
	}
	switch {
	case rc.RootCAs != nil:
		roots = rc.RootCAs // loaded from ca_file by configs.Load
	case rc.CAFile != "":
		pem, err := os.ReadFile(rc.CAFile)
		if err != nil {
			return nil, fmt.Errorf("%s.ca_file: %w", key, err)
		}
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s.ca_file %s: no PEM certificate in it", key, rc.CAFile)
		}
	}
	cert := rc.ClientCert // loaded from client_cert_file and client_key_file by configs.Load
	if cert == nil && rc.ClientCertFile != "" {
		c, err := tls.LoadX509KeyPair(rc.ClientCertFile, rc.ClientKeyFile)
		if err != nil {
			return nil, fmt.Errorf("%s.client_cert_file: %w", key, err)
		}
		cert = &c
	}
	if cert != nil && p.policy == tlsNone {
		return nil, fmt.Errorf("%s: a client certificate needs TLS, and tls is none", key)
	}
	// Verification against roots (nil: the system's) is never turned off.
	p.tlsConfig = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: roots, ServerName: host}
	if cert != nil {
		// Shown in the handshake, of STARTTLS and implicit TLS alike.
		p.tlsConfig.Certificates = []tls.Certificate{*cert}
	}
	ip := net.ParseIP(host)
	p.authPlainOK = host == "localhost" || (ip != nil && ip.IsLoopback())
	if rc.Username != "" {
		p.user, p.password = rc.Username, rc.Password
	}
	return &relayTransport{d: d, peer: p, username: rc.Username, password: rc.Password}, nil
}

// Name is "relay host:port".
func (t *relayTransport) Name() string { return "relay " + t.peer.addr }

// Close closes the sessions to the relay left idle for reuse.
func (t *relayTransport) Close() { t.d.cache.close() }

// Deliver sends m to the relay in one transaction, on a cached session
// when there is one.
func (t *relayTransport) Deliver(ctx context.Context, m *store.Message, body store.Body, rcpts []string) []Result {
	p := t.peer
	if t.username != "" {
		p.auth = sasl.NewPlainClient("", t.username, t.password)
	}
	return t.d.send(ctx, p, func() (*session, error) { return t.d.open(ctx, p) }, m.From, rcpts, body)
}
