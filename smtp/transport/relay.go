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

// relayTransport hands every message to one upstream smarthost.
type relayTransport struct {
	d        *dialer
	peer     peer
	username string
	password string
}

func newRelayTransport(d *dialer, rc configs.Relay, roots *x509.CertPool) (*relayTransport, error) {
	host, _, err := net.SplitHostPort(rc.Address)
	if err != nil || host == "" {
		return nil, fmt.Errorf("delivery.relay.address %q: want host:port", rc.Address)
	}
	p := peer{addr: rc.Address, name: host}
	switch strings.ToLower(rc.TLS) {
	case "", "starttls":
		p.policy = tlsStartTLS
	case "tls":
		p.policy = tlsImplicit
	case "none":
		p.policy = tlsNone
	default:
		return nil, fmt.Errorf("delivery.relay.tls %q: want starttls, tls or none", rc.TLS)
	}
	switch {
	case rc.RootCAs != nil:
		roots = rc.RootCAs // loaded from ca_file by configs.Load
	case rc.CAFile != "":
		pem, err := os.ReadFile(rc.CAFile)
		if err != nil {
			return nil, fmt.Errorf("delivery.relay.ca_file: %w", err)
		}
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("delivery.relay.ca_file %s: no PEM certificate in it", rc.CAFile)
		}
	}
	// Verification against roots (nil: the system's) is never turned off.
	p.tlsConfig = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: roots, ServerName: host}
	ip := net.ParseIP(host)
	p.authPlainOK = host == "localhost" || (ip != nil && ip.IsLoopback())
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
		p.user = t.username
	}
	return t.d.send(ctx, p, func() (*session, error) { return t.d.open(ctx, p) }, m.From, rcpts, body)
}
