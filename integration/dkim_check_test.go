package integration

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	msgauth "github.com/emersion/go-msgauth/dkim"

	"github.com/careerrelay/careerrelay/internal/dkimtest"
	"github.com/careerrelay/careerrelay/internal/testlib"
)

// Every message a test captures is DKIM-checked, so that no test can forget
// it (issue 4: "every message the integration tests capture verifies with
// go-msgauth and python3-dkim"):
//
//   - a Sink is made with newSink, which checks every message it accepted
//     when the test ends (after the relay has stopped); NewRelay refuses to
//     deliver to an upstream that is not such a sink;
//   - in capture mode, the Relay checks every .eml file in capture_dir when
//     the test ends. The Return-Path: and Delivered-To: lines that capture
//     delivery prepends sit above the signatures and are not signed, so the
//     files are verified as they are.
//
// A message of a tenant (by envelope sender, else by From, as the relay
// picks it) must carry, topmost, one signature per key of the tenant in the
// configured order (s= the selector, d= the From domain when it is the
// tenant's, else its first domain), and every signature on it must verify
// with go-msgauth and with python3-dkim (offline: the key records come from
// the key files of the relay's config). A message of no tenant (the relay's
// DSNs, from the null sender; mail of unknown senders relayed with
// relay_unknown_senders) must carry no signature of ours.
//
// python3-dkim verifies every message of a sink, or of a capture_dir, in
// one python3 process (dkimtest.VerifyAll) when the test ends: the 2,011
// messages of TestCrashSafety took it 2.2 s on 2 idle cores (measured),
// where a process per message took 1-7 s each under load, which had made
// the check verify only a sample of them.

// sinkCheck is what newSink keeps about a sink.
type sinkCheck struct {
	sink *testlib.Sink

	mu       sync.Mutex
	relays   int               // how many relays deliver to the sink
	policies []*dkimPolicy     // their signing policies, read as each relay's test ends
	records  map[string]string // key records of signatures the test made itself
}

// sinkChecks maps a sink's address to its *sinkCheck, for NewRelay.
var sinkChecks sync.Map

// newSink starts a testlib.Sink (opts may be nil) whose every accepted
// message is DKIM-checked when the test ends. Use it for every sink a
// relay delivers to.
func newSink(t *testing.T, opts *testlib.SinkOptions) *testlib.Sink {
	t.Helper()
	s := testlib.NewSink(t, opts)
	sc := &sinkCheck{sink: s}
	sinkChecks.Store(s.Addr, sc)
	// Registered after the sink's own cleanup and before any relay's, so
	// it runs after the relay has stopped and before the sink closes.
	t.Cleanup(func() {
		sinkChecks.Delete(s.Addr)
		sc.check(t)
	})
	return s
}

func checkOf(t *testing.T, s *testlib.Sink) *sinkCheck {
	t.Helper()
	v, ok := sinkChecks.Load(s.Addr)
	if !ok {
		t.Fatalf("sink %s was not made by newSink", s.Addr)
	}
	return v.(*sinkCheck)
}

// sinkRecords adds key records (name selector._domainkey.domain to TXT
// text) for signatures the test made itself, such as a client's own, so
// that the check can verify them too.
func sinkRecords(t *testing.T, s *testlib.Sink, records map[string]string) {
	t.Helper()
	sc := checkOf(t, s)
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.records == nil {
		sc.records = map[string]string{}
	}
	for k, v := range records {
		sc.records[strings.ToLower(k)] = v
	}
}

// attachSinks links r to the sinks its config delivers to, and fails the
// test when one was not made by newSink.
func (r *Relay) attachSinks() {
	r.t.Helper()
	var addrs []string
	switch d := r.Config.Delivery; d.Mode {
	case "relay", "":
		if d.Relay.Address != "" {
			addrs = append(addrs, d.Relay.Address)
		}
	case "mx":
		for _, a := range d.MXOverrides {
			addrs = append(addrs, a)
		}
	}
	for _, a := range addrs {
		v, ok := sinkChecks.Load(a)
		if !ok {
			r.t.Fatalf("relay: delivery goes to %s, which is not a sink made by newSink(t); "+
				"make every sink with newSink, so that every message it captures is DKIM-checked", a)
		}
		sc := v.(*sinkCheck)
		sc.mu.Lock()
		sc.relays++
		sc.mu.Unlock()
		r.sinks = append(r.sinks, sc)
	}
}

// handPolicy gives the sinks r delivers to its signing policy, read from
// its config and key files. Relay.cleanup calls it once the process has
// stopped and before the test's temp dir, which holds the key files, is
// removed: the sinks' checks run after that.
func (r *Relay) handPolicy() {
	r.t.Helper()
	if len(r.sinks) == 0 {
		return
	}
	pol := &dkimPolicy{records: map[string]string{}}
	if err := pol.add(r.Config, filepath.Dir(r.ConfigPath)); err != nil {
		r.t.Errorf("dkim check: %v", err)
		return
	}
	for _, sc := range r.sinks {
		sc.mu.Lock()
		sc.policies = append(sc.policies, pol)
		sc.mu.Unlock()
	}
}

// check verifies the signatures of every message the sink accepted.
func (sc *sinkCheck) check(t *testing.T) {
	t.Helper()
	msgs := sc.sink.Messages()
	sc.mu.Lock()
	relays, policies, extra := sc.relays, slices.Clone(sc.policies), sc.records
	sc.mu.Unlock()
	if len(msgs) == 0 {
		return
	}
	if relays == 0 {
		t.Errorf("dkim check: sink %s got %d messages, but no relay of this test delivers to it", sc.sink.Addr, len(msgs))
		return
	}
	if len(policies) != relays {
		// A relay's policy is missing when reading its key files failed
		// (reported) or its cleanup did not run before this one.
		t.Errorf("dkim check: sink %s: the signing policy of %d of its %d relays is missing", sc.sink.Addr, relays-len(policies), relays)
		return
	}
	// Relays sharing a sink are expected to share tenants and keys.
	pol := &dkimPolicy{records: map[string]string{}}
	for _, p := range policies {
		pol.tenants = append(pol.tenants, p.tenants...)
		maps.Copy(pol.records, p.records)
	}
	maps.Copy(pol.records, extra)
	checks := make([]dkimMessage, len(msgs))
	for i, m := range msgs {
		checks[i] = dkimMessage{from: m.From, data: m.Data}
	}
	problems, python := pol.checkAll(t, checks)
	var rep dkimReport
	for i, m := range msgs {
		what := fmt.Sprintf("sink message %d (from <%s> to %v, Message-ID %q)", i+1, m.From, m.Rcpts, m.MessageID)
		rep.add(what, problems[i])
	}
	rep.report(t, fmt.Sprintf("sink %s", sc.sink.Addr), len(msgs), python)
}

// checkCaptured verifies the signatures of every .eml file a relay in
// capture mode wrote.
func (r *Relay) checkCaptured() {
	r.t.Helper()
	if r.Config == nil || r.Config.Delivery.Mode != "capture" || r.Config.Delivery.CaptureDir == "" {
		return
	}
	base := filepath.Dir(r.ConfigPath)
	dir := r.Config.Delivery.CaptureDir
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(base, dir)
	}
	files := captured(r.t, dir)
	if len(files) == 0 {
		return
	}
	pol := &dkimPolicy{records: map[string]string{}}
	if err := pol.add(r.Config, base); err != nil {
		r.t.Errorf("dkim check: %v", err)
		return
	}
	var checks []dkimMessage
	var names []string
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			r.t.Errorf("dkim check: %v", err)
			continue
		}
		from, _ := rawHeaderValue(data, "Return-Path")
		from = strings.Trim(strings.TrimSpace(from), "<>")
		checks = append(checks, dkimMessage{from: from, data: data, above: captureAdds})
		names = append(names, f)
	}
	problems, python := pol.checkAll(r.t, checks)
	var rep dkimReport
	for i, f := range names {
		rep.add(f, problems[i])
	}
	rep.report(r.t, "capture_dir "+dir, len(names), python)
}

// captureAdds are the header fields capture delivery prepends to a copy,
// above the signatures, as a local delivery agent would.
var captureAdds = []string{"return-path", "delivered-to"}

// dkimReport collects the problems of the messages checked and reports
// the first few of them, with a count, rather than thousands of lines.
type dkimReport struct {
	bad      int
	problems []string
}

func (rep *dkimReport) add(what string, problems []string) {
	if len(problems) == 0 {
		return
	}
	rep.bad++
	if rep.bad <= 5 {
		rep.problems = append(rep.problems, what+":\n\t"+strings.Join(problems, "\n\t"))
	}
}

func (rep *dkimReport) report(t *testing.T, where string, n, python int) {
	t.Helper()
	if rep.bad == 0 {
		t.Logf("dkim check: %s: %d messages verified (go-msgauth all, python3-dkim %d)", where, n, python)
		return
	}
	t.Errorf("dkim check: %s: %d of %d messages fail; the first:\n%s", where, rep.bad, n, strings.Join(rep.problems, "\n"))
}

// dkimPolicy is what relays' configs say about signing.
type dkimPolicy struct {
	tenants []dkimTenant
	records map[string]string // record name (lower case, no final dot) -> TXT

	// pythonVerify is python3-dkim's verifier: dkimtest.VerifyAll when
	// nil. The checker's self-test wraps it, to prove that a failure only
	// python3-dkim sees fails the check of the right message.
	pythonVerify func(testing.TB, [][]byte, map[string]string) [][]dkimtest.Result
}

type dkimTenant struct {
	id      string
	domains []string // lower case
	keys    []dkimKeyInfo
}

type dkimKeyInfo struct {
	selector string
	algo     string // a= of its signatures
}

// add reads the tenants and key files of c, whose relative paths are
// relative to base.
func (p *dkimPolicy) add(c *Config, base string) error {
	for _, tn := range c.Tenants {
		dt := dkimTenant{id: tn.ID}
		for _, d := range tn.Domains {
			dt.domains = append(dt.domains, strings.ToLower(strings.TrimSuffix(d, ".")))
		}
		for _, k := range tn.DKIM {
			path := k.KeyFile
			if !filepath.IsAbs(path) {
				path = filepath.Join(base, path)
			}
			pub, err := publicKeyOf(path)
			if err != nil {
				return fmt.Errorf("tenant %s, selector %s: %w", tn.ID, k.Selector, err)
			}
			txt, algo, err := keyRecord(pub)
			if err != nil {
				return fmt.Errorf("tenant %s, selector %s: %w", tn.ID, k.Selector, err)
			}
			dt.keys = append(dt.keys, dkimKeyInfo{selector: k.Selector, algo: algo})
			for _, d := range dt.domains {
				p.records[strings.ToLower(k.Selector)+"._domainkey."+d] = txt
			}
		}
		p.tenants = append(p.tenants, dt)
	}
	return nil
}

// publicKeyOf reads the public half of a PEM private key file (PKCS#8, or
// PKCS#1 for RSA), skipping any text before the PEM block.
func publicKeyOf(path string) (crypto.PublicKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, fmt.Errorf("%s: no PEM private key", path)
		}
		if !strings.HasSuffix(block.Type, "PRIVATE KEY") {
			continue
		}
		key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			if key, err = x509.ParsePKCS1PrivateKey(block.Bytes); err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
		}
		s, ok := key.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("%s: a %T is not a signing key", path, key)
		}
		return s.Public(), nil
	}
}

// keyRecord returns the DKIM key record publishing pub (RFC 6376 3.6.1,
// RFC 8463), written here rather than taken from package dkim so that the
// check does not trust the code it checks, and the a= of its signatures.
func keyRecord(pub crypto.PublicKey) (txt, algo string, err error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		der, err := x509.MarshalPKIXPublicKey(k)
		if err != nil {
			return "", "", err
		}
		return "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der), "rsa-sha256", nil
	case ed25519.PublicKey:
		return "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(k), "ed25519-sha256", nil
	}
	return "", "", fmt.Errorf("unsupported key type %T", pub)
}

// tenantOf returns the tenant owning domain, or nil.
func (p *dkimPolicy) tenantOf(domain string) *dkimTenant {
	domain = strings.ToLower(strings.TrimSuffix(domain, "."))
	for i := range p.tenants {
		if domain != "" && slices.Contains(p.tenants[i].domains, domain) {
			return &p.tenants[i]
		}
	}
	return nil
}

// ours reports whether a signature with d= and s= was made with a key of
// the config.
func (p *dkimPolicy) ours(d, s string) bool {
	t := p.tenantOf(d)
	if t == nil {
		return false
	}
	for _, k := range t.keys {
		if strings.EqualFold(k.selector, s) {
			return true
		}
	}
	return false
}

// dkimMessage is one message the relay delivered, for checkAll.
type dkimMessage struct {
	from  string   // its envelope sender
	data  []byte   // as delivered
	above []string // the (lower case) names of fields the delivery may add above the signatures
}

// checkAll returns what is wrong with the signatures of each of msgs, and
// how many of them python3-dkim verified: every one that go-msgauth
// verifies, all in one python3 process.
func (p *dkimPolicy) checkAll(t *testing.T, msgs []dkimMessage) (problems [][]string, python int) {
	t.Helper()
	problems = make([][]string, len(msgs))
	var batch [][]byte
	var of []int // of[j]: the index in msgs of batch[j]
	var nsigs []int
	for i, m := range msgs {
		var n int
		var verify bool
		problems[i], n, verify = p.checkSigs(m.from, m.data, m.above)
		if verify {
			batch = append(batch, m.data)
			of = append(of, i)
			nsigs = append(nsigs, n)
		}
	}
	if len(batch) > 0 && pythonCheck(t) {
		verify := p.pythonVerify
		if verify == nil {
			verify = dkimtest.VerifyAll
		}
		for j, res := range verify(t, batch, p.records) {
			i := of[j]
			if len(res) != nsigs[j] {
				problems[i] = append(problems[i], fmt.Sprintf("python3-dkim saw %d signatures, the header has %d: %+v", len(res), nsigs[j], res))
			}
			for _, r := range res {
				if !r.OK {
					problems[i] = append(problems[i], fmt.Sprintf("python3-dkim: signature %d (d=%s s=%s a=%s): %s", r.Index, r.Domain, r.Selector, r.Algo, r.Error))
				}
			}
		}
		python = len(batch)
	}
	for i, m := range msgs {
		problems[i] = withMessage(problems[i], m.data)
	}
	return problems, python
}

// check is checkAll of one message, for a test that checks a message as it
// comes; python false leaves python3-dkim out. A test with several
// messages should check them in one checkAll, as python3-dkim takes a
// python3 process each time.
func (p *dkimPolicy) check(t *testing.T, envFrom string, data []byte, above []string, python bool) []string {
	t.Helper()
	if !python {
		problems, _, _ := p.checkSigs(envFrom, data, above)
		return withMessage(problems, data)
	}
	problems, _ := p.checkAll(t, []dkimMessage{{from: envFrom, data: data, above: above}})
	return problems[0]
}

// withMessage adds a short message itself to its problems, if any.
func withMessage(problems []string, data []byte) []string {
	if len(problems) > 0 && len(data) < 8<<10 {
		problems = append(problems, "the message:\n"+string(data))
	}
	return problems
}

// checkSigs returns what go-msgauth and the policy find wrong with the
// signatures of one message the relay delivered, whose envelope sender is
// envFrom; above lists the (lower case) names of fields the delivery may
// add above the signatures. python says whether python3-dkim must verify
// the message too (a tenant's mail, signed), and nsigs how many signatures
// it has.
func (p *dkimPolicy) checkSigs(envFrom string, data []byte, above []string) (_ []string, nsigs int, python bool) {
	fields := headerFields(data)
	fromDomain := headerFromDomain(data)
	tenant := p.tenantOf(domainPart(envFrom))
	if tenant == nil {
		tenant = p.tenantOf(fromDomain)
	}
	var sigs []sigTags
	for _, f := range fields {
		if f.name == "dkim-signature" {
			sigs = append(sigs, parseTags(f.value))
		}
	}
	var problems []string
	if tenant == nil {
		for i, s := range sigs {
			if p.ours(s["d"], s["s"]) {
				problems = append(problems, fmt.Sprintf("mail of no tenant carries signature %d of ours (d=%s s=%s)", i, s["d"], s["s"]))
			}
		}
		return problems, len(sigs), false
	}
	if len(tenant.keys) == 0 {
		return nil, len(sigs), false
	}

	// Ours, topmost, one per key in the configured order, with only the
	// delivery's own fields above them.
	wantD := tenant.domains[0]
	if slices.Contains(tenant.domains, fromDomain) {
		wantD = fromDomain
	}
	for _, f := range fields {
		if f.name == "dkim-signature" {
			break
		}
		if !slices.Contains(above, f.name) {
			problems = append(problems, fmt.Sprintf("header field %s: is above the signatures (added after signing)", f.name))
		}
	}
	for i, k := range tenant.keys {
		if i >= len(sigs) {
			problems = append(problems, fmt.Sprintf("no signature %d (s=%s): %d signatures in all", i, k.selector, len(sigs)))
			continue
		}
		s := sigs[i]
		if !strings.EqualFold(s["s"], k.selector) || !strings.EqualFold(s["d"], wantD) || s["a"] != k.algo {
			problems = append(problems, fmt.Sprintf("signature %d: d=%s s=%s a=%s, want d=%s s=%s a=%s", i, s["d"], s["s"], s["a"], wantD, k.selector, k.algo))
		}
	}
	for i := len(tenant.keys); i < len(sigs); i++ {
		if p.ours(sigs[i]["d"], sigs[i]["s"]) {
			problems = append(problems, fmt.Sprintf("signature %d (d=%s s=%s) is ours but below the topmost %d: signed twice?", i, sigs[i]["d"], sigs[i]["s"], len(tenant.keys)))
		}
	}

	// Every signature verifies, with go-msgauth here and with python3-dkim
	// in checkAll.
	vs, err := msgauth.VerifyWithOptions(bytes.NewReader(data), &msgauth.VerifyOptions{
		LookupTXT: func(name string) ([]string, error) {
			if r, ok := p.records[strings.ToLower(strings.TrimSuffix(name, "."))]; ok {
				return []string{r}, nil
			}
			return nil, fmt.Errorf("no TXT record at %s (offline)", name)
		},
	})
	switch {
	case err != nil:
		problems = append(problems, fmt.Sprintf("go-msgauth: %v", err))
	case len(vs) != len(sigs):
		problems = append(problems, fmt.Sprintf("go-msgauth saw %d signatures, the header has %d", len(vs), len(sigs)))
	}
	for i, v := range vs {
		if v.Err != nil {
			problems = append(problems, fmt.Sprintf("go-msgauth: signature %d (d=%s): %v", i, v.Domain, v.Err))
		}
	}
	return problems, len(sigs), true
}

// pythonCheck reports whether the python3-dkim checks can run. Where they
// cannot, it fails the test under CI=true (CI installs python3-dkim) and
// else only logs it.
func pythonCheck(t *testing.T) bool {
	t.Helper()
	// Asked without dkimtest.Python, which would skip the whole test,
	// after its other checks passed, where python3-dkim is missing.
	if _, err := dkimtest.Interpreter(); err == nil {
		return true
	}
	if os.Getenv("CI") == "true" {
		t.Errorf("dkim check: no python3 with python3-dkim; CI must install it (Debian: python3-dkim)")
	} else {
		t.Logf("dkim check: python3-dkim is not installed; only go-msgauth verified")
	}
	return false
}

// TestDKIMCheckAllPythonOnly checks that checkAll, which hands python3-dkim
// all the messages in one batch, fails the message python3-dkim fails and
// only that one: the verifier, wrapped, changes the body of one message of
// the batch before the real python3-dkim sees it, so that go-msgauth passes
// it and python3-dkim alone says no. The failing messages sit unevenly in
// the batch, so that verdicts given to the wrong messages show. (TestDKIMCheckSaysNo checks the
// failures both verifiers see.)
func TestDKIMCheckAllPythonOnly(t *testing.T) {
	t.Parallel()
	dkimtest.Python(t) // skips, or fails under CI=true, without python3-dkim
	dir := t.TempDir()
	pol := &dkimPolicy{records: map[string]string{}}
	if err := pol.add(baseConfig(t, dir, "127.0.0.1:1"), dir); err != nil {
		t.Fatal(err)
	}
	keys, err := tenantKeys()
	if err != nil {
		t.Fatal(err)
	}
	// As the relay signs: Ed25519 first, so RSA ends on top.
	signed := func(msg []byte) []byte {
		for _, k := range []struct{ algo, selector string }{{"ed25519", ed25519Selector}, {"rsa", rsaSelector}} {
			b, _ := pem.Decode(keys[k.algo])
			key, err := x509.ParsePKCS8PrivateKey(b.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			if err := msgauth.Sign(&out, bytes.NewReader(msg), &msgauth.SignOptions{
				Domain: tenantDomain, Selector: k.selector, Signer: key.(crypto.Signer),
				HeaderCanonicalization: msgauth.CanonicalizationRelaxed,
				BodyCanonicalization:   msgauth.CanonicalizationRelaxed,
			}); err != nil {
				t.Fatal(err)
			}
			msg = out.Bytes()
		}
		return msg
	}
	const marker = "python3-dkim sees this body changed"
	var msgs []dkimMessage
	for i := range 6 {
		body := fmt.Sprintf("message %d\nお祈り申し上げます。", i)
		if i == 5 {
			body += "\n" + marker
		}
		msg, _ := newMessage(tenantSender, candidate, fmt.Sprintf("batch %d", i), body)
		msgs = append(msgs, dkimMessage{from: tenantSender, data: signed(msg)})
	}
	// Message 1 changes after signing: both verifiers fail it.
	msgs[1].data = bytes.Replace(msgs[1].data, []byte("message 1"), []byte("message X"), 1)
	// Message 2 is of no tenant and unsigned: python3-dkim has nothing to verify.
	stranger, _ := newMessage("someone@stranger.example", candidate, "x", "hello")
	msgs[2] = dkimMessage{from: "someone@stranger.example", data: stranger}

	calls := 0
	pol.pythonVerify = func(t testing.TB, batch [][]byte, records map[string]string) [][]dkimtest.Result {
		calls++
		if len(batch) != 5 {
			t.Errorf("python3-dkim is handed %d messages, want the 5 tenant ones", len(batch))
		}
		changed := make([][]byte, len(batch))
		for k, m := range batch {
			changed[k] = bytes.Replace(m, []byte(marker), []byte(strings.ToUpper(marker)), 1)
		}
		return dkimtest.VerifyAll(t, changed, records)
	}
	problems, python := pol.checkAll(t, msgs)
	if calls != 1 || python != 5 {
		t.Errorf("python3-dkim ran %d times on %d messages, want once on 5", calls, python)
	}
	for i, p := range problems {
		all := strings.Join(p, "\n")
		var want []string // each in the problems; none when nil
		var not []string  // none in the problems
		switch i {
		case 1:
			want = []string{"go-msgauth: signature 0", "python3-dkim: signature 0", "python3-dkim: signature 1", "body hash mismatch"}
		case 5:
			want = []string{"python3-dkim: signature 0 (d=acme.example s=cr2026 a=rsa-sha256): ", "python3-dkim: signature 1 (d=acme.example s=cr2026e a=ed25519-sha256): ", "body hash mismatch"}
			not = []string{"go-msgauth"}
		}
		if want == nil && len(p) > 0 {
			t.Errorf("message %d: the check fails:\n%s", i, all)
		}
		for _, w := range want {
			if !strings.Contains(all, w) {
				t.Errorf("message %d: the check says %q, want a problem with %q", i, all, w)
			}
		}
		for _, n := range not {
			if strings.Contains(all, n) {
				t.Errorf("message %d: the check says %q, want no problem with %q", i, all, n)
			}
		}
	}
}
