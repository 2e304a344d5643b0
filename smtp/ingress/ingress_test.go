package ingress

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/careerrelay/careerrelay/configs"
	"github.com/careerrelay/careerrelay/internal/metrics"
	cdkim "github.com/careerrelay/careerrelay/smtp/dkim"
)

const m365ID = "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"

var (
	acmeNet  = netip.MustParseAddr("192.0.2.7")
	cloudIP  = netip.MustParseAddr("40.92.1.2")
	strayIP  = netip.MustParseAddr("203.0.113.9")
	secret   = []byte("acme-ingress-secret-0123456789abcdef")
	testKeys = map[string]ed25519.PrivateKey{}
)

func testConfig() *configs.Config {
	return &configs.Config{
		SMTP: configs.SMTP{
			Hostname:      "relay.test",
			MaxHops:       30,
			CloudNetworks: []netip.Prefix{netip.MustParsePrefix("40.92.0.0/15")},
			Users: []configs.User{
				{Name: "acme-mta", Tenants: []string{"acme"}},
				{Name: "beta-mta", Tenants: []string{"beta"}},
			},
		},
		Tenants: []configs.Tenant{
			{ID: "acme", Domains: []string{"acme.example"}, Ingress: configs.Ingress{
				Prefixes:             []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")},
				DKIMDomains:          []string{"acme.onmicrosoft.com"},
				Microsoft365TenantID: m365ID,
				HeaderSecret:         secret,
				MaxSignatureAge:      time.Hour,
			}},
			{ID: "beta", Domains: []string{"beta.example"}, Ingress: configs.Ingress{
				DKIMDomains:     []string{"beta.example", "beta-example.20230601.gappssmtp.com"},
				MaxSignatureAge: time.Hour,
			}},
		},
	}
}

// dns is a fake resolver: a map of TXT records, and names that fail. It
// answers only absolute names (with the trailing dot), as Checker asks.
type dns struct {
	txt   map[string][]string
	fail  map[string]bool
	asked []string
}

func (d *dns) lookup(_ context.Context, name string) ([]string, error) {
	d.asked = append(d.asked, name)
	if !strings.HasSuffix(name, ".") {
		return nil, &net.DNSError{Err: "relative name " + name + " (resolv.conf search domains would be tried)", Name: name, IsNotFound: true}
	}
	name = strings.TrimSuffix(name, ".")
	if d.fail[name] {
		return nil, &net.DNSError{Err: "server misbehaving", Name: name, IsTemporary: true}
	}
	if v, ok := d.txt[name]; ok {
		return v, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

// key returns the test key of domain (made once), publishing it under
// sel._domainkey.<domain> in d.
func (d *dns) key(t *testing.T, domain string) ed25519.PrivateKey {
	t.Helper()
	k, ok := testKeys[domain]
	if !ok {
		_, k, _ = ed25519.GenerateKey(rand.Reader)
		testKeys[domain] = k
	}
	rec, err := cdkim.TXTRecord(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	d.txt["sel._domainkey."+domain] = []string{rec}
	return k
}

func newChecker(t *testing.T, now time.Time) (*Checker, *dns) {
	d := &dns{txt: map[string][]string{}, fail: map[string]bool{}}
	return New(testConfig(), Options{LookupTXT: d.lookup, Now: func() time.Time { return now }}), d
}

// message builds a message with the given header lines (CRLF added).
func message(header ...string) []byte {
	return []byte(strings.Join(header, "\r\n") + "\r\n\r\nご応募ありがとうございました。 [[career-relay]]\r\n")
}

// sign prepends a DKIM-Signature of domain over headerKeys.
func sign(t *testing.T, d *dns, domain string, msg []byte, headerKeys ...string) []byte {
	t.Helper()
	var out bytes.Buffer
	opts := &dkim.SignOptions{Domain: domain, Selector: "sel", Signer: d.key(t, domain), HeaderKeys: headerKeys}
	if err := dkim.Sign(&out, bytes.NewReader(msg), opts); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

var exchangeMail = message(
	"X-MS-Exchange-CrossTenant-Id: "+m365ID,
	"From: 人事部 <hr@acme.example>",
	"To: taro@cand.example",
	"Subject: 選考結果のご連絡",
)

func check(k *Checker, c Client, from string, rcpts []string, msg []byte) (Verdict, *Refusal) {
	return k.Check(context.Background(), c, from, rcpts, msg)
}

func wantRefusal(t *testing.T, what string, r *Refusal, reason string, code int) {
	t.Helper()
	if r == nil {
		t.Errorf("%s: accepted, want %d (%s)", what, code, reason)
		return
	}
	if r.Reason != reason || r.Reply.Code != code {
		t.Errorf("%s: %d %s (%s), want %d (%s)", what, r.Reply.Code, r.Reply.Message, r.Reason, code, reason)
	}
}

func wantProof(t *testing.T, what string, v Verdict, r *Refusal, tenant, proof string) {
	t.Helper()
	if r != nil {
		t.Errorf("%s: refused %d %s (%s), want %s by %s", what, r.Reply.Code, r.Reply.Message, r.Reason, tenant, proof)
		return
	}
	if v.Tenant == nil || v.Tenant.ID != tenant || v.Proof != proof {
		t.Errorf("%s: verdict %+v, want %s by %s", what, v, tenant, proof)
	}
}

func TestAuthUserSendsOnlyForItsTenants(t *testing.T) {
	k, _ := newChecker(t, time.Now())
	acme := Client{IP: strayIP, User: "acme-mta"}
	v, r := check(k, acme, "hr@acme.example", []string{"x@cand.example"}, message("From: hr@acme.example", "To: x@cand.example"))
	wantProof(t, "acme's user, acme's mail", v, r, "acme", ProofAuth)

	betaFrom := message("From: ceo@beta.example", "To: x@cand.example")
	_, r = check(k, acme, "ceo@beta.example", []string{"x@cand.example"}, betaFrom)
	wantRefusal(t, "acme's user, beta in MAIL FROM", r, "tenant_unproven", 550)
	_, r = check(k, acme, "", []string{"x@cand.example"}, betaFrom)
	wantRefusal(t, "acme's user, MAIL FROM:<> and beta's From", r, "tenant_unproven", 550)
	_, r = check(k, acme, "bounce@ats.example", []string{"x@cand.example"}, betaFrom)
	wantRefusal(t, "acme's user, beta in From only", r, "tenant_unproven", 550)
	if r != nil && (r.Reply.EnhancedCode != [3]int{5, 7, 1} || !strings.Contains(r.Reply.Message, "beta")) {
		t.Errorf("refusal %v: want 5.7.1 naming beta", r.Reply)
	}
}

func TestNetworkProof(t *testing.T) {
	k, _ := newChecker(t, time.Now())
	c := Client{IP: acmeNet}
	v, r := check(k, c, "hr@acme.example", []string{"x@cand.example"}, message("From: hr@acme.example"))
	wantProof(t, "acme's network", v, r, "acme", ProofNetwork)
	_, r = check(k, c, "hr@beta.example", []string{"x@cand.example"}, message("From: hr@beta.example"))
	wantRefusal(t, "acme's network, beta's mail", r, "tenant_unproven", 550)
}

func TestFromMustBeOneAddressOfTheTenant(t *testing.T) {
	k, _ := newChecker(t, time.Now())
	c := Client{IP: strayIP, User: "acme-mta"}
	for name, msg := range map[string][]byte{
		"two From fields":   message("From: hr@acme.example", "From: ceo@beta.example"),
		"two addresses":     message("From: hr@acme.example, ceo@beta.example"),
		"no From":           message("To: x@cand.example"),
		"no address":        message("From: 人事部"),
		"group with two":    message("From: hr: a@acme.example, b@acme.example;"),
		"unparsable":        message("From: <<<"),
		"address no domain": message("From: hr"),
	} {
		_, r := check(k, c, "hr@acme.example", []string{"x@cand.example"}, msg)
		wantRefusal(t, name, r, "bad_from", 550)
		if r != nil && r.Reply.EnhancedCode != [3]int{5, 6, 0} {
			t.Errorf("%s: %v, want 5.6.0", name, r.Reply.EnhancedCode)
		}
	}
	_, r := check(k, c, "hr@acme.example", []string{"x@cand.example"}, message("From: PayPal <security@paypal.test>"))
	wantRefusal(t, "a foreign From behind acme's envelope", r, "foreign_from", 550)
}

func TestLoops(t *testing.T) {
	k, _ := newChecker(t, time.Now())
	c := Client{IP: acmeNet}
	_, r := check(k, c, "hr@acme.example", nil, message("X-CareerRelay-Processed: RELAY.test", "From: hr@acme.example"))
	wantRefusal(t, "our own mark", r, "loop", 554)
	v, r := check(k, c, "hr@acme.example", nil, message("X-CareerRelay-Processed: other-relay.test", "From: hr@acme.example"))
	wantProof(t, "another relay's mark", v, r, "acme", ProofNetwork)

	hops := func(n int) []byte {
		h := []string{"From: hr@acme.example"}
		for i := range n {
			h = append(h, fmt.Sprintf("Received: from mx%d.example by mx%d.example;\r\n\tWed, 2 Dec 2026 10:00:00 +0900", i, i+1))
		}
		return message(h...)
	}
	_, r = check(k, c, "hr@acme.example", nil, hops(31))
	wantRefusal(t, "31 Received fields", r, "loop", 554)
	if r != nil && r.Reply.EnhancedCode != [3]int{5, 4, 6} {
		t.Errorf("31 hops: %v, want 5.4.6", r.Reply.EnhancedCode)
	}
	v, r = check(k, c, "hr@acme.example", nil, hops(30))
	wantProof(t, "30 Received fields", v, r, "acme", ProofNetwork)
}

func TestExchangeOnlineDKIMProof(t *testing.T) {
	now := time.Now()
	k, d := newChecker(t, now)
	cloud := Client{IP: cloudIP}
	rcpts := []string{"taro@cand.example"}
	signed := sign(t, d, "acme.onmicrosoft.com", exchangeMail, "From", "To", "Subject")
	v, r := check(k, cloud, "hr@acme.example", rcpts, signed)
	wantProof(t, "signed by acme.onmicrosoft.com with the tenant id", v, r, "acme", ProofDKIM)

	// An archive copy inside the tenant's own domains needs no To or Cc.
	v, r = check(k, cloud, "hr@acme.example", append(rcpts, "archive@acme.example"), signed)
	wantProof(t, "plus an internal Bcc", v, r, "acme", ProofDKIM)

	for name, c := range map[string]struct {
		msg   []byte
		rcpts []string
	}{
		"unsigned":                     {exchangeMail, rcpts},
		"signed by another tenant":     {sign(t, d, "evil.onmicrosoft.com", exchangeMail, "From", "To"), rcpts},
		"recipient not in To or Cc":    {signed, []string{"taro@cand.example", "jiro@cand.example"}},
		"To not signed":                {sign(t, d, "acme.onmicrosoft.com", exchangeMail, "From", "Subject"), rcpts},
		"From not covered":             {replaceFrom(sign(t, d, "acme.onmicrosoft.com", exchangeMail, "From", "To")), rcpts},
		"body changed after signing":   {bytes.Replace(signed, []byte("[[career-relay]]"), []byte("[[career-relay]] !"), 1), rcpts},
		"wrong tenant id":              {sign(t, d, "acme.onmicrosoft.com", bytes.Replace(exchangeMail, []byte(m365ID), []byte("ffffffff-4f50-6172-8394-a5b6c7d8e9f0"), 1), "From", "To"), rcpts},
		"two tenant ids":               {sign(t, d, "acme.onmicrosoft.com", append([]byte("X-MS-Exchange-CrossTenant-Id: "+m365ID+"\r\n"), exchangeMail...), "From", "To"), rcpts},
		"no tenant id":                 {sign(t, d, "acme.onmicrosoft.com", exchangeMail[len("X-MS-Exchange-CrossTenant-Id: "+m365ID+"\r\n"):], "From", "To"), rcpts},
		"a second To, not signed":      {append([]byte("To: jiro@cand.example\r\n"), signed...), []string{"jiro@cand.example"}},
		"signed with beta's d= domain": {sign(t, d, "beta.example", exchangeMail, "From", "To"), rcpts},
	} {
		_, r := check(k, cloud, "hr@acme.example", c.rcpts, c.msg)
		wantRefusal(t, name, r, "tenant_unproven", 550)
	}

	// The key of a signature that cannot prove acme is never looked up.
	d.asked = nil
	check(k, cloud, "hr@acme.example", rcpts, sign(t, d, "evil.onmicrosoft.com", exchangeMail, "From", "To"))
	if len(d.asked) != 0 {
		t.Errorf("looked up %v for evil.onmicrosoft.com's signature on acme's mail", d.asked)
	}

	old, _ := newChecker(t, now.Add(61*time.Minute))
	old.lookupTXT = d.lookup
	_, r = check(old, cloud, "hr@acme.example", rcpts, signed)
	wantRefusal(t, "older than max_signature_age", r, "tenant_unproven", 550)
}

// replaceFrom changes the From field after signing (the signature then
// fails): a From not covered as signed proves nothing.
func replaceFrom(msg []byte) []byte {
	return bytes.Replace(msg, []byte("From: 人事部 <hr@acme.example>"), []byte("From: <hr@acme.example>"), 1)
}

func TestDNSFailureIsTemporaryNeverAPass(t *testing.T) {
	k, d := newChecker(t, time.Now())
	signed := sign(t, d, "acme.onmicrosoft.com", exchangeMail, "From", "To")
	d.fail["sel._domainkey.acme.onmicrosoft.com"] = true
	_, r := check(k, Client{IP: cloudIP}, "hr@acme.example", []string{"taro@cand.example"}, signed)
	wantRefusal(t, "DNS failure", r, "ingress_tempfail", 451)
	delete(d.txt, "sel._domainkey.acme.onmicrosoft.com")
	delete(d.fail, "sel._domainkey.acme.onmicrosoft.com")
	_, r = check(k, Client{IP: cloudIP}, "hr@acme.example", []string{"taro@cand.example"}, signed)
	wantRefusal(t, "no key published", r, "tenant_unproven", 550)
}

func TestGoogleWorkspaceProofs(t *testing.T) {
	k, d := newChecker(t, time.Now())
	cloud := Client{IP: cloudIP}
	g := message("From: hr@beta.example", "To: hanako@cand.example", "Subject: 選考結果")
	v, r := check(k, cloud, "hr@beta.example", []string{"hanako@cand.example"},
		sign(t, d, "beta-example.20230601.gappssmtp.com", g, "From", "To", "Subject"))
	wantProof(t, "gappssmtp.com signature", v, r, "beta", ProofDKIM)

	h := message("X-CareerRelay-Ingress: "+string(secret), "From: hr@acme.example", "To: hanako@cand.example")
	v, r = check(k, cloud, "hr@acme.example", []string{"hanako@cand.example"}, h)
	wantProof(t, "ingress header", v, r, "acme", ProofHeader)
	_, r = check(k, cloud, "hr@acme.example", []string{"ziro@cand.example"}, h)
	wantRefusal(t, "ingress header, recipient not in To", r, "tenant_unproven", 550)
	_, r = check(k, cloud, "hr@acme.example", []string{"hanako@cand.example"},
		message("X-CareerRelay-Ingress: "+string(secret[:len(secret)-1])+"x", "From: hr@acme.example", "To: hanako@cand.example"))
	wantRefusal(t, "wrong secret", r, "tenant_unproven", 550)
	_, r = check(k, cloud, "hr@acme.example", []string{"hanako@cand.example"},
		append([]byte("X-CareerRelay-Ingress: "+string(secret)+"\r\n"), h...))
	wantRefusal(t, "two ingress headers", r, "tenant_unproven", 550)
	_, r = check(k, cloud, "hr@beta.example", []string{"hanako@cand.example"},
		message("X-CareerRelay-Ingress: "+string(secret), "From: hr@beta.example", "To: hanako@cand.example"))
	wantRefusal(t, "acme's secret on beta's mail", r, "tenant_unproven", 550)
}

func TestUnknownSenders(t *testing.T) {
	k, _ := newChecker(t, time.Now())
	k.cfg.SMTP.RelayUnknownSenders = true
	msg := message("From: noreply@ats.example")
	v, r := check(k, Client{IP: acmeNet}, "noreply@ats.example", nil, msg)
	if r != nil || v.Tenant != nil {
		t.Errorf("unknown sender from a trusted network: %+v %v, want relayed untouched", v, r)
	}
	_, r = check(k, Client{IP: cloudIP}, "noreply@ats.example", nil, msg)
	wantRefusal(t, "unknown sender from a cloud range", r, "unknown_sender", 550)
	_, r = check(k, Client{IP: acmeNet}, "noreply@ats.example", nil, message("From: hr@beta.example"))
	wantRefusal(t, "beta's From behind an unknown envelope", r, "tenant_unproven", 550)
}

func TestAdmit(t *testing.T) {
	k, _ := newChecker(t, time.Now())
	for ip, want := range map[netip.Addr]bool{acmeNet: true, cloudIP: true, strayIP: false,
		netip.MustParseAddr("::ffff:192.0.2.9"): true} {
		if got := k.Admit(Client{IP: ip}); got != want {
			t.Errorf("Admit(%v) = %v, want %v", ip, got, want)
		}
	}
	if !k.Admit(Client{IP: strayIP, User: "acme-mta"}) {
		t.Error("an authenticated client is not admitted")
	}
}

func TestStrip(t *testing.T) {
	msg := []byte("Received: x\r\nX-CareerRelay-Ingress: s1\r\n\tfolded\r\nFrom: a@acme.example\r\nx-careerrelay-ingress: s2\r\n\r\nX-CareerRelay-Ingress: in the body\r\n")
	got := string(Strip(msg, IngressHeader))
	want := "Received: x\r\nFrom: a@acme.example\r\n\r\nX-CareerRelay-Ingress: in the body\r\n"
	if got != want {
		t.Errorf("Strip = %q, want %q", got, want)
	}
	if plain := []byte("From: a@acme.example\r\n\r\nbody"); &Strip(plain, IngressHeader)[0] != &plain[0] {
		t.Error("Strip copied a message without the field")
	}
}

// Every reason and proof this package gives is a label value the metrics
// initialise, so each series exists before its first event.
func TestReasonsAndProofsAreMetricLabels(t *testing.T) {
	for _, r := range Reasons {
		if !slices.Contains(metrics.RejectReasons, r) {
			t.Errorf("reason %q is not in metrics.RejectReasons", r)
		}
	}
	if !slices.Equal(Proofs, metrics.IngressProofs) {
		t.Errorf("Proofs %v, metrics.IngressProofs %v", Proofs, metrics.IngressProofs)
	}
}
