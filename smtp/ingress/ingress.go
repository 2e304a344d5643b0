// Package ingress decides whose mail an arriving message is. A message is
// attributed to tenant T only with one of T's proofs: an AUTH user listed
// for T, a client address in smtp.allow_networks or T's ingress.networks,
// an inbound DKIM signature of one of T's ingress.dkim_domains, or T's
// secret in the X-CareerRelay-Ingress header. Without one it is refused,
// so that no tenant's key ever signs another's mail, whoever shares the
// provider's address ranges. It also refuses loops and messages whose From
// is not one address of the proven tenant.
//
// The package reads a message's header as it arrived; it changes nothing
// (Strip removes the proof header, for the caller to call).
package ingress

import (
	"context"
	"crypto/subtle"
	"fmt"
	"io"
	"mime"
	"net"
	"net/mail"
	"net/netip"
	"strings"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/careerrelay/careerrelay/configs"
	"github.com/careerrelay/careerrelay/internal/address"
)

// Header fields the package reads or writes.
const (
	// ProcessedHeader is added to every message careerrelay relays, with
	// its smtp.hostname: a message that comes back with it is a loop.
	ProcessedHeader = "X-CareerRelay-Processed"
	// IngressHeader carries a tenant's ingress secret, set by a provider's
	// routing rule. It never leaves careerrelay (Strip).
	IngressHeader = "X-CareerRelay-Ingress"
	// CrossTenantHeader is Exchange Online's stamp of the Microsoft 365
	// tenant a message came from.
	CrossTenantHeader = "X-MS-Exchange-CrossTenant-Id"
)

// The proofs, values of careerrelay_ingress_total{proof}.
const (
	ProofAuth    = "auth"
	ProofNetwork = "network"
	ProofDKIM    = "dkim"
	ProofAPI     = "api" // a key of the tenant's API (POST /api/v1/tenants/<id>/messages)
	ProofHeader  = "header"
)

// Proofs lists every proof, for the metrics.
var Proofs = []string{ProofAuth, ProofNetwork, ProofDKIM, ProofHeader, ProofAPI}

// Client is what the SMTP session knows of its peer.
type Client struct {
	IP   netip.Addr
	User string // the AUTH user, "" when none
}

// Verdict is a message's tenant and the proof of it. Tenant is nil for a
// sender of no tenant relayed untouched (smtp.relay_unknown_senders); its
// Proof then says why the client could relay at all.
type Verdict struct {
	Tenant *configs.Tenant
	Proof  string
}

// Refusal is the reply that refuses a message, and its reason, a value of
// careerrelay_smtp_rejected_total{reason}.
type Refusal struct {
	Reason string
	Reply  *gosmtp.SMTPError
}

func (r *Refusal) Error() string { return r.Reason + ": " + r.Reply.Message }

// Reasons lists every Refusal reason, for the metrics.
var Reasons = []string{"loop", "bad_from", "unknown_sender", "foreign_from", "tenant_unproven", "ingress_tempfail"}

// Options tune a Checker.
type Options struct {
	// LookupTXT answers the DKIM key queries (dns.server); nil is the
	// system resolver.
	LookupTXT func(ctx context.Context, name string) ([]string, error)
	// Now is the clock signatures' ages are measured by; nil is time.Now.
	Now func() time.Time
}

// Checker applies the ingress rules of one configuration.
type Checker struct {
	cfg       *configs.Config
	lookupTXT func(ctx context.Context, name string) ([]string, error)
	now       func() time.Time
}

// New returns a Checker for cfg.
func New(cfg *configs.Config, opts Options) *Checker {
	lookup := opts.LookupTXT
	if lookup == nil {
		lookup = net.DefaultResolver.LookupTXT
	}
	// A key's name is absolute: with a trailing dot the resolver never
	// tries it under resolv.conf's search domains, whose "no such host"
	// would turn a DNS failure (451) into a missing key (550).
	fqdn := func(ctx context.Context, name string) ([]string, error) {
		if !strings.HasSuffix(name, ".") {
			name += "."
		}
		return lookup(ctx, name)
	}
	k := &Checker{cfg: cfg, lookupTXT: fqdn, now: opts.Now}
	if k.now == nil {
		k.now = time.Now
	}
	return k
}

// Admit reports whether c may start a mail transaction at all: it has
// authenticated, or connects from smtp.allow_networks, a tenant's
// ingress.networks or smtp.cloud_networks_file. Each message is still
// checked by Check.
func (k *Checker) Admit(c Client) bool {
	if c.User != "" || k.Trusted(c.IP) {
		return true
	}
	return containsIP(k.cfg.SMTP.CloudNetworks, c.IP)
}

// Trusted reports whether ip is in smtp.allow_networks or any tenant's
// ingress.networks: a client that may relay the mail of no tenant when
// relay_unknown_senders is set, and one the SMTP listeners keep room for.
func (k *Checker) Trusted(ip netip.Addr) bool {
	if containsIP(k.cfg.SMTP.Networks, ip) {
		return true
	}
	for i := range k.cfg.Tenants {
		if containsIP(k.cfg.Tenants[i].Ingress.Prefixes, ip) {
			return true
		}
	}
	return false
}

func containsIP(nets []netip.Prefix, ip netip.Addr) bool {
	ip = ip.Unmap()
	for _, n := range nets {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

// Check decides whose mail msg is: msg is the message as the client sent
// it (CRLF line ends, without careerrelay's own Received field), from the
// envelope sender ("" for <>) to rcpts. The checks run in this order:
// loops (554 5.4.6), exactly one From with one address (550 5.6.0), the
// tenant the sender names (MAIL FROM's domain, else From's), From in that
// tenant's domains (550 5.7.1), then its proofs, cheapest first (550
// 5.7.1 without one; 451 when a DKIM key could not be looked up).
func (k *Checker) Check(ctx context.Context, c Client, from string, rcpts []string, msg []byte) (Verdict, *Refusal) {
	hdr := msg[:headerLen(msg)]
	all := fields(hdr)
	if r := k.loop(hdr, all); r != nil {
		return Verdict{}, r
	}
	fromAddr, r := singleFrom(hdr, all)
	if r != nil {
		return Verdict{}, r
	}
	fromDomain := address.Domain(fromAddr)
	t := k.cfg.TenantByDomain(address.Domain(from))
	if t == nil {
		t = k.cfg.TenantByDomain(fromDomain)
	}
	if t == nil {
		if k.cfg.SMTP.RelayUnknownSenders && (c.User != "" || k.Trusted(c.IP)) {
			proof := ProofNetwork
			if c.User != "" {
				proof = ProofAuth
			}
			return Verdict{Proof: proof}, nil
		}
		return Verdict{}, refuse("unknown_sender", 550, 5, 7, 1, "Sender domain is not served by this relay")
	}
	if !t.HasDomain(fromDomain) {
		return Verdict{}, refuse("foreign_from", 550, 5, 7, 1,
			fmt.Sprintf("From: domain %s is not one of %s's domains; mail is signed only for its own tenant", fromDomain, t.ID))
	}
	if u := k.cfg.UserByName(c.User); u != nil && u.MayUse(t.ID) {
		return Verdict{Tenant: t, Proof: ProofAuth}, nil
	}
	if containsIP(k.cfg.SMTP.Networks, c.IP) || containsIP(t.Ingress.Prefixes, c.IP) {
		return Verdict{Tenant: t, Proof: ProofNetwork}, nil
	}
	if headerProof(t, hdr, all) {
		if r := k.recipientsNamed(t, hdr, all, nil, rcpts); r != nil {
			return Verdict{}, r
		}
		return Verdict{Tenant: t, Proof: ProofHeader}, nil
	}
	signed, tempErr := k.dkimProof(ctx, t, hdr, all, msg)
	if signed != nil {
		if r := k.recipientsNamed(t, hdr, all, signed, rcpts); r != nil {
			return Verdict{}, r
		}
		return Verdict{Tenant: t, Proof: ProofDKIM}, nil
	}
	if tempErr != nil {
		return Verdict{}, refuse("ingress_tempfail", 451, 4, 4, 3,
			fmt.Sprintf("Could not check the DKIM signature that would prove this mail is %s's (DNS); try again later", t.ID))
	}
	return Verdict{}, unproven(t)
}

// CheckAPI decides a message submitted with a key of tenant t's API,
// which proves t: the same rules as Check, except that the proof is the
// key, so the sender must be t's (a key of acme never sends beta's mail:
// 550 5.7.1 foreign_from).
func (k *Checker) CheckAPI(t *configs.Tenant, from string, msg []byte) (Verdict, *Refusal) {
	hdr := msg[:headerLen(msg)]
	all := fields(hdr)
	if r := k.loop(hdr, all); r != nil {
		return Verdict{}, r
	}
	fromAddr, r := singleFrom(hdr, all)
	if r != nil {
		return Verdict{}, r
	}
	for _, d := range []string{address.Domain(fromAddr), address.Domain(from)} {
		if d != "" && !t.HasDomain(d) {
			return Verdict{}, refuse("foreign_from", 550, 5, 7, 1,
				fmt.Sprintf("%s is not one of %s's domains; this key sends only %s's mail", d, t.ID, t.ID))
		}
	}
	return Verdict{Tenant: t, Proof: ProofAPI}, nil
}

func refuse(reason string, code, a, b, c int, msg string) *Refusal {
	return &Refusal{Reason: reason, Reply: &gosmtp.SMTPError{Code: code, EnhancedCode: gosmtp.EnhancedCode{a, b, c}, Message: msg}}
}

func unproven(t *configs.Tenant) *Refusal {
	return refuse("tenant_unproven", 550, 5, 7, 1, fmt.Sprintf(
		"No proof that this mail is %s's: send it as an SMTP user of %s, from its network, or with its DKIM signature or ingress header (see careerrelay docs/ingress.md)", t.ID, t.ID))
}

// loop refuses a message careerrelay has already relayed, or one with
// more than smtp.max_hops Received fields.
func (k *Checker) loop(hdr []byte, all []field) *Refusal {
	for _, f := range named(hdr, all, ProcessedHeader) {
		if strings.EqualFold(f.value, k.cfg.SMTP.Hostname) {
			return refuse("loop", 554, 5, 4, 6, "Mail loop: this message has already passed "+k.cfg.SMTP.Hostname)
		}
	}
	if n := countNamed(all, "Received"); k.cfg.SMTP.MaxHops > 0 && n > k.cfg.SMTP.MaxHops {
		return refuse("loop", 554, 5, 4, 6, fmt.Sprintf("Mail loop: %d Received fields, more than %d", n, k.cfg.SMTP.MaxHops))
	}
	return nil
}

// addressParser reads addresses without decoding display names: a name in
// an unknown charset must not hide the address.
var addressParser = mail.AddressParser{WordDecoder: &mime.WordDecoder{CharsetReader: func(_ string, in io.Reader) (io.Reader, error) {
	return in, nil
}}}

// singleFrom returns the one address of the one From field.
func singleFrom(hdr []byte, all []field) (string, *Refusal) {
	bad := refuse("bad_from", 550, 5, 6, 0, "A message needs exactly one From: field with exactly one address")
	froms := named(hdr, all, "From")
	if len(froms) != 1 {
		return "", bad
	}
	list, err := addressParser.ParseList(froms[0].value)
	if err != nil || len(list) != 1 || address.Domain(list[0].Address) == "" {
		return "", bad
	}
	return list[0].Address, nil
}

// headerProof reports whether the message carries exactly one ingress
// header, equal to t's secret (compared in constant time).
func headerProof(t *configs.Tenant, hdr []byte, all []field) bool {
	secret := t.Ingress.HeaderSecret
	hs := named(hdr, all, IngressHeader)
	if len(secret) == 0 || len(hs) != 1 {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(hs[0].value), secret) == 1
}

// recipientsNamed refuses a message proven by DKIM or header (which anyone
// holding a real mail could replay) when an envelope recipient outside the
// tenant's domains is not in its To or Cc. With a DKIM proof, signed lists
// the fields the proving signature covers: To and Cc count only when
// signed, and only when the message has one of each (a second, unsigned
// copy could hide a new address).
func (k *Checker) recipientsNamed(t *configs.Tenant, hdr []byte, all []field, signed []string, rcpts []string) *Refusal {
	inToCc := map[string]bool{}
	for _, name := range []string{"To", "Cc"} {
		fs := named(hdr, all, name)
		if len(fs) == 0 {
			continue
		}
		if signed != nil && (len(fs) > 1 || !containsFold(signed, name)) {
			continue
		}
		for _, f := range fs {
			list, _ := addressParser.ParseList(f.value)
			for _, a := range list {
				inToCc[strings.ToLower(a.Address)] = true
			}
		}
	}
	for _, r := range rcpts {
		if t.HasDomain(address.Domain(r)) || inToCc[strings.ToLower(r)] {
			continue
		}
		what := "To or Cc"
		if signed != nil {
			what = "signed To or Cc"
		}
		return refuse("tenant_unproven", 550, 5, 7, 1, fmt.Sprintf(
			"No proof that this mail is %s's for every recipient: a recipient is not in its %s (a proven mail is not sent on to new people)", t.ID, what))
	}
	return nil
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(strings.TrimSpace(x), s) {
			return true
		}
	}
	return false
}
