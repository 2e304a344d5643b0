package integration

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	msgauth "github.com/emersion/go-msgauth/dkim"
	gosmtp "github.com/emersion/go-smtp"
	"golang.org/x/net/dns/dnsmessage"

	"github.com/careerrelay/careerrelay/internal/report"
	"github.com/careerrelay/careerrelay/internal/testlib"
	"github.com/careerrelay/careerrelay/internal/web"
)

// Issue 12: whose mail a message is. The relay attributes a message to a
// tenant only with a proof (an AUTH user listed for it, its network, a
// verified DKIM signature of its ingress domain, its ingress header); a
// message without one is refused at the final dot and leaves no trace: not
// queued, not signed, not delivered, no send record, not counted as
// received. These tests run the built relay with a real SMTP client, a DNS
// server on loopback (testlib.NewDNS) for the senders' DKIM keys, and the
// sink, whose every message is DKIM-checked (dkim_check_test.go).

var (
	unproven = gosmtp.EnhancedCode{5, 7, 1}
	badFrom  = gosmtp.EnhancedCode{5, 6, 0}
	loopCode = gosmtp.EnhancedCode{5, 4, 6}
)

// The second tenant, and the Microsoft 365 tenant ids.
const (
	betaID     = "beta"
	betaDomain = "beta.example"
	betaSender = "hr@beta.example"
	m365ID     = "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"
	otherM365  = "ffffffff-4f50-6172-8394-a5b6c7d8e9f0"
)

// The domains the providers sign with, and the selector of their keys.
const (
	acmeM365  = "acme.onmicrosoft.com"
	betaM365  = "beta.onmicrosoft.com"
	evilM365  = "evil.onmicrosoft.com"
	acmeGApps = "acme-example.20230601.gappssmtp.com"
	inSel     = "sel"
)

// senderKeys are the providers' DKIM keys, one per signing domain,
// published in a testlib.DNS.
type senderKeys struct {
	dns  *testlib.DNS
	keys map[string]ed25519.PrivateKey
}

// newSenderKeys starts a DNS server publishing a fresh Ed25519 key under
// sel._domainkey.<d> for each of domains.
func newSenderKeys(t *testing.T, domains ...string) *senderKeys {
	t.Helper()
	sk := &senderKeys{dns: testlib.NewDNS(t), keys: map[string]ed25519.PrivateKey{}}
	for _, d := range domains {
		pub, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		sk.keys[d] = priv
		sk.dns.SetTXT(inSel+"._domainkey."+d, testlib.DKIMKeyRecord(pub))
	}
	return sk
}

// record is the key record of domain, for an offline verifier.
func (sk *senderKeys) record(domain string) string {
	return testlib.DKIMKeyRecord(sk.keys[domain].Public())
}

// sign prepends a DKIM-Signature of domain (relaxed/relaxed, Ed25519) over
// From, To and Subject, as a provider does, made now.
func (sk *senderKeys) sign(t *testing.T, domain string, msg []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	err := msgauth.Sign(&out, bytes.NewReader(msg), &msgauth.SignOptions{
		Domain: domain, Selector: inSel, Signer: sk.keys[domain],
		HeaderCanonicalization: msgauth.CanonicalizationRelaxed,
		BodyCanonicalization:   msgauth.CanonicalizationRelaxed,
		HeaderKeys:             []string{"From", "To", "Subject"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// signAt is sign with the signature's time t= set to at. go-msgauth
// always signs with the current time, so signAt takes its signature, sets
// t=, and signs the header hash again (RFC 6376 3.7 with relaxed header
// canonicalization, RFC 8463 Ed25519-SHA256); the body hash is go-msgauth's.
// It checks the result with go-msgauth: a valid signature made at at.
func (sk *senderKeys) signAt(t *testing.T, domain string, msg []byte, at time.Time) []byte {
	t.Helper()
	signed := sk.sign(t, domain, msg)
	fields := headerFields(signed)
	if len(fields) == 0 || fields[0].name != "dkim-signature" {
		t.Fatalf("signAt: go-msgauth's signature is not the first field:\n%s", signed)
	}
	raw, _ := rawHeaderValue(signed, "DKIM-Signature")
	var tags []string
	for _, tag := range strings.Split(raw, ";") {
		tag = strings.Join(strings.Fields(tag), "") // no tag of go-msgauth's has inner white space that counts
		switch {
		case tag == "":
		case strings.HasPrefix(tag, "t="):
			tags = append(tags, "t="+strconv.FormatInt(at.Unix(), 10))
		case strings.HasPrefix(tag, "b="):
		default:
			tags = append(tags, tag)
		}
	}
	value := strings.Join(tags, "; ") + "; b="
	var h bytes.Buffer
	for _, name := range []string{"From", "To", "Subject"} {
		v, ok := rawHeaderValue(msg, name)
		if !ok {
			t.Fatalf("signAt: the message has no %s", name)
		}
		h.WriteString(relaxedField(name, v) + "\r\n")
	}
	h.WriteString(relaxedField("DKIM-Signature", value))
	sum := sha256.Sum256(h.Bytes())
	b := base64.StdEncoding.EncodeToString(ed25519.Sign(sk.keys[domain], sum[:]))
	out := append([]byte("DKIM-Signature: "+value+b+"\r\n"), msg...)

	vs, err := msgauth.VerifyWithOptions(bytes.NewReader(out), &msgauth.VerifyOptions{
		LookupTXT: func(string) ([]string, error) { return []string{sk.record(domain)}, nil },
	})
	if err != nil || len(vs) != 1 || vs[0].Err != nil || !vs[0].Time.Equal(at.Truncate(time.Second)) {
		var v any = vs
		if len(vs) == 1 {
			v = vs[0]
		}
		t.Fatalf("signAt: go-msgauth does not verify the re-dated signature as made at %v: %v %+v\n%s", at, err, v, out)
	}
	return out
}

// unfoldValue removes the line breaks of folding.
func unfoldValue(v string) string {
	return strings.ReplaceAll(strings.ReplaceAll(v, "\r\n", ""), "\n", "")
}

var wsp = regexp.MustCompile(`[ \t]+`)

// relaxedField is a header field in relaxed canonical form (RFC 6376
// 3.4.2), without its CRLF.
func relaxedField(name, value string) string {
	v := wsp.ReplaceAllString(unfoldValue(value), " ")
	return strings.ToLower(name) + ":" + strings.TrimSpace(v)
}

// tenantMail is a tagged rejection mail from From (a whole field value) to
// to, with extra header lines on top, CRLF line ends, and its Message-ID.
func tenantMail(from, to string, extra ...string) ([]byte, string) {
	id := newMessageID()
	var b bytes.Buffer
	for _, h := range extra {
		b.WriteString(h + "\r\n")
	}
	fmt.Fprintf(&b, "From: %s\r\n", from)
	fmt.Fprintf(&b, "To: <%s>\r\n", to)
	b.WriteString("Subject: =?UTF-8?B?6YG46ICD57WQ5p6c44Gu44GU6YCj57Wh?=\r\n") // 選考結果のご連絡
	fmt.Fprintf(&b, "Date: %s\r\n", time.Now().Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Message-ID: <%s>\r\n", id)
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n")
	b.WriteString("ご応募ありがとうございました。\r\nキャリア相談: [[career-relay]]\r\n")
	return b.Bytes(), id
}

// withCloud makes loopback a provider's range (smtp.cloud_networks_file),
// lets no network relay for every tenant, and asks dns for DKIM keys.
func withCloud(t *testing.T, dns *testlib.DNS) func(dir string, c *Config) {
	return func(dir string, c *Config) {
		c.SMTP.AllowNetworks = nil
		c.SMTP.CloudNetworksFile = filepath.Join(dir, "cloud-networks.txt")
		writeFile(t, c.SMTP.CloudNetworksFile, []byte("# loopback plays the provider's range\n127.0.0.0/8\n"))
		c.DNS.Server = dns.Addr
	}
}

// withBeta adds a second tenant, beta (beta.example), signing with the
// Ed25519 key, with ingress.
func withBeta(t *testing.T, in Ingress) func(dir string, c *Config) {
	return func(dir string, c *Config) {
		c.Tenants = append(c.Tenants, Tenant{
			ID: betaID, Name: "ベータ株式会社", Domains: []string{betaDomain},
			DKIM:    []DKIMKey{{Selector: ed25519Selector, KeyFile: tenantKeyFile(t, dir, "beta-ed25519.pem", "ed25519")}},
			Ingress: in,
		})
	}
}

// ingressState is what a refused message must leave as it was: the
// sink's messages, the metrics, the queue and the send records (the
// impact report's links_sent, per tenant).
type ingressState struct {
	sink      int
	metrics   map[string]float64
	linksSent map[string]int
}

// ingressState waits until the queue has drained (a message the sink got
// may still be queued until its delivery is committed) and returns the
// state.
func (r *Relay) ingressState(t *testing.T, sink *testlib.Sink) ingressState {
	t.Helper()
	waitQueueDrained(t, r)
	s := ingressState{sink: sink.Count(), linksSent: map[string]int{}}
	s.metrics, _ = scrape(t, r.HTTPAddr)
	for _, tn := range r.Config.Tenants {
		var rep report.Report
		if err := json.Unmarshal(r.admin(t, "/api/report?format=json&tenant="+tn.ID), &rep); err != nil {
			t.Fatalf("GET /api/report: %v", err)
		}
		s.linksSent[tn.ID] = rep.Total.LinksSent
	}
	return s
}

// admin GETs path from the admin API with the admin token.
func (r *Relay) admin(t *testing.T, path string) []byte {
	t.Helper()
	token, err := os.ReadFile(r.Config.Admin.TokenFile)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, "http://"+r.AdminAddr+path, nil)
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s\n%s", path, resp.Status, body)
	}
	return body
}

// queued is GET /api/queue's count.
func (r *Relay) queued(t *testing.T) int {
	t.Helper()
	var q web.QueueReply
	if err := json.Unmarshal(r.admin(t, "/api/queue"), &q); err != nil {
		t.Fatalf("GET /api/queue: %v", err)
	}
	return q.Count
}

func rejected(reason string) string {
	return fmt.Sprintf("careerrelay_smtp_rejected_total{reason=%q}", reason)
}
func received(tenant string) string {
	return fmt.Sprintf("careerrelay_smtp_messages_received_total{tenant=%q}", tenant)
}
func ingressed(tenant, proof string) string {
	return fmt.Sprintf("careerrelay_ingress_total{proof=%q,tenant=%q}", proof, tenant)
}

// waitSamples waits until /metrics shows every series of want with its
// value (the counters move around the reply), and fails t with the values
// seen when they do not come.
func (r *Relay) waitSamples(t *testing.T, want map[string]float64) {
	t.Helper()
	var s map[string]float64
	testlib.Poll(5*time.Second, func() bool {
		s, _ = scrape(t, r.HTTPAddr)
		for k, v := range want {
			if got, ok := s[k]; !ok || got != v {
				return false
			}
		}
		return true
	})
	for k, v := range want {
		wantSample(t, s, k, v)
	}
}

// wantNothingKept checks that the refusals since before kept nothing:
// nothing queued (GET /api/queue), no send record (links_sent of every
// tenant's report), nothing counted as received, nothing delivered once
// the queue has drained; and that careerrelay_smtp_rejected_total grew by
// refusals for each reason.
func (r *Relay) wantNothingKept(t *testing.T, sink *testlib.Sink, before ingressState, refusals map[string]int) {
	t.Helper()
	if n := r.queued(t); n != 0 {
		t.Errorf("GET /api/queue: %d messages queued, want none", n)
	}
	after := r.ingressState(t, sink)
	if after.sink != before.sink {
		t.Errorf("the sink got %d more messages, want none", after.sink-before.sink)
	}
	for _, tn := range r.Config.Tenants {
		if a, b := after.linksSent[tn.ID], before.linksSent[tn.ID]; a != b {
			t.Errorf("tenant %s: links_sent %d, was %d: a send record was made", tn.ID, a, b)
		}
		if a, b := after.metrics[received(tn.ID)], before.metrics[received(tn.ID)]; a != b {
			t.Errorf("%s = %v, was %v", received(tn.ID), a, b)
		}
	}
	for reason, n := range refusals {
		if a, b := after.metrics[rejected(reason)], before.metrics[rejected(reason)]; a != b+float64(n) {
			t.Errorf("%s = %v, want %v + %d", rejected(reason), a, b, n)
		}
	}
}

// wantPersonalLink checks that m is the tagged mail, rewritten: a personal
// link, no tag.
func wantPersonalLink(t *testing.T, r *Relay, m testlib.SinkMessage) {
	t.Helper()
	re := regexp.MustCompile(regexp.QuoteMeta(r.Config.Links.BaseURL) + `/c/[A-Za-z0-9._-]+`)
	if !re.Match(m.Data) || bytes.Contains(m.Data, []byte(tag)) {
		t.Errorf("the delivered copy to %v has no personal link in place of the tag:\n%s", m.Rcpts, m.Data)
	}
}

// wantOurSignature checks, now, that m carries our signatures for the
// tenant's domain (go-msgauth and python3-dkim, offline) and no signature
// of d=senderDomain (the sender's, removed from a rewritten copy).
func wantOurSignature(t *testing.T, r *Relay, m testlib.SinkMessage, senderDomain string) {
	t.Helper()
	pol := &dkimPolicy{records: map[string]string{}}
	if err := pol.add(r.Config, r.Dir); err != nil {
		t.Fatal(err)
	}
	if problems := pol.check(t, m.From, m.Data, nil, true); len(problems) > 0 {
		t.Errorf("DKIM of the delivered copy:\n%s", strings.Join(problems, "\n"))
	}
	for _, f := range headerFields(m.Data) {
		if f.name == "dkim-signature" {
			s := parseTags(f.value)
			if strings.EqualFold(s["d"], senderDomain) {
				t.Errorf("the rewritten copy still carries the sender's signature d=%s", s["d"])
			}
			t.Logf("delivered with DKIM-Signature d=%s s=%s a=%s", s["d"], s["s"], s["a"])
		}
	}
}

// wantRefused sends data and wants the reply code/enhanced to the final
// dot.
func wantRefused(t *testing.T, addr string, opts SendOptions, from string, rcpts []string, data []byte, code int, enhanced gosmtp.EnhancedCode) {
	t.Helper()
	_, err := sendMail(addr, opts, from, rcpts, data)
	rep := wantReply(t, err, code, enhanced, "dot")
	t.Logf("refused as expected: %v", rep)
}

// TestIngressExchangeOnline: two tenants behind Exchange Online, whose
// shared range (loopback here, smtp.cloud_networks_file) may connect
// without AUTH. Acme's mail, signed by acme.onmicrosoft.com with acme's
// Microsoft 365 tenant id, is accepted, rewritten with a personal link,
// signed with acme's own keys for acme.example (and no longer with the
// sender's) and delivered; so is one signed a minute ago. The same
// mail unsigned, signed by evil.onmicrosoft.com, with a wrong tenant id,
// with two tenant-id fields, signed longer than max_signature_age ago, or
// to a recipient not in its signed To, is refused 550 5.7.1
// (tenant_unproven) and kept nowhere.
func TestIngressExchangeOnline(t *testing.T) {
	t.Parallel()
	keys := newSenderKeys(t, acmeM365, evilM365, betaM365)
	sink := newSink(t, nil)
	r := StartRelay(t, sink.Addr, withCloud(t, keys.dns), func(dir string, c *Config) {
		c.Tenants[0].Ingress = Ingress{DKIMDomains: []string{acmeM365}, Microsoft365TenantID: m365ID, MaxSignatureAge: "10m"}
	}, withBeta(t, Ingress{DKIMDomains: []string{betaM365}, Microsoft365TenantID: otherM365}))

	const taro = "taro@cand.example"
	crossTenant := "X-MS-Exchange-CrossTenant-Id: " + m365ID
	mail := func(extra ...string) []byte {
		data, _ := tenantMail("人事部 <"+tenantSender+">", taro, extra...)
		return data
	}

	t.Run("accepted", func(t *testing.T) {
		data, id := tenantMail("人事部 <"+tenantSender+">", taro, crossTenant)
		text, err := sendMail(r.SMTPAddr, SendOptions{}, tenantSender, []string{taro}, keys.sign(t, acmeM365, data))
		if err != nil {
			t.Fatalf("acme's mail signed by %s: %v", acmeM365, err)
		}
		if !queuedRE.MatchString(text) {
			t.Errorf("reply 250 %q, want 250 2.0.0 queued as <id>", text)
		}
		m := wantOnlyDelivery(t, sink, id)
		wantPersonalLink(t, r, m)
		wantOurSignature(t, r, m, acmeM365)
		r.waitSamples(t, map[string]float64{ingressed(tenantID, "dkim"): 1, received(tenantID): 1})
	})
	// The control of the age case below: signAt's signature, a minute
	// old, is accepted.
	t.Run("accepted, signed a minute ago", func(t *testing.T) {
		data, id := tenantMail("人事部 <"+tenantSender+">", taro, crossTenant)
		data = keys.signAt(t, acmeM365, data, time.Now().Add(-time.Minute))
		if _, err := sendMail(r.SMTPAddr, SendOptions{}, tenantSender, []string{taro}, data); err != nil {
			t.Fatalf("signed a minute ago: %v", err)
		}
		var m testlib.SinkMessage
		for _, got := range sink.WaitForCount(t, 2, deliveryTimeout) {
			if got.MessageID == id {
				m = got
			}
		}
		if m.MessageID != id {
			t.Fatalf("the sink did not get %s", id)
		}
		r.waitSamples(t, map[string]float64{ingressed(tenantID, "dkim"): 2, received(tenantID): 2})
	})
	if t.Failed() {
		return
	}

	before := r.ingressState(t, sink)
	if before.linksSent[tenantID] != 2 {
		t.Errorf("acme's report: links_sent %d after two tagged mails, want 2", before.linksSent[tenantID])
	}
	signed := keys.sign(t, acmeM365, mail(crossTenant))
	cases := []struct {
		name  string
		data  []byte
		rcpts []string
	}{
		{"unsigned", mail(crossTenant), []string{taro}},
		{"signed by evil.onmicrosoft.com", keys.sign(t, evilM365, mail(crossTenant)), []string{taro}},
		{"signed by beta's domain", keys.sign(t, betaM365, mail("X-MS-Exchange-CrossTenant-Id: "+otherM365)), []string{taro}},
		{"wrong tenant id", keys.sign(t, acmeM365, mail("X-MS-Exchange-CrossTenant-Id: "+otherM365)), []string{taro}},
		{"two tenant-id fields", keys.sign(t, acmeM365, mail(crossTenant, crossTenant)), []string{taro}},
		{"no tenant id", keys.sign(t, acmeM365, mail()), []string{taro}},
		{"older than max_signature_age", keys.signAt(t, acmeM365, mail(crossTenant), time.Now().Add(-11*time.Minute)), []string{taro}},
		{"recipient not in To", signed, []string{taro, "jiro@cand.example"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wantRefused(t, r.SMTPAddr, SendOptions{}, tenantSender, tc.rcpts, tc.data, 550, unproven)
		})
	}
	r.wantNothingKept(t, sink, before, map[string]int{"tenant_unproven": len(cases)})
}

// TestIngressGoogleWorkspace: Google Workspace's outbound gateway (a
// provider range, no AUTH) proves acme by the header its routing rule adds
// (X-CareerRelay-Ingress: the secret of tenants[].ingress.header_secret_file),
// which never leaves the relay, or by the signature Google makes with
// d=<domain>.<date>.gappssmtp.com. A wrong secret, or acme's secret on
// beta's mail, is refused 550 5.7.1 and kept nowhere.
func TestIngressGoogleWorkspace(t *testing.T) {
	t.Parallel()
	keys := newSenderKeys(t, acmeGApps)
	secret := "acme-ingress-" + strings.Repeat("0123456789abcdef", 3)
	sink := newSink(t, nil)
	r := StartRelay(t, sink.Addr, withCloud(t, keys.dns), func(dir string, c *Config) {
		p := filepath.Join(dir, "acme-ingress.secret")
		writeFile(t, p, []byte(secret+"\n"))
		c.Tenants[0].Ingress = Ingress{DKIMDomains: []string{acmeGApps}, HeaderSecretFile: p}
	}, withBeta(t, Ingress{Networks: []string{"192.0.2.0/24"}}))

	const hanako = "hanako@cand.example"
	t.Run("header", func(t *testing.T) {
		data, id := tenantMail(tenantSender, hanako, "X-CareerRelay-Ingress: "+secret)
		if _, err := sendMail(r.SMTPAddr, SendOptions{}, tenantSender, []string{hanako}, data); err != nil {
			t.Fatalf("with the ingress header: %v", err)
		}
		m := wantOnlyDelivery(t, sink, id)
		wantPersonalLink(t, r, m)
		if _, ok := rawHeaderValue(m.Data, "X-CareerRelay-Ingress"); ok || bytes.Contains(m.Data, []byte(secret)) {
			t.Errorf("the delivered copy carries the ingress header or its secret:\n%s", m.Data)
		}
		wantOurSignature(t, r, m, "")
	})
	t.Run("gappssmtp signature", func(t *testing.T) {
		data, id := tenantMail(tenantSender, hanako)
		if _, err := sendMail(r.SMTPAddr, SendOptions{}, tenantSender, []string{hanako}, keys.sign(t, acmeGApps, data)); err != nil {
			t.Fatalf("signed by %s: %v", acmeGApps, err)
		}
		var m testlib.SinkMessage
		for _, got := range sink.WaitForCount(t, 2, deliveryTimeout) {
			if got.MessageID == id {
				m = got
			}
		}
		if m.MessageID != id {
			t.Fatalf("the sink did not get %s", id)
		}
		wantPersonalLink(t, r, m)
		wantOurSignature(t, r, m, acmeGApps)
	})
	r.waitSamples(t, map[string]float64{ingressed(tenantID, "header"): 1, ingressed(tenantID, "dkim"): 1, received(tenantID): 2})
	if t.Failed() {
		return
	}

	before := r.ingressState(t, sink)
	wrong := secret[:len(secret)-1] + "x"
	data, _ := tenantMail(tenantSender, hanako, "X-CareerRelay-Ingress: "+wrong)
	t.Run("wrong secret", func(t *testing.T) {
		wantRefused(t, r.SMTPAddr, SendOptions{}, tenantSender, []string{hanako}, data, 550, unproven)
	})
	data, _ = tenantMail(betaSender, hanako, "X-CareerRelay-Ingress: "+secret)
	t.Run("acme's secret on beta's mail", func(t *testing.T) {
		wantRefused(t, r.SMTPAddr, SendOptions{}, betaSender, []string{hanako}, data, 550, unproven)
	})
	r.wantNothingKept(t, sink, before, map[string]int{"tenant_unproven": 2})
}

// TestIngressAuthUsersPerTenant: two tenants, an AUTH user each
// (smtp.users[].tenants). Each user's own mail is accepted and signed for
// its tenant; the other tenant's mail is refused 550 5.7.1 whether it is
// named in MAIL FROM, in From only, or behind MAIL FROM:<>. Two From
// fields are 550 5.6.0, a foreign From (security@paypal.test) behind
// acme's envelope 550 5.7.1; nothing refused is signed or delivered.
func TestIngressAuthUsersPerTenant(t *testing.T) {
	t.Parallel()
	sink := newSink(t, nil)
	var certPEM []byte
	r := StartRelay(t, sink.Addr, noNetworks, withBeta(t, Ingress{}), func(dir string, c *Config) {
		certPEM = withTLSAuth(t, dir, c)
		hash := c.SMTP.Users[0].PasswordHash
		c.SMTP.Users = []User{
			{Name: "acme-mta", PasswordHash: hash, Tenants: []string{tenantID}},
			{Name: "beta-mta", PasswordHash: hash, Tenants: []string{betaID}},
		}
	})
	tlsConf := &tls.Config{RootCAs: testlib.CertPool(t, certPEM), ServerName: relayHost}
	as := func(user string) SendOptions {
		return SendOptions{StartTLS: tlsConf, User: user, Password: authPassword}
	}

	sent := map[string]string{} // Message-ID -> the user that sent it
	for _, c := range []struct{ user, sender string }{{"acme-mta", tenantSender}, {"beta-mta", betaSender}} {
		t.Run(c.user+" own mail", func(t *testing.T) {
			data, id := tenantMail(c.sender, candidate)
			if _, err := sendMail(r.SMTPAddr, as(c.user), c.sender, []string{candidate}, data); err != nil {
				t.Fatalf("%s sending %s's mail: %v", c.user, c.sender, err)
			}
			sent[id] = c.user
		})
	}
	for _, m := range sink.WaitForCount(t, 2, deliveryTimeout) {
		if sent[m.MessageID] == "" {
			t.Errorf("the sink got %q, not sent", m.MessageID)
		}
		wantPersonalLink(t, r, m)
		wantOurSignature(t, r, m, "")
	}
	r.waitSamples(t, map[string]float64{
		ingressed(tenantID, "auth"): 1, ingressed(betaID, "auth"): 1,
		received(tenantID): 1, received(betaID): 1,
	})
	if t.Failed() {
		return
	}

	before := r.ingressState(t, sink)
	for _, c := range []struct {
		name, user, envFrom, from string
		code                      int
		enhanced                  gosmtp.EnhancedCode
		reason                    string
	}{
		{"acme's user, beta in MAIL FROM", "acme-mta", betaSender, betaSender, 550, unproven, "tenant_unproven"},
		{"acme's user, beta in From only", "acme-mta", "bounce@ats.example", betaSender, 550, unproven, "tenant_unproven"},
		{"acme's user, MAIL FROM:<>, beta's From", "acme-mta", "", betaSender, 550, unproven, "tenant_unproven"},
		{"beta's user, acme in MAIL FROM", "beta-mta", tenantSender, tenantSender, 550, unproven, "tenant_unproven"},
		{"beta's user, acme in From only", "beta-mta", "bounce@ats.example", tenantSender, 550, unproven, "tenant_unproven"},
		{"beta's user, MAIL FROM:<>, acme's From", "beta-mta", "", tenantSender, 550, unproven, "tenant_unproven"},
		{"two From fields", "acme-mta", tenantSender, tenantSender + ">\r\nFrom: <" + betaSender, 550, badFrom, "bad_from"},
		{"a foreign From behind acme's envelope", "acme-mta", tenantSender, "security@paypal.test", 550, unproven, "foreign_from"},
	} {
		t.Run(c.name, func(t *testing.T) {
			data, _ := tenantMail("<"+c.from+">", candidate)
			wantRefused(t, r.SMTPAddr, as(c.user), c.envFrom, []string{candidate}, data, c.code, c.enhanced)
		})
	}
	r.wantNothingKept(t, sink, before, map[string]int{"tenant_unproven": 6, "bad_from": 1, "foreign_from": 1})
}

// TestIngressLoops: a message that already passed this relay (its own
// X-CareerRelay-Processed: <smtp.hostname>) or that carries more than
// smtp.max_hops (30) Received fields is refused 554 5.4.6 and kept
// nowhere; 30 Received fields are accepted.
func TestIngressLoops(t *testing.T) {
	t.Parallel()
	sink := newSink(t, nil)
	r := StartRelay(t, sink.Addr)
	hops := func(n int) []string {
		var h []string
		for i := range n {
			h = append(h, fmt.Sprintf("Received: from mx%d.example by mx%d.example;\r\n\tWed, 2 Dec 2026 10:00:00 +0900", i, i+1))
		}
		return h
	}

	before := r.ingressState(t, sink)
	t.Run("our own mark", func(t *testing.T) {
		data, _ := tenantMail(tenantSender, candidate, "X-CareerRelay-Processed: "+relayHost)
		wantRefused(t, r.SMTPAddr, SendOptions{}, tenantSender, []string{candidate}, data, 554, loopCode)
	})
	t.Run("31 Received fields", func(t *testing.T) {
		data, _ := tenantMail(tenantSender, candidate, hops(31)...)
		wantRefused(t, r.SMTPAddr, SendOptions{}, tenantSender, []string{candidate}, data, 554, loopCode)
	})
	r.wantNothingKept(t, sink, before, map[string]int{"loop": 2})

	t.Run("30 Received fields", func(t *testing.T) {
		data, id := tenantMail(tenantSender, candidate, hops(30)...)
		if _, err := sendMail(r.SMTPAddr, SendOptions{}, tenantSender, []string{candidate}, data); err != nil {
			t.Fatalf("30 Received fields: %v", err)
		}
		m := wantOnlyDelivery(t, sink, id)
		if n := bytes.Count(m.Data, []byte("\r\nReceived: ")); n != 31 {
			t.Errorf("the delivered copy has %d Received fields, want 31 (30 and ours)", n)
		}
		if v, _ := rawHeaderValue(m.Data, "X-CareerRelay-Processed"); strings.TrimSpace(v) != relayHost {
			t.Errorf("the delivered copy's X-CareerRelay-Processed is %q, want %q", v, relayHost)
		}
	})
}

// TestIngressDNSFailure: while the DNS server answers SERVFAIL for the
// key of the signature that would prove the tenant, the mail is refused
// 451 4.4.3 (temporary: the sender retries), never accepted, and kept
// nowhere. Once the key is served, the same mail is accepted.
func TestIngressDNSFailure(t *testing.T) {
	t.Parallel()
	keys := newSenderKeys(t, acmeM365)
	sink := newSink(t, nil)
	r := StartRelay(t, sink.Addr, withCloud(t, keys.dns), func(dir string, c *Config) {
		c.Tenants[0].Ingress = Ingress{DKIMDomains: []string{acmeM365}, Microsoft365TenantID: m365ID}
	})
	data, id := tenantMail(tenantSender, candidate, "X-MS-Exchange-CrossTenant-Id: "+m365ID)
	data = keys.sign(t, acmeM365, data)
	name := inSel + "._domainkey." + acmeM365

	before := r.ingressState(t, sink)
	keys.dns.Fail(name, dnsmessage.RCodeServerFailure)
	t.Run("SERVFAIL", func(t *testing.T) {
		wantRefused(t, r.SMTPAddr, SendOptions{}, tenantSender, []string{candidate}, data, 451, gosmtp.EnhancedCode{4, 4, 3})
	})
	asked := false
	for _, q := range keys.dns.Queries() {
		asked = asked || q == name
	}
	if !asked {
		t.Errorf("the relay never asked the DNS server for %s (queries: %q)", name, keys.dns.Queries())
	}
	r.wantNothingKept(t, sink, before, map[string]int{"ingress_tempfail": 1})

	keys.dns.Remove(name)
	keys.dns.SetTXT(name, keys.record(acmeM365))
	if _, err := sendMail(r.SMTPAddr, SendOptions{}, tenantSender, []string{candidate}, data); err != nil {
		t.Fatalf("the same mail once the key is served: %v", err)
	}
	wantOnlyDelivery(t, sink, id)
}
