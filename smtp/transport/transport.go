// Package transport delivers one message to its next hop: an upstream
// relay (smarthost), the recipients' MX hosts, or a capture folder. It
// speaks SMTP as a client (STARTTLS, AUTH, per-recipient replies), keeps
// healthy upstream sessions for reuse, and returns one Result per
// recipient. When to try, how often, and what to do with the results is
// the queue's job (package smtp/queue), not this package's.
package transport

import (
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"time"

	"github.com/careerrelay/careerrelay/configs"
	"github.com/careerrelay/careerrelay/internal/address"
	"github.com/careerrelay/careerrelay/store"
)

// Transport is one way of delivering: relay, mx or capture. It is safe
// for concurrent use.
type Transport interface {
	// Name says which transport it is, for logs: "relay host:port",
	// "mx" or "capture <folder>".
	Name() string
	// Deliver tries to deliver m's body to rcpts (pending recipients of
	// m) and returns one result per address. It reads the body with
	// body.Open, once per session, and never holds a large one in memory.
	Deliver(ctx context.Context, m *store.Message, body store.Body, rcpts []string) []Result
	// Close says QUIT on the upstream sessions left idle for reuse, closes
	// them, and returns when they are closed. The transport stays usable;
	// its user calls Close when it stops, once no delivery runs any more.
	Close()
}

// Options make a transport's time, randomness and network replaceable, so
// that tests are deterministic. Zero fields take the real thing.
type Options struct {
	// Now is the clock of the connection cache's limits.
	Now func() time.Time
	// Random returns a number in [0, 1): the order of MX hosts of equal
	// preference. It must be safe for concurrent use.
	Random func() float64
	// Resolver answers the DNS questions of mx mode (dns.server's).
	Resolver Resolver
	// Dial opens connections to SMTP peers.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// RootCAs verify a relay's certificate (delivery.relay's, or a
	// tenant's own) when its ca_file is not set (nil: the system roots).
	RootCAs *x509.CertPool
	// Log receives the transport's lines (none when nil).
	Log *slog.Logger

	// reuse shortens the connection cache's limits (tests).
	reuse reuseLimits
}

// New makes the transport that cfg.Delivery.Mode names, with the settings
// of cfg.Delivery (configs.Config.DeliveryDefaults for those left zero); it
// checks them, and in capture mode creates the capture folder. When a
// tenant has its own route (tenants[].delivery, mode relay), New returns
// a router: that tenant's mail goes to its relay, the rest (mail of other
// tenants or of none, and DSNs) the global way (route.go).
func New(cfg *configs.Config, opts Options) (Transport, error) {
	dc := cfg.DeliveryDefaults()
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	random := opts.Random
	if random == nil {
		random = rand.Float64
	}
	d := &dialer{
		dial:           opts.Dial,
		helloName:      dc.HelloName,
		connectTimeout: dc.ConnectTimeout,
		commandTimeout: dc.CommandTimeout,
		cache:          newConnCache(opts.reuse, dc.Workers, now),
		log:            log,
	}
	if d.dial == nil {
		d.dial = (&net.Dialer{}).DialContext
	}
	var t Transport
	var err error
	switch dc.Mode {
	case "relay":
		t, err = newRelayTransport(d, "delivery.relay", "", dc.Relay, opts.RootCAs, dc.HelloName)
	case "mx":
		res := opts.Resolver
		if res == nil {
			res = cfg.DNS.Resolver()
		}
		overrides := map[string]string{}
		for dom, addr := range dc.MXOverrides {
			if _, _, err := net.SplitHostPort(addr); err != nil {
				return nil, fmt.Errorf("mx_overrides[%s] %q: want host:port", dom, addr)
			}
			overrides[address.Domain("@"+dom)] = addr
		}
		t = &mxTransport{d: d, resolver: res, overrides: overrides, random: random, log: log}
	case "capture":
		t, err = newCaptureTransport(dc.CaptureDir)
	default:
		err = fmt.Errorf("delivery.mode %q: want relay, mx or capture", dc.Mode)
	}
	if err != nil {
		return nil, err
	}
	return newRouter(cfg, d, t, opts.RootCAs, dc.HelloName)
}
