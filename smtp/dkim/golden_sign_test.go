package dkim

import (
	"bytes"
	"fmt"
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
// and, where it is installed, with python3-dkim: all the goldens in one
// python3 process, whose verdicts the subtest of each golden checks.
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

	// Sign them all first, for the one python3-dkim run; a golden that
	// cannot be read or signed fails its own subtest.
	type golden struct {
		name        string
		msg, signed []byte
		from        string
		err         error
		python      []dkimtest.Result
	}
	goldens := make([]*golden, len(files))
	var batch [][]byte
	var inBatch []*golden
	for i, f := range files {
		g := &golden{name: strings.TrimSuffix(filepath.Base(f), ".want")}
		goldens[i] = g
		if g.msg, g.err = os.ReadFile(f); g.err != nil {
			continue
		}
		if g.from, g.err = goldenFromDomain(g.msg); g.err != nil {
			continue
		}
		if g.signed, g.err = s.Sign(g.msg, g.from); g.err != nil {
			continue
		}
		batch = append(batch, g.signed)
		inBatch = append(inBatch, g)
	}
	// Without python3-dkim, each golden's python3-dkim subtest skips (or
	// fails under CI=true) through dkimtest.Python, not the whole test.
	if _, err := dkimtest.Interpreter(); err == nil {
		for k, res := range dkimtest.VerifyAll(t, batch, recs) {
			inBatch[k].python = res
		}
	}

	for _, g := range goldens {
		t.Run(g.name, func(t *testing.T) {
			t.Parallel() // go-msgauth under -race: use every core
			if g.err != nil {
				t.Fatal(g.err)
			}
			d := s.Domain(g.from) // the tenant's first domain when there is no From
			if !bytes.HasSuffix(g.signed, g.msg) {
				t.Fatal("signing changed the message's own bytes")
			}
			tags := signatureTags(t, g.signed)
			for i, v := range mustVerify(t, g.signed, 2) {
				if v.Domain != d {
					t.Errorf("go-msgauth: signature %d: d=%s, want %s", i, v.Domain, d)
				}
				if tags[i]["a"] != algos[i] {
					t.Errorf("signature %d: a=%s, want %s", i, tags[i]["a"], algos[i])
				}
			}
			t.Run("python3-dkim", func(t *testing.T) {
				dkimtest.Python(t)
				res := g.python
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
func goldenFromDomain(msg []byte) (string, error) {
	m, err := mail.ReadMessage(bytes.NewReader(msg))
	if err != nil {
		return "", fmt.Errorf("reading the header: %w", err)
	}
	if m.Header.Get("From") == "" {
		return "", nil
	}
	a, err := mail.ParseAddress(m.Header.Get("From"))
	if err != nil {
		return "", fmt.Errorf("From %q: %w", m.Header.Get("From"), err)
	}
	at := strings.LastIndexByte(a.Address, '@')
	if at < 0 {
		return "", fmt.Errorf("From %q has no domain", a.Address)
	}
	return strings.ToLower(a.Address[at+1:]), nil
}
