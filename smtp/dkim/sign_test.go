package dkim

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/careerrelay/careerrelay/configs"
	msgauth "github.com/emersion/go-msgauth/dkim"
)

func TestSignVerifiesRSAAndEd25519(t *testing.T) {
	for _, tc := range []struct {
		name  string
		keys  []string
		algos []string
	}{
		{"rsa2048", []string{"rsa"}, []string{"rsa-sha256"}},
		{"ed25519", []string{"ed25519"}, []string{"ed25519-sha256"}},
		{"dual", []string{"rsa", "ed25519"}, []string{"rsa-sha256", "ed25519-sha256"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg := testMessage(4000)
			start := time.Now()
			signed := sign(t, testSigner(t, tc.keys...), msg, "acme.example")
			if !bytes.HasSuffix(signed, msg) {
				t.Fatal("the signed message does not end with the original bytes")
			}
			vs := mustVerify(t, signed, len(tc.keys))
			tags := signatureTags(t, signed)
			for i, v := range vs {
				if v.Domain != "acme.example" {
					t.Errorf("signature %d: d=%s, want acme.example", i, v.Domain)
				}
				checkSignedAt(t, fmt.Sprintf("signature %d", i), v.Time, start)
				if got := tags[i]["a"]; got != tc.algos[i] {
					t.Errorf("signature %d: a=%s, want %s", i, got, tc.algos[i])
				}
				if got := tags[i]["c"]; got != "relaxed/relaxed" {
					t.Errorf("signature %d: c=%s", i, got)
				}
				if got := tags[i]["s"]; got != testSelectors[tc.keys[i]] {
					t.Errorf("signature %d: s=%s", i, got)
				}
				if _, ok := tags[i]["l"]; ok {
					t.Errorf("signature %d has l=", i)
				}
			}
		})
	}
}

func TestSignTimeIsGoMsgauthClock(t *testing.T) {
	// go-msgauth sets t= from time.Now; the clock given to NewSigner is not
	// used (see NewSigner).
	s, err := NewSigner(testTenant("rsa", "ed25519"), func() time.Time { return time.Unix(0, 0) })
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	vs := mustVerify(t, sign(t, s, testMessage(100), "acme.example"), 2)
	for i, v := range vs {
		checkSignedAt(t, fmt.Sprintf("signature %d", i), v.Time, start)
	}
}

// signatureTags returns the tags of each DKIM-Signature of msg, topmost
// first, unfolded.
func signatureTags(t testing.TB, msg []byte) []map[string]string {
	t.Helper()
	fields, _ := parseHeader(msg, nil)
	var out []map[string]string
	for _, f := range fields {
		if !f.isSig {
			continue
		}
		raw := string(msg[f.start:f.end])
		_, v, _ := strings.Cut(raw, ":")
		tags := map[string]string{}
		for _, spec := range strings.Split(v, ";") {
			k, val, ok := strings.Cut(spec, "=")
			if !ok {
				continue
			}
			tags[strings.TrimSpace(k)] = strings.Join(strings.Fields(val), "")
		}
		out = append(out, tags)
	}
	return out
}

func TestSignOversignsHeaderList(t *testing.T) {
	msg := testMessage(200)
	// Two Cc fields and a References field: listed as often as they occur.
	msg = bytes.Replace(msg, []byte("Cc: "), []byte("References: <a@x>\r\n <b@x>\r\ncc: second@example.net\r\nCc: "), 1)
	signed := sign(t, testSigner(t, "ed25519"), msg, "acme.example")
	vs := mustVerify(t, signed, 1)
	got := strings.Join(vs[0].HeaderKeys, ":")
	want := "from:from:to:to:subject:subject:date:date:message-id:message-id:mime-version:mime-version:" +
		"content-type:content-type:cc:cc:references:content-transfer-encoding"
	if got != want {
		t.Errorf("h=%s\nwant %s", got, want)
	}

	// Absent optional fields are not listed; absent oversigned ones still
	// are, once, so that adding one breaks the signature.
	bare := []byte("From: a@acme.example\r\nX-Other: 1\r\n\r\nhi\r\n")
	vs = mustVerify(t, sign(t, testSigner(t, "rsa"), bare, "acme.example"), 1)
	got = strings.Join(vs[0].HeaderKeys, ":")
	want = "from:from:to:subject:date:message-id:mime-version:content-type"
	if got != want {
		t.Errorf("h=%s\nwant %s", got, want)
	}
}

func TestSignBodyChangeFails(t *testing.T) {
	signed := sign(t, testSigner(t, "rsa", "ed25519"), testMessage(2000), "acme.example")
	changed := bytes.Replace(signed, []byte("Career support"), []byte("Career suppor7"), 1)
	for i, v := range verify(t, changed) {
		if v.Err == nil || !strings.Contains(v.Err.Error(), "body hash did not verify") {
			t.Errorf("signature %d: err %v, want body hash did not verify", i, v.Err)
		}
	}
	appended := append(bytes.Clone(signed), "P.S. one more line\r\n"...)
	for i, v := range verify(t, appended) {
		if v.Err == nil || !strings.Contains(v.Err.Error(), "body hash did not verify") {
			t.Errorf("appended line: signature %d: err %v, want body hash did not verify", i, v.Err)
		}
	}
}

// addHeader inserts field (with its CRLF) into msg's header: at the top
// after the signatures, or at the bottom before the empty line.
func addHeader(msg []byte, field string, top bool) []byte {
	fields, body := parseHeader(msg, nil)
	at := body - 2
	if top {
		at = 0
		for _, f := range fields {
			if f.isSig {
				at = f.end
			}
		}
	}
	out := append(bytes.Clone(msg[:at]), field...)
	return append(out, msg[at:]...)
}

func TestSignAddedHeaderFails(t *testing.T) {
	signed := sign(t, testSigner(t, "rsa", "ed25519"), testMessage(500), "acme.example")
	for _, field := range []string{
		"Subject: =?UTF-8?B?5o6h55So?= (you are hired)\r\n",
		"From: boss@acme.example\r\n",
		"To: someone-else@example.net\r\n",
		"Date: Thu, 2 Apr 2026 09:00:00 +0900\r\n",
		"Message-ID: <other@acme.example>\r\n",
		"MIME-Version: 1.0\r\n",
		"Content-Type: text/html\r\n",
	} {
		for _, top := range []bool{true, false} {
			name := strings.SplitN(field, ":", 2)[0]
			for i, v := range verify(t, addHeader(signed, field, top)) {
				if v.Err == nil || !strings.Contains(v.Err.Error(), "signature did not verify") {
					t.Errorf("second %s (top %v): signature %d: err %v, want signature did not verify", name, top, i, v.Err)
				}
			}
		}
	}
	// A field outside the list does not break the signatures.
	mustVerify(t, addHeader(signed, "X-Spam-Score: 0.1\r\n", false), 2)
	// A changed Subject does.
	changed := bytes.Replace(signed, []byte("Subject: =?UTF-8?B?6YG4"), []byte("Subject: =?UTF-8?B?6YG5"), 1)
	for i, v := range verify(t, changed) {
		if v.Err == nil {
			t.Errorf("changed Subject: signature %d verifies", i)
		}
	}
}

func TestSignRelaxedCanonicalisation(t *testing.T) {
	// What relaxed/relaxed tolerates: refolded header fields, white space
	// changes inside lines and at line ends, empty lines added at the end.
	signed := sign(t, testSigner(t, "rsa", "ed25519"), testMessage(1000), "acme.example")
	mangled := bytes.Replace(signed, []byte("To: candidate@example.net"), []byte("to:\r\n   candidate@example.net   "), 1)
	mangled = bytes.ReplaceAll(mangled, []byte("Career support: "), []byte("Career   support:\t"))
	mangled = bytes.ReplaceAll(mangled, []byte("ました。  \r\n"), []byte("ました。\r\n"))
	mangled = append(mangled, "\r\n\r\n"...)
	mustVerify(t, mangled, 2)
}

func TestSignDomainAlignment(t *testing.T) {
	s := testSigner(t, "ed25519")
	for _, tc := range []struct{ from, want string }{
		{"acme.example", "acme.example"},
		{"ACME.example.", "acme.example"},
		{"acme-mail.example", "Acme-Mail.example"}, // the config's spelling
		{"other.example", "acme.example"},          // not the tenant's: its first domain
		{"", "acme.example"},
	} {
		signed := sign(t, s, testMessage(100), tc.from)
		vs := mustVerify(t, signed, 1)
		if vs[0].Domain != tc.want {
			t.Errorf("From domain %q: d=%s, want %s", tc.from, vs[0].Domain, tc.want)
		}
		if got := s.Domain(tc.from); got != tc.want {
			t.Errorf("Domain(%q) = %s, want %s", tc.from, got, tc.want)
		}
	}
}

func TestSignHeaderOnly(t *testing.T) {
	// go-msgauth's signer fails on a header without the empty line after
	// it; Sign signs such a message with an empty body (python3-dkim
	// verifies it: see TestPythonDKIMVerifies).
	emptyBody := base64.StdEncoding.EncodeToString(sha256Empty[:])
	for _, msg := range []string{
		"From: a@acme.example\r\nSubject: x\r\n",
		"From: a@acme.example\r\nSubject: x",
		"From: a@acme.example\r\nSubject: x\r\n\r\n",
	} {
		signed := sign(t, testSigner(t, "rsa", "ed25519"), []byte(msg), "acme.example")
		if !bytes.HasSuffix(signed, []byte(msg)) {
			t.Errorf("%q: the signed message does not end with it", msg)
		}
		for i, tags := range signatureTags(t, signed) {
			if tags["bh"] != emptyBody {
				t.Errorf("%q: signature %d: bh=%s, want %s", msg, i, tags["bh"], emptyBody)
			}
		}
	}
}

// sha256Empty is the SHA-256 of the empty string, the relaxed body hash of
// an empty body.
var sha256Empty = sha256.Sum256(nil)

func TestSignWithoutKeysReturnsMessage(t *testing.T) {
	msg := testMessage(100)
	var nilSigner *Signer
	noKeys, err := NewSigner(&configs.Tenant{ID: "demo", Domains: []string{"example.jp"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	noTenant, err := NewSigner(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]*Signer{"nil": nilSigner, "no keys": noKeys, "no tenant": noTenant} {
		out, err := s.Sign(msg, "example.jp")
		if err != nil || &out[0] != &msg[0] || len(out) != len(msg) {
			t.Errorf("%s: Sign changed the message (err %v)", name, err)
		}
		if d := s.Domain("example.jp"); d != "" {
			t.Errorf("%s: Domain = %q", name, d)
		}
	}
}

func TestNewSignerErrors(t *testing.T) {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	noDomain := testTenant("rsa")
	noDomain.Domains = nil
	notLoaded := testTenant("rsa")
	notLoaded.DKIM[0].Signer = nil
	ecdsaKey := testTenant("rsa")
	ecdsaKey.DKIM[0].Signer = ec
	for name, tc := range map[string]struct {
		t    *configs.Tenant
		want string
	}{
		"no domain":  {noDomain, "no domain"},
		"not loaded": {notLoaded, "not loaded"},
		"ecdsa":      {ecdsaKey, "unsupported key type"},
	} {
		if _, err := NewSigner(tc.t, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want %q", name, err, tc.want)
		}
	}
}

func TestSignSignatureFieldForm(t *testing.T) {
	// go-msgauth folds between tags and inside b=, never inside a tag
	// value: the h= line passes the 78 columns RFC 5322 recommends, but a
	// line must stay within the 998 it requires.
	signed := sign(t, testSigner(t, "rsa", "ed25519"), testMessage(100), "acme.example")
	fields, _ := parseHeader(signed, nil)
	for i, f := range fields[:2] {
		if !f.isSig {
			t.Fatalf("header field %d is not a DKIM-Signature:\n%s", i, signed[f.start:f.end])
		}
		raw := string(signed[f.start:f.end])
		if !strings.HasSuffix(raw, "\r\n") {
			t.Errorf("signature %d does not end with CRLF: %q", i, raw)
		}
		for j, line := range strings.Split(strings.TrimSuffix(raw, "\r\n"), "\r\n") {
			if len(line) > 998 {
				t.Errorf("signature %d: a line of %d characters", i, len(line))
			}
			if j > 0 && (line == "" || (line[0] != ' ' && line[0] != '\t')) {
				t.Errorf("signature %d: line %d is not a continuation: %q", i, j, line)
			}
		}
	}
	for i, tags := range signatureTags(t, signed) {
		for _, name := range []string{"v", "a", "c", "d", "s", "t", "h", "bh", "b"} {
			if tags[name] == "" {
				t.Errorf("signature %d: no %s=", i, name)
			}
		}
		if tags["v"] != "1" {
			t.Errorf("signature %d: v=%s", i, tags["v"])
		}
		if _, err := strconv.ParseInt(tags["t"], 10, 64); err != nil {
			t.Errorf("signature %d: t=%s: %v", i, tags["t"], err)
		}
	}
}

// afterSignatures returns msg without the DKIM-Signature fields at its top.
func afterSignatures(msg []byte) []byte {
	fields, _ := parseHeader(msg, nil)
	at := 0
	for _, f := range fields {
		if !f.isSig {
			break
		}
		at = f.end
	}
	return msg[at:]
}

// sameSignatures returns an error unless signed copies a and b of one
// message carry the same signatures: only t= and b= may differ between
// them, and b= only when t= does (RSA PKCS#1 v1.5 and Ed25519 signatures
// are deterministic).
func sameSignatures(t testing.TB, a, b []byte) error {
	t.Helper()
	if !bytes.Equal(afterSignatures(a), afterSignatures(b)) {
		return errors.New("the messages under the signatures differ")
	}
	ta, tb := signatureTags(t, a), signatureTags(t, b)
	if len(ta) != len(tb) {
		return fmt.Errorf("%d signatures, then %d", len(ta), len(tb))
	}
	for i := range ta {
		x, y := maps.Clone(ta[i]), maps.Clone(tb[i])
		if x["t"] != y["t"] {
			delete(x, "t")
			delete(y, "t")
			delete(x, "b")
			delete(y, "b")
		}
		if !maps.Equal(x, y) {
			return fmt.Errorf("signature %d differs: %v, then %v", i, ta[i], tb[i])
		}
	}
	return nil
}

func TestSignIsStable(t *testing.T) {
	// Signing the same copy again gives the same signatures but for t=
	// (and so b=), which is the second go-msgauth signed in.
	s := testSigner(t, "rsa", "ed25519")
	a := sign(t, s, testMessage(300), "acme.example")
	b := sign(t, s, testMessage(300), "acme.example")
	if err := sameSignatures(t, a, b); err != nil {
		t.Error(err)
	}
}

func TestStripSignatures(t *testing.T) {
	// A message that arrives signed by the sender's own system.
	old := sign(t, testSigner(t, "rsa2", "ed25519b"), testMessage(500), "acme.example")
	mustVerify(t, old, 2)
	// careerrelay changes the body: the old signatures now fail.
	changed := bytes.Replace(old, []byte("https://careers.example.jp/r/abc123"), []byte("https://careers.example.jp/r/xyz789"), -1)
	stripped := StripSignatures(changed)
	if bytes.Contains(bytes.ToLower(stripped), []byte("dkim-signature")) {
		t.Fatalf("a DKIM-Signature is left:\n%s", stripped)
	}
	if want := bytes.Replace(testMessage(500), []byte("abc123"), []byte("xyz789"), -1); !bytes.Equal(stripped, want) {
		t.Fatalf("StripSignatures changed more than the signatures:\n%s", stripped)
	}
	resigned := sign(t, testSigner(t, "rsa", "ed25519"), stripped, "acme.example")
	vs := mustVerify(t, resigned, 2)
	for _, v := range vs {
		if !strings.HasPrefix(strings.Join(v.HeaderKeys, ":"), "from:from") {
			t.Errorf("h=%v", v.HeaderKeys)
		}
	}

	// Unsigned: the same slice comes back. A body line that looks like a
	// signature is body, not header.
	plain := []byte("From: a@acme.example\r\n\r\nDKIM-Signature: v=1; not a header\r\n")
	if out := StripSignatures(plain); &out[0] != &plain[0] || len(out) != len(plain) {
		t.Error("StripSignatures copied an unsigned message")
	}
	// Any case, folded, between other fields, with LF line ends.
	lf := []byte("Received: x\ndkim-signature : v=1;\n\tb=abc\nFrom: a@acme.example\nDKIM-Signature: v=1\n\n\nbody\n")
	if got, want := string(StripSignatures(lf)), "Received: x\nFrom: a@acme.example\n\n\nbody\n"; got != want {
		t.Errorf("StripSignatures = %q, want %q", got, want)
	}
}

// bodyHashOf returns the bh= of the first signature of msg.
func bodyHashOf(t testing.TB, msg []byte) string {
	fields, _ := parseHeader(msg, nil)
	_, v, _ := strings.Cut(string(msg[fields[0].start:fields[0].end]), "bh=")
	bh, _, _ := strings.Cut(v, ";")
	return strings.Join(strings.Fields(bh), "")
}

// fieldLine matches the first line of a header field.
var fieldLine = regexp.MustCompile(`^[!-9;-~]+:`)

// FuzzSign signs arbitrary messages (in CRLF form, as the pipeline hands
// them over) and checks that go-msgauth verifies them and that bh= is the
// one go-msgauth's own Sign computes over the message as given.
func FuzzSign(f *testing.F) {
	f.Add("Subject: hi\r\n", "body\r\n")
	f.Add("Subject:  a \r\n\tb\r\nTo: x\r\nto: y\r\n", "  \r\n\r\n\t x \t\r\n\r\n")
	f.Add("", "")
	f.Add("X: 1\r\n", strings.Repeat("a b\r\n", 2000))
	s := testSigner(f, "ed25519")
	f.Fuzz(func(t *testing.T, header, body string) {
		header = strings.NewReplacer("\r\n", "\r\n", "\r", "", "\n", "\r\n").Replace(header)
		body = strings.NewReplacer("\r\n", "\r\n", "\r", "", "\n", "\r\n").Replace(body)
		if strings.Contains(header, "\r\n\r\n") || strings.HasPrefix(header, "\r\n") ||
			(header != "" && !strings.HasSuffix(header, "\r\n")) || strings.ContainsAny(header, "\x00") {
			return
		}
		// Header lines must be fields (name: value) or continuations.
		for _, line := range strings.Split(strings.TrimSuffix(header, "\r\n"), "\r\n") {
			if line == "" {
				continue
			}
			if line[0] != ' ' && line[0] != '\t' && !fieldLine.MatchString(line) {
				return
			}
		}
		if header != "" && (header[0] == ' ' || header[0] == '\t') {
			return
		}
		msg := []byte("From: a@acme.example\r\n" + header + "\r\n" + body)
		signed, err := s.Sign(msg, "acme.example")
		if err != nil {
			t.Fatal(err)
		}
		mustVerify(t, signed, 1)

		var ref bytes.Buffer
		err = msgauth.Sign(&ref, bytes.NewReader(msg), &msgauth.SignOptions{
			Domain: "acme.example", Selector: "x", Signer: testKeys()["ed25519"],
			HeaderCanonicalization: msgauth.CanonicalizationRelaxed,
			BodyCanonicalization:   msgauth.CanonicalizationRelaxed,
		})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := bodyHashOf(t, signed), bodyHashOf(t, ref.Bytes()); got != want {
			t.Fatalf("bh=%s, go-msgauth bh=%s", got, want)
		}
		if _, err := base64.StdEncoding.DecodeString(bodyHashOf(t, signed)); err != nil {
			t.Fatal(err)
		}
	})
}

func TestSignConcurrent(t *testing.T) {
	// One Signer per tenant serves every delivery worker.
	s := testSigner(t, "rsa", "ed25519")
	msg := testMessage(2000)
	want := sign(t, s, msg, "acme.example")
	type result struct {
		signed []byte
		err    error
	}
	results := make(chan result, 8)
	for range 8 {
		go func() {
			signed, err := s.Sign(msg, "acme.example")
			results <- result{signed, err}
		}()
	}
	for range 8 {
		r := <-results
		if r.err != nil {
			t.Error(r.err)
			continue
		}
		mustVerify(t, r.signed, 2)
		if err := sameSignatures(t, want, r.signed); err != nil {
			t.Errorf("a concurrent signature: %v", err)
		}
	}
}
