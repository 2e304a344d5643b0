package dkim

import (
	"bytes"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/careerrelay/careerrelay/internal/dkimtest"
)

// goldenOutputs are the reviewed outputs of the rewrite golden tests: what
// the pipeline hands to Sign for a tagged copy, in every charset, transfer
// encoding and MIME shape the rewrite package covers.
const goldenOutputs = "../../rewrite/testdata/*.want"

// TestSignGoldenRewriteOutputs signs every golden output of the rewrite
// tests with an RSA-2048 and an Ed25519 key (dual signing, as a tenant
// with both keys is signed) and verifies both signatures with go-msgauth
// and, where it is installed, with python3-dkim.
func TestSignGoldenRewriteOutputs(t *testing.T) {
	files, err := filepath.Glob(goldenOutputs)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 25 {
		t.Fatalf("only %d files match %s", len(files), goldenOutputs)
	}
	s := testSigner(t, "rsa", "ed25519")
	recs := testRecords(t)
	algos := []string{"rsa-sha256", "ed25519-sha256"}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".want")
		t.Run(name, func(t *testing.T) {
			t.Parallel() // python3-dkim takes a process each
			msg, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			from := goldenFromDomain(t, msg)
			signed := sign(t, s, msg, from)
			d := s.Domain(from) // the tenant's first domain when there is no From
			if !bytes.HasSuffix(signed, msg) {
				t.Fatal("signing changed the message's own bytes")
			}
			tags := signatureTags(t, signed)
			for i, v := range mustVerify(t, signed, 2) {
				if v.Domain != d {
					t.Errorf("go-msgauth: signature %d: d=%s, want %s", i, v.Domain, d)
				}
				if tags[i]["a"] != algos[i] {
					t.Errorf("signature %d: a=%s, want %s", i, tags[i]["a"], algos[i])
				}
			}
			t.Run("python3-dkim", func(t *testing.T) {
				res := dkimtest.Verify(t, signed, recs)
				if len(res) != 2 {
					t.Fatalf("python3-dkim saw %d signatures, want 2: %+v", len(res), res)
				}
				for i, r := range res {
					if !r.OK || r.Algo != algos[i] || r.Domain != d {
						t.Errorf("python3-dkim on signature %d: %+v, want a valid %s with d=%s", i, r, algos[i], d)
					}
				}
			})
		})
	}
}

// goldenFromDomain returns the lower-cased domain of msg's From address, or
// "" when msg has no From (a case of the rewrite tests; the pipeline then
// passes "" too, and the signature takes the tenant's first domain).
func goldenFromDomain(t *testing.T, msg []byte) string {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(msg))
	if err != nil {
		t.Fatalf("reading the header: %v", err)
	}
	if m.Header.Get("From") == "" {
		return ""
	}
	a, err := mail.ParseAddress(m.Header.Get("From"))
	if err != nil {
		t.Fatalf("From %q: %v", m.Header.Get("From"), err)
	}
	at := strings.LastIndexByte(a.Address, '@')
	if at < 0 {
		t.Fatalf("From %q has no domain", a.Address)
	}
	return strings.ToLower(a.Address[at+1:])
}
