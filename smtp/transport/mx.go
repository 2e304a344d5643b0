package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sort"
	"strings"

	"github.com/careerrelay/careerrelay/internal/address"
	"github.com/careerrelay/careerrelay/store"
)

// Resolver is the DNS the mx mode needs; *net.Resolver implements it.
type Resolver interface {
	LookupMX(ctx context.Context, name string) ([]*net.MX, error)
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
}

// maxTargets bounds the addresses tried for one domain in one attempt.
const maxTargets = 10

// mxTransport delivers to each recipient domain's mail exchangers.
type mxTransport struct {
	d         *dialer
	resolver  Resolver
	overrides map[string]string // lower-cased domain -> host:port
	random    func() float64
	log       *slog.Logger
}

// Name is "mx".
func (t *mxTransport) Name() string { return "mx" }

// Close closes the sessions to mail exchangers left idle for reuse.
func (t *mxTransport) Close() { t.d.cache.close() }

// mxHost is one mail exchanger to try: a name to resolve, or with addr
// set, an address to dial as it is (an mx_overrides entry).
type mxHost struct {
	name string
	addr string
}

// Deliver delivers to each recipient domain's mail exchangers in turn.
func (t *mxTransport) Deliver(ctx context.Context, m *store.Message, body store.Body, rcpts []string) []Result {
	var domains []string
	byDomain := map[string][]string{}
	for _, a := range rcpts {
		d := address.Domain(a)
		if _, ok := byDomain[d]; !ok {
			domains = append(domains, d)
		}
		byDomain[d] = append(byDomain[d], a)
	}
	var out []Result
	for _, d := range domains {
		out = append(out, t.deliverDomain(ctx, m, body, d, byDomain[d])...)
	}
	return out
}

// deliverDomain tries the domain's hosts in order. Recipients a host
// answers finally (2xx, 5xx) are done; those it defers (connection
// failure, TLS, 4xx) go on to the next host, and stay deferred with the
// last host's answer when no host is left.
func (t *mxTransport) deliverDomain(ctx context.Context, m *store.Message, body store.Body, domain string, addrs []string) []Result {
	hosts, err := t.route(ctx, domain)
	if err != nil {
		return resultsFor(addrs, err, "")
	}
	var final []Result
	last := map[string]Result{}
	pending, tried := addrs, 0
	for _, h := range hosts {
		if len(pending) == 0 || tried >= maxTargets || ctx.Err() != nil {
			break
		}
		targets, err := t.targets(ctx, h)
		if err != nil {
			t.log.Info("mail exchanger not tried: no address", "queue_id", m.ID, "domain", domain,
				"mx", h.name, "rcpts", len(pending), "err", describe(err))
			for _, r := range resultsFor(pending, err, h.name) {
				last[r.Addr] = r
			}
			continue
		}
		for _, addr := range targets {
			if len(pending) == 0 || tried >= maxTargets || ctx.Err() != nil {
				break
			}
			tried++
			var next []string
			var failed Result
			for _, r := range t.tryTarget(ctx, m, body, h.name, addr, pending) {
				if r.Outcome == Deferred {
					if len(next) == 0 {
						failed = r
					}
					next = append(next, r.Addr)
					last[r.Addr] = r
				} else {
					final = append(final, r)
				}
			}
			if len(next) > 0 {
				t.logFailedTry(m, domain, h.name, addr, len(pending), len(next), failed)
			}
			pending = next
		}
	}
	for _, a := range pending {
		r, ok := last[a]
		if !ok {
			r = resultFor(a, errors.New("no mail exchanger could be tried"), "")
		}
		final = append(final, r)
	}
	return final
}

// logFailedTry writes one line for a try of one MX address that left
// recipients deferred (they go on to the next address, if any). As in the
// queue's lines, no address appears, and an SMTP reply (which often quotes
// the address) only as its code and enhanced status: first is the first
// deferred recipient's result.
func (t *mxTransport) logFailedTry(m *store.Message, domain, name, addr string, rcpts, deferred int, first Result) {
	a := []any{"queue_id", m.ID, "domain", domain, "mx", name, "mx_addr", addr,
		"rcpts", rcpts, "deferred", deferred}
	if c := first.Code(); c != 0 {
		a = append(a, "reply_code", c, "status", first.Status)
	} else {
		a = append(a, "err", first.Detail)
	}
	t.log.Info("mail exchanger try failed", a...)
}

// route lists the mail exchangers of domain in the order to try them.
func (t *mxTransport) route(ctx context.Context, domain string) ([]mxHost, error) {
	if o, ok := t.overrides[domain]; ok {
		return override(domain, o)
	}
	if domain == "" {
		return nil, &permanentError{status: "5.1.3", msg: "recipient address has no domain"}
	}
	// What is looked up is the punycode form (an IDN's A-labels).
	ascii, err := address.ASCIIDomain(domain)
	if err != nil {
		return nil, &permanentError{status: "5.1.2", msg: fmt.Sprintf("%s: not a domain name that can be looked up", domain)}
	}
	if o, ok := t.overrides[ascii]; ok {
		return override(ascii, o)
	}
	domain = ascii
	mxs, err := t.resolver.LookupMX(ctx, absolute(domain))
	if err != nil && !isNotFound(err) {
		return nil, fmt.Errorf("MX lookup for %s: %w", domain, err)
	}
	var hosts []*net.MX
	null := false
	for _, mx := range mxs {
		if h := strings.TrimSuffix(mx.Host, "."); h == "" {
			null = true
		} else {
			hosts = append(hosts, &net.MX{Host: h, Pref: mx.Pref})
		}
	}
	if null && len(hosts) == 0 {
		// RFC 7505: the domain declares that it accepts no mail.
		return nil, &permanentError{status: "5.1.10", msg: fmt.Sprintf("%s does not accept mail (null MX)", domain)}
	}
	if len(hosts) == 0 {
		// RFC 5321 section 5.1: no MX, the domain itself is the host.
		ips, err := t.resolver.LookupIPAddr(ctx, absolute(domain))
		if err != nil {
			if isNotFound(err) {
				return nil, &permanentError{status: "5.1.2", msg: fmt.Sprintf("%s: no such domain (no MX, A or AAAA record)", domain)}
			}
			return nil, fmt.Errorf("address lookup for %s: %w", domain, err)
		}
		if len(ips) == 0 {
			return nil, &permanentError{status: "5.1.2", msg: fmt.Sprintf("%s: no MX, A or AAAA record", domain)}
		}
		return []mxHost{{name: domain}}, nil
	}
	t.shuffle(hosts)
	sort.SliceStable(hosts, func(i, j int) bool { return hosts[i].Pref < hosts[j].Pref })
	out := make([]mxHost, len(hosts))
	for i, h := range hosts {
		out[i] = mxHost{name: strings.ToLower(h.Host)}
	}
	return out, nil
}

// override is the one host of an mx_overrides entry.
func override(domain, o string) ([]mxHost, error) {
	host, _, err := net.SplitHostPort(o)
	if err != nil {
		return nil, fmt.Errorf("mx_overrides[%s] %q: %w", domain, o, err)
	}
	return []mxHost{{name: host, addr: o}}, nil
}

// absolute is name as a fully qualified DNS name (with the final dot), so
// that a resolver never completes it from its search list (resolv.conf's
// search and ndots): "gmail" must not become "gmail.corp.internal".
func absolute(name string) string {
	if strings.HasSuffix(name, ".") {
		return name
	}
	return name + "."
}

// shuffle puts hosts in random order; the stable sort that follows keeps
// that order only among hosts of equal preference (RFC 5321 section 5.1).
func (t *mxTransport) shuffle(hosts []*net.MX) {
	for i := len(hosts) - 1; i > 0; i-- {
		j := int(t.random() * float64(i+1))
		if j > i {
			j = i
		}
		hosts[i], hosts[j] = hosts[j], hosts[i]
	}
}

// targets lists the host:port addresses of one mail exchanger.
func (t *mxTransport) targets(ctx context.Context, h mxHost) ([]string, error) {
	if h.addr != "" {
		return []string{h.addr}, nil
	}
	ips, err := t.resolver.LookupIPAddr(ctx, absolute(h.name))
	if err != nil {
		return nil, fmt.Errorf("address lookup for %s: %w", h.name, err)
	}
	if len(ips) == 0 {
		return nil, fmt.Errorf("address lookup for %s: no A or AAAA record", h.name)
	}
	out := make([]string, len(ips))
	for i, ip := range ips {
		out[i] = net.JoinHostPort(ip.String(), "25")
	}
	return out, nil
}

// tryTarget runs one transaction with one address, on a cached session
// to it when there is one. A new session uses opportunistic STARTTLS: when
// the handshake fails, it reconnects without TLS (and is cached as what
// opportunistic TLS gave with this peer).
func (t *mxTransport) tryTarget(ctx context.Context, m *store.Message, body store.Body, name, addr string, rcpts []string) []Result {
	p := peer{
		addr:   addr,
		name:   name,
		policy: tlsOpportunistic,
		// Opportunistic TLS protects against passive eavesdropping only;
		// MX certificates are commonly not valid for the MX name, so
		// they are not verified (RFC 7435). Refusing would lose mail.
		// For the same reason TLS 1.0 and 1.1 are accepted here, and only
		// here: refusing them would not keep the mail off an old MX, it
		// would send it there in plain text (RFC 7435: some protection
		// beats none; Postfix's default smtp_tls_protocols does the same).
		tlsConfig: &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS10},
	}
	open := func() (*session, error) {
		s, err := t.d.open(ctx, p)
		var te *tlsError
		if errors.As(err, &te) && ctx.Err() == nil {
			t.log.Info("STARTTLS failed, retrying without TLS", "queue_id", m.ID, "peer", name, "peer_addr", addr, "err", te.err.Error())
			plain := p
			plain.policy = tlsNone
			s, err = t.d.open(ctx, plain)
		}
		return s, err
	}
	return t.d.send(ctx, p, open, m.From, rcpts, body)
}

func isNotFound(err error) bool {
	var de *net.DNSError
	return errors.As(err, &de) && de.IsNotFound
}
