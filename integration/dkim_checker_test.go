package integration

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"

	msgauth "github.com/emersion/go-msgauth/dkim"
)

// TestDKIMCheckSaysNo checks the end-of-test DKIM check itself (no relay
// runs): it passes mail signed as the relay signs, and fails mail that is
// unsigned, signed in the wrong order or domain, changed after signing,
// has a field added above the signatures, or, from no tenant, carries a
// signature of ours.
func TestDKIMCheckSaysNo(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c := baseConfig(t, dir, "127.0.0.1:1")
	pol := &dkimPolicy{records: map[string]string{}}
	if err := pol.add(c, dir); err != nil {
		t.Fatal(err)
	}
	keys, err := tenantKeys()
	if err != nil {
		t.Fatal(err)
	}
	signer := func(algo string) crypto.Signer {
		b, _ := pem.Decode(keys[algo])
		k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		return k.(crypto.Signer)
	}
	sign := func(msg []byte, domain, selector, algo string) []byte {
		var b bytes.Buffer
		err := msgauth.Sign(&b, bytes.NewReader(msg), &msgauth.SignOptions{
			Domain: domain, Selector: selector, Signer: signer(algo),
			HeaderCanonicalization: msgauth.CanonicalizationRelaxed,
			BodyCanonicalization:   msgauth.CanonicalizationRelaxed,
			HeaderKeys:             []string{"from", "from", "to", "subject", "subject"},
		})
		if err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	// signedAs signs as the relay does: Ed25519 first, so RSA ends on top.
	signedAs := func(msg []byte, domain string) []byte {
		return sign(sign(msg, domain, ed25519Selector, "ed25519"), domain, rsaSelector, "rsa")
	}
	msg, _ := newMessage(tenantSender, candidate, "check", "お祈り申し上げます。")
	good := signedAs(msg, tenantDomain)

	stranger, _ := newMessage("someone@stranger.example", candidate, "x", "hello")
	for _, tc := range []struct {
		name    string
		from    string
		data    []byte
		above   []string
		problem string // "" when the check must pass
	}{
		{"signed as the relay signs", tenantSender, good, nil, ""},
		{"tenant found by From under the null sender", "", good, nil, ""},
		{"capture fields above", tenantSender, append([]byte("Return-Path: <"+tenantSender+">\r\nDelivered-To: "+candidate+"\r\n"), good...), captureAdds, ""},
		{"unsigned", tenantSender, msg, nil, "no signature 0"},
		{"one signature", tenantSender, sign(msg, tenantDomain, rsaSelector, "rsa"), nil, "no signature 1"},
		{"wrong order", tenantSender, sign(sign(msg, tenantDomain, rsaSelector, "rsa"), tenantDomain, ed25519Selector, "ed25519"), nil, "want d=acme.example s=cr2026 a=rsa-sha256"},
		{"wrong domain", tenantSender, signedAs(msg, "acme-mail.example"), nil, "d=acme-mail.example"},
		{"body changed", tenantSender, bytes.Replace(good, []byte("お祈り"), []byte("おいのり"), 1), nil, "body hash"},
		{"Subject added", tenantSender, bytes.Replace(good, []byte("From: "), []byte("Subject: added\r\nFrom: "), 1), nil, "go-msgauth: signature 0"},
		{"field added above", tenantSender, append([]byte("X-Added: 1\r\n"), good...), nil, "x-added: is above the signatures"},
		{"no tenant, unsigned", "someone@stranger.example", stranger, nil, ""},
		{"no tenant, signed by us", "someone@stranger.example", signedAs(stranger, tenantDomain), nil, "carries signature 0 of ours"},
	} {
		problems := pol.check(t, tc.from, tc.data, tc.above, true)
		all := strings.Join(problems, "\n")
		switch {
		case tc.problem == "" && len(problems) > 0:
			t.Errorf("%s: the check fails:\n%s", tc.name, all)
		case tc.problem != "" && !strings.Contains(all, tc.problem):
			t.Errorf("%s: the check says %q, want a problem with %q", tc.name, all, tc.problem)
		}
	}
}
