package dkim

import (
	"bytes"
	"testing"
)

// TestSignaturesFromStreamVerify: signatures made by reading the message
// once from a reader, for both keys at the same time, verify as those of
// Signatures do, and cover the same header fields.
func TestSignaturesFromStreamVerify(t *testing.T) {
	s := testSigner(t, "rsa", "ed25519")
	for _, msg := range [][]byte{
		testMessage(4000),
		[]byte("From: hr@acme.example\r\nTo: c@example.net\r\nSubject: no body\r\n"), // no empty line
		[]byte("From: hr@acme.example\r\nTo: c@example.net\r\n\r\n"),
	} {
		header := headerSection(msg)
		sigs, err := s.SignaturesFrom(header, bytes.NewReader(msg), "acme.example")
		if err != nil {
			t.Fatal(err)
		}
		signed := append(sigs, msg...)
		if bytes.Equal(header, msg) && !bytes.HasSuffix(msg, []byte("\r\n\r\n")) {
			// go-msgauth's verifier needs the empty line too
			mustVerify(t, append(signed, "\r\n"...), 2)
		} else {
			mustVerify(t, signed, 2)
		}
		want, _ := s.Signatures(msg, "acme.example")
		if got, wantTags := signatureTags(t, signed), signatureTags(t, append(want, msg...)); got[0]["h"] != wantTags[0]["h"] || got[1]["bh"] != wantTags[1]["bh"] {
			t.Errorf("h= %q bh= %q, Signatures gives %q %q", got[0]["h"], got[1]["bh"], wantTags[0]["h"], wantTags[1]["bh"])
		}
	}
	if sigs, err := testSigner(t).SignaturesFrom(nil, nil, "acme.example"); sigs != nil || err != nil {
		t.Errorf("a signer without keys: %q, %v", sigs, err)
	}
}

// headerSection is msg up to and including the empty line (all of it when
// it has none).
func headerSection(msg []byte) []byte {
	if i := bytes.Index(msg, []byte("\r\n\r\n")); i >= 0 {
		return msg[:i+4]
	}
	return msg
}
