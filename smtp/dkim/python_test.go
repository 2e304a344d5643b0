package dkim

import (
	"bytes"
	"strings"
	"testing"

	"github.com/careerrelay/careerrelay/internal/dkimtest"
)

// TestPythonDKIMVerifies checks our signatures with python3-dkim, an
// implementation independent of go-msgauth (which signs them). It needs the
// Debian package python3-dkim, which brings python3-nacl for Ed25519;
// without it the test is skipped, except under CI=true where it fails.
func TestPythonDKIMVerifies(t *testing.T) {
	dkimtest.Python(t)
	recs := testRecords(t)
	s := testSigner(t, "rsa", "ed25519")
	for name, msg := range map[string][]byte{
		"rejection mail": testMessage(10 << 10),
		"empty body":     []byte("From: a@acme.example\r\nTo: b@example.net\r\nSubject: x\r\n\r\n"),
		"no body":        []byte("From: a@acme.example\r\nSubject:   folded\r\n\t subject  \r\n"),
		"odd spacing":    []byte("From: a@acme.example\r\nsubject:  x  \r\n\r\n \t a  b \t\r\n\r\n\r\n"),
	} {
		signed, err := s.Sign(msg, "acme.example")
		if err != nil {
			t.Fatal(err)
		}
		res := dkimtest.Verify(t, signed, recs)
		if len(res) != 2 {
			t.Fatalf("%s: python3-dkim saw %d signatures, want 2: %+v", name, len(res), res)
		}
		for i, want := range []string{"rsa-sha256", "ed25519-sha256"} {
			if r := res[i]; !r.OK || r.Algo != want || r.Domain != "acme.example" {
				t.Errorf("%s: python3-dkim on signature %d: %+v, want a valid %s", name, i, r, want)
			}
		}
	}

	// The harness must also say no: a changed body fails both signatures.
	signed, err := s.Sign(testMessage(1000), "acme.example")
	if err != nil {
		t.Fatal(err)
	}
	changed := bytes.Replace(signed, []byte("abc123"), []byte("abc124"), 1)
	for _, r := range dkimtest.Verify(t, changed, recs) {
		if r.OK || !strings.Contains(r.Error, "body hash mismatch") {
			t.Errorf("python3-dkim on a changed body: %+v, want a body hash mismatch", r)
		}
	}
	// And an added Subject fails both.
	added := addHeader(signed, "Subject: another\r\n", false)
	for _, r := range dkimtest.Verify(t, added, recs) {
		if r.OK {
			t.Errorf("python3-dkim on an added Subject: %+v, want a failure", r)
		}
	}
}
