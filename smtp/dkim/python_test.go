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
	cases := []struct {
		name string
		msg  []byte
	}{
		{"rejection mail", testMessage(10 << 10)},
		{"empty body", []byte("From: a@acme.example\r\nTo: b@example.net\r\nSubject: x\r\n\r\n")},
		{"no body", []byte("From: a@acme.example\r\nSubject:   folded\r\n\t subject  \r\n")},
		{"odd spacing", []byte("From: a@acme.example\r\nsubject:  x  \r\n\r\n \t a  b \t\r\n\r\n\r\n")},
	}
	var batch [][]byte
	for _, c := range cases {
		signed, err := s.Sign(c.msg, "acme.example")
		if err != nil {
			t.Fatal(err)
		}
		batch = append(batch, signed)
	}
	// The harness must also say no: a changed body fails both signatures,
	// and so does an added Subject. All in one python3 process.
	signed, err := s.Sign(testMessage(1000), "acme.example")
	if err != nil {
		t.Fatal(err)
	}
	changed := bytes.Replace(signed, []byte("abc123"), []byte("abc124"), 1)
	added := addHeader(signed, "Subject: another\r\n", false)
	batch = append(batch, changed, added)
	all := dkimtest.VerifyAll(t, batch, recs)

	for k, c := range cases {
		res := all[k]
		if len(res) != 2 {
			t.Fatalf("%s: python3-dkim saw %d signatures, want 2: %+v", c.name, len(res), res)
		}
		for i, want := range []string{"rsa-sha256", "ed25519-sha256"} {
			if r := res[i]; !r.OK || r.Algo != want || r.Domain != "acme.example" {
				t.Errorf("%s: python3-dkim on signature %d: %+v, want a valid %s", c.name, i, r, want)
			}
		}
	}
	for _, no := range []struct {
		what string
		res  []dkimtest.Result
		want string // in the error of each signature; "" for any
	}{
		{"a changed body", all[len(cases)], "body hash mismatch"},
		{"an added Subject", all[len(cases)+1], ""},
	} {
		if len(no.res) != 2 {
			t.Errorf("python3-dkim on %s saw %d signatures, want 2: %+v", no.what, len(no.res), no.res)
		}
		for _, r := range no.res {
			if r.OK || !strings.Contains(r.Error, no.want) {
				t.Errorf("python3-dkim on %s: %+v, want a failure with %q", no.what, r, no.want)
			}
		}
	}
}
