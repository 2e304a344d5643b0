package integration

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"strings"
	"sync"
	"testing"

	msgauth "github.com/emersion/go-msgauth/dkim"

	"github.com/careerrelay/careerrelay/internal/dkimtest"
)

// companySelector is the selector of the company's own DKIM key, the one
// its ATS or mail server signs with before handing mail to careerrelay.
const companySelector = "ats"

// companyKey is the company's own RSA-2048 key, made once per test process.
var companyKey = sync.OnceValues(func() (*rsa.PrivateKey, error) {
	return rsa.GenerateKey(rand.Reader, 2048)
})

// TestDKIMPresignedMail is issue 4's "a pre-signed tagged mail comes out
// with only careerrelay's valid signature; a pre-signed untagged mail keeps
// its signature and gains ours", through the running relay. The company
// signs with go-msgauth's defaults (simple/simple, every header field), so
// its signature breaks on any change to the body or to a field it covers.
func TestDKIMPresignedMail(t *testing.T) {
	t.Parallel()
	key, err := companyKey()
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	companyRecord := map[string]string{
		companySelector + "._domainkey." + tenantDomain: "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der),
	}
	sink := newSink(t, nil)
	// The sink's end-of-test check verifies the company's signature too.
	sinkRecords(t, sink, companyRecord)
	r := StartRelay(t, sink.Addr)

	presign := func(to, subject, body string) ([]byte, string) {
		t.Helper()
		data, id := newMessage(tenantSender, to, subject, body)
		var b bytes.Buffer
		if err := msgauth.Sign(&b, bytes.NewReader(data), &msgauth.SignOptions{
			Domain: tenantDomain, Selector: companySelector, Signer: key,
		}); err != nil {
			t.Fatalf("company signature: %v", err)
		}
		return b.Bytes(), id
	}
	archive := "archive@" + tenantDomain
	tagged, taggedID := presign(candidate, "選考結果のご連絡",
		"ご応募ありがとうございました。\n今後のキャリアのご相談はこちら: [[career-relay]]\n")
	if _, err := sendMail(r.SMTPAddr, SendOptions{}, tenantSender, []string{candidate, archive}, tagged); err != nil {
		t.Fatalf("send the pre-signed tagged mail: %v", err)
	}
	plain, plainID := presign(candidate, "面接日程", "面接は11月30日です。\n")
	if _, err := sendMail(r.SMTPAddr, SendOptions{}, tenantSender, []string{candidate}, plain); err != nil {
		t.Fatalf("send the pre-signed untagged mail: %v", err)
	}

	// Both verifiers, with our keys' records and the company's.
	records := map[string]string{}
	for k, v := range companyRecord {
		records[k] = v
	}
	pol := &dkimPolicy{records: records}
	if err := pol.add(r.Config, r.Dir); err != nil {
		t.Fatal(err)
	}
	// python3-dkim verifies the copies together, after the loop below, in
	// one process.
	type pyCheck struct {
		what string
		data []byte
		sigs int
	}
	var pyChecks []pyCheck
	verifyAll := func(what string, data []byte, want []sigTags) {
		t.Helper()
		var sigs []sigTags
		for _, f := range headerFields(data) {
			if f.name == "dkim-signature" {
				sigs = append(sigs, parseTags(f.value))
			}
		}
		var got []string
		for _, s := range sigs {
			got = append(got, fmt.Sprintf("d=%s s=%s a=%s", s["d"], s["s"], s["a"]))
		}
		if len(sigs) != len(want) {
			t.Errorf("%s: signatures %q, want %d", what, got, len(want))
		}
		for i := range min(len(sigs), len(want)) {
			for k, v := range want[i] {
				if sigs[i][k] != v {
					t.Errorf("%s: signature %d is %s, want %s=%s", what, i, got[i], k, v)
				}
			}
		}
		vs, err := msgauth.VerifyWithOptions(bytes.NewReader(data), &msgauth.VerifyOptions{
			LookupTXT: func(name string) ([]string, error) {
				if r, ok := records[strings.ToLower(strings.TrimSuffix(name, "."))]; ok {
					return []string{r}, nil
				}
				return nil, fmt.Errorf("no TXT record at %s", name)
			},
		})
		if err != nil {
			t.Fatalf("%s: go-msgauth: %v", what, err)
		}
		for i, v := range vs {
			if v.Err != nil {
				t.Errorf("%s: go-msgauth: signature %d (%s): %v", what, i, got[i], v.Err)
			}
		}
		pyChecks = append(pyChecks, pyCheck{what, data, len(sigs)})
		if t.Failed() {
			t.Logf("%s as delivered:\n%s", what, data)
		}
	}
	ours := []sigTags{
		{"d": tenantDomain, "s": rsaSelector, "a": "rsa-sha256"},
		{"d": tenantDomain, "s": ed25519Selector, "a": "ed25519-sha256"},
	}

	msgs := sink.WaitForCount(t, 3, deliveryTimeout)
	seen := map[string]bool{}
	for _, m := range msgs {
		switch m.MessageID {
		case taggedID:
			// Changed by careerrelay (a link replaced the tag): the
			// company's signature would fail, so only ours remain.
			what := fmt.Sprintf("tagged copy to %v", m.Rcpts)
			seen[what] = true
			if bytes.Contains(m.Data, []byte("s="+companySelector+";")) || bytes.Contains(m.Data, []byte("[[career-relay]]")) {
				t.Errorf("%s still holds the company's signature or the tag", what)
			}
			verifyAll(what, m.Data, ours)
		case plainID:
			// Untouched: the company's signature stays below ours, and
			// between them the relay added only its trace fields (Received:
			// and the loop mark X-CareerRelay-Processed:).
			seen["untagged"] = true
			if !bytes.HasSuffix(m.Data, plain) {
				t.Fatalf("the untagged mail changed on the way:\n%s", m.Data)
			}
			var added []string
			for _, f := range headerFields(m.Data[:len(m.Data)-len(plain)]) {
				added = append(added, f.name)
			}
			if want := []string{"dkim-signature", "dkim-signature", "received", "x-careerrelay-processed"}; strings.Join(added, ",") != strings.Join(want, ",") {
				t.Errorf("the relay added %q above the company's signature, want %q", added, want)
			}
			verifyAll("untagged copy", m.Data, append(ours[:2:2], sigTags{"d": tenantDomain, "s": companySelector, "a": "rsa-sha256"}))
		default:
			t.Errorf("unexpected message %q at the sink", m.MessageID)
		}
	}
	for _, w := range []string{fmt.Sprintf("tagged copy to %v", []string{candidate}), fmt.Sprintf("tagged copy to %v", []string{archive}), "untagged"} {
		if !seen[w] {
			t.Errorf("no %s at the sink (got %d messages)", w, len(msgs))
		}
	}

	var batch [][]byte
	for _, c := range pyChecks {
		batch = append(batch, c.data)
	}
	for k, res := range dkimtest.VerifyAll(t, batch, records) {
		c := pyChecks[k]
		if len(res) != c.sigs {
			t.Errorf("%s: python3-dkim saw %d signatures, want %d: %+v", c.what, len(res), c.sigs, res)
		}
		failed := false
		for _, r := range res {
			if !r.OK {
				failed = true
				t.Errorf("%s: python3-dkim: signature %d (d=%s s=%s): %s", c.what, r.Index, r.Domain, r.Selector, r.Error)
			}
		}
		if failed || len(res) != c.sigs {
			t.Logf("%s as delivered:\n%s", c.what, c.data)
		}
	}
}
