package dkim

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/careerrelay/careerrelay/configs"
	msgauth "github.com/emersion/go-msgauth/dkim"
)

// Throwaway keys, made once per test run.
var testKeys = sync.OnceValue(func() map[string]crypto.Signer {
	r, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	r2, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	_, e, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	_, e2, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	return map[string]crypto.Signer{"rsa": r, "rsa2": r2, "ed25519": e, "ed25519b": e2}
})

// The selectors the test tenant uses for each key.
var testSelectors = map[string]string{"rsa": "cr2026", "ed25519": "cr2026e", "rsa2": "old", "ed25519b": "olde"}

// testTenant returns tenant acme with the named keys (of testKeys).
func testTenant(keys ...string) *configs.Tenant {
	t := &configs.Tenant{ID: "acme", Domains: []string{"acme.example", "Acme-Mail.example"}}
	for _, k := range keys {
		t.DKIM = append(t.DKIM, configs.DKIMKey{Selector: testSelectors[k], KeyFile: k + ".pem", Signer: testKeys()[k]})
	}
	return t
}

// testSigner returns the signer of testTenant(keys...).
func testSigner(t testing.TB, keys ...string) *Signer {
	t.Helper()
	s, err := NewSigner(testTenant(keys...), nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// testRecords returns the TXT records of every test key, under both test
// domains, keyed by name without a trailing dot.
func testRecords(t testing.TB) map[string]string {
	t.Helper()
	recs := map[string]string{}
	for name, k := range testKeys() {
		txt, err := TXTRecord(k.Public())
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range []string{"acme.example", "acme-mail.example"} {
			recs[RecordName(testSelectors[name], d)] = txt
		}
	}
	return recs
}

// verify checks msg's signatures with go-msgauth, looking keys up in
// testRecords.
func verify(t testing.TB, msg []byte) []*msgauth.Verification {
	t.Helper()
	return verifyWith(t, msg, testRecords(t))
}

// verifyWith checks msg's signatures with go-msgauth, looking keys up in
// recs (name without a trailing dot to TXT text).
func verifyWith(t testing.TB, msg []byte, recs map[string]string) []*msgauth.Verification {
	t.Helper()
	vs, err := msgauth.VerifyWithOptions(bytes.NewReader(msg), &msgauth.VerifyOptions{
		LookupTXT: func(name string) ([]string, error) {
			if r, ok := recs[strings.ToLower(strings.TrimSuffix(name, "."))]; ok {
				return []string{r}, nil
			}
			return nil, fmt.Errorf("no TXT record at %s", name)
		},
	})
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	return vs
}

// mustVerify fails t unless msg has n signatures and all verify.
func mustVerify(t testing.TB, msg []byte, n int) []*msgauth.Verification {
	t.Helper()
	vs := verify(t, msg)
	if len(vs) != n {
		t.Fatalf("%d signatures, want %d:\n%s", len(vs), n, msg)
	}
	for i, v := range vs {
		if v.Err != nil {
			t.Fatalf("signature %d (d=%s): %v\n%s", i, v.Domain, v.Err, msg)
		}
	}
	return vs
}

// clockSlack is how far a signature's t= may be from the time Sign ran:
// go-msgauth reads time.Now itself, and the wall clock may be stepped.
const clockSlack = 5 * time.Second

// checkSignedAt fails t unless got, the t= of a signature made after start,
// is no earlier than start and no later than now, give or take clockSlack.
func checkSignedAt(t testing.TB, what string, got, start time.Time) {
	t.Helper()
	if got.IsZero() {
		t.Errorf("%s: no t=", what)
		return
	}
	if now := time.Now(); got.Before(start.Add(-clockSlack)) || got.After(now.Add(clockSlack)) {
		t.Errorf("%s: t=%v, want between %v and %v", what, got, start.Truncate(time.Second), now)
	}
}

// sign signs msg with s, failing t on error.
func sign(t testing.TB, s *Signer, msg []byte, fromDomain string) []byte {
	t.Helper()
	out, err := s.Sign(msg, fromDomain)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// testMessage is a rejection mail of the kind careerrelay relays, in CRLF
// form, with a body of at least bodyBytes (and at least one paragraph).
func testMessage(bodyBytes int) []byte {
	var b bytes.Buffer
	b.WriteString("Received: from hr.acme.example (hr.acme.example [192.0.2.10])\r\n" +
		"\tby relay.example.jp with ESMTPS id 4f1c2a; Wed, 1 Apr 2026 18:29:58 +0900\r\n" +
		"From: =?UTF-8?B?5qCq5byP5Lya56S+44Ki44Kv44Oh?= <recruit@acme.example>\r\n" +
		"To: candidate@example.net\r\n" +
		"Cc: hr-archive@acme.example\r\n" +
		"Subject: =?UTF-8?B?6YG46ICD57WQ5p6c44Gu44GU6YCj57Wh?=\r\n" +
		"Date: Wed, 1 Apr 2026 18:29:55 +0900\r\n" +
		"Message-ID: <20260401092955.4f1c2a@acme.example>\r\n" +
		"MIME-Version: 1.0\r\n" +
		"Content-Type: text/plain; charset=UTF-8\r\n" +
		"Content-Transfer-Encoding: 8bit\r\n" +
		"X-Mailer: ATS 4.2\r\n" +
		"\r\n")
	start := b.Len()
	line := "この度は弊社の求人にご応募いただき、誠にありがとうございました。  \r\n"
	for first := true; first || b.Len()-start < bodyBytes; first = false {
		b.WriteString(line)
		b.WriteString("Career support: https://careers.example.jp/r/abc123\t \r\n\r\n")
	}
	return b.Bytes()
}
