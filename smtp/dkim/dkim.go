// Package dkim signs a tenant's outgoing mail with its DKIM keys (RFC 6376,
// RFC 8463), makes keys and their DNS records, and checks that the records
// published in DNS match the configured keys.
//
// The signatures are made by go-msgauth's dkim.NewSigner; this package adds
// careerrelay's policy on top: relaxed/relaxed, SHA-256, an explicit
// oversigned header list, d= following From, one signature per key.
// go-msgauth takes t= from its own clock (time.Now, not injectable), so
// signed bytes depend on the second they were made. go-msgauth's Verify, and
// python3-dkim where it is installed, are the verifiers the tests check
// against.
package dkim

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/careerrelay/careerrelay/configs"
	msgauth "github.com/emersion/go-msgauth/dkim"
)

// oversigned header fields are listed in h= once more than they occur, so
// that a verifier fails when one more of them is added after signing.
var oversigned = [...]string{"from", "to", "subject", "date", "message-id", "mime-version", "content-type"}

// signedIfPresent header fields are listed in h= as often as they occur.
var signedIfPresent = [...]string{"cc", "reply-to", "in-reply-to", "references", "content-transfer-encoding"}

// nKinds is the number of header field names the signature covers; the kind
// of a field is its index in oversigned followed by signedIfPresent.
const nKinds = len(oversigned) + len(signedIfPresent)

// kindName returns the lower-case name of kind k.
func kindName(k int) string {
	if k < len(oversigned) {
		return oversigned[k]
	}
	return signedIfPresent[k-len(oversigned)]
}

// Signer signs the mail of one tenant with each of its keys. It is safe for
// concurrent use. A nil *Signer, or one made for a tenant without keys,
// returns messages unchanged.
type Signer struct {
	domains []string // the tenant's domains, as configured
	keys    []key
}

// Keys is the number of signatures Sign adds (0 for a nil Signer).
func (s *Signer) Keys() int {
	if s == nil {
		return 0
	}
	return len(s.keys)
}

// key is one configured signing key.
type key struct {
	selector string
	signer   crypto.Signer // RSA or Ed25519; RSA through OpenSSL where FastSigner could
	impl     string        // ImplOpenSSL or ImplGo
}

// NewSigner returns the signer of tenant t (as loaded by configs.Load, which
// parses and checks the keys). A nil t, or a tenant without DKIM keys, gives
// a Signer that does not sign.
//
// RSA keys sign through OpenSSL where it loads (see Crypto and
// FastSigner): NewSigner is where the choice is made, once per key.
//
// now is not used: go-msgauth sets t= from time.Now and offers no way to
// change its clock. The parameter stays so that callers need not change.
func NewSigner(t *configs.Tenant, now func() time.Time) (*Signer, error) {
	return newSigner(t, Crypto())
}

// newSigner is NewSigner with RSA keys signed by the implementation info
// names.
func newSigner(t *configs.Tenant, info CryptoInfo) (*Signer, error) {
	s := &Signer{}
	if t == nil || len(t.DKIM) == 0 {
		return s, nil
	}
	if len(t.Domains) == 0 {
		return nil, fmt.Errorf("dkim: tenant %s has keys but no domain to sign as", t.ID)
	}
	for _, d := range t.Domains {
		s.domains = append(s.domains, strings.TrimSuffix(d, "."))
	}
	for _, k := range t.DKIM {
		if k.Selector == "" {
			return nil, fmt.Errorf("dkim: tenant %s: a key without a selector", t.ID)
		}
		if k.Signer == nil {
			return nil, fmt.Errorf("dkim: tenant %s: selector %s: key %s is not loaded", t.ID, k.Selector, k.KeyFile)
		}
		switch pub := k.Signer.Public().(type) {
		case *rsa.PublicKey, ed25519.PublicKey:
		default:
			return nil, fmt.Errorf("dkim: tenant %s: selector %s: unsupported key type %T", t.ID, k.Selector, pub)
		}
		signer, impl := fastSigner(k.Signer, info)
		s.keys = append(s.keys, key{selector: k.Selector, signer: signer, impl: impl})
	}
	return s, nil
}

// Impls returns the implementation signing with each key, in the order
// configured: ImplOpenSSL or ImplGo (always ImplGo for Ed25519 keys).
func (s *Signer) Impls() []string {
	if s == nil {
		return nil
	}
	out := make([]string, len(s.keys))
	for i, k := range s.keys {
		out[i] = k.impl
	}
	return out
}

// Domain returns the d= the signer uses for mail whose From header has
// fromDomain: fromDomain itself (as the tenant's config spells it) when it
// is one of the tenant's domains, so that the signature aligns with From
// for DMARC, else the tenant's first domain. It returns "" when s does not
// sign.
func (s *Signer) Domain(fromDomain string) string {
	if s == nil || len(s.keys) == 0 {
		return ""
	}
	fromDomain = strings.TrimSuffix(fromDomain, ".")
	for _, d := range s.domains {
		if strings.EqualFold(d, fromDomain) {
			return d
		}
	}
	return s.domains[0]
}

// Sign returns msg with one DKIM-Signature header field per key prepended
// (dual signing when the tenant has an RSA and an Ed25519 key), topmost the
// first key configured, computed over msg exactly as given: call it last,
// after every change to the copy. msg is not modified; when s does not
// sign, msg itself is returned.
//
// fromDomain is the domain of the address in msg's From header (not the
// envelope sender); Sign does not parse From itself, since the caller has
// already parsed it to pick the tenant. See Domain for how d= follows it.
//
// Signatures are go-msgauth's: relaxed/relaxed, SHA-256, without l=, with
// t= the time of signing (go-msgauth's clock), and cover From, To, Subject,
// Date, Message-ID, MIME-Version and Content-Type oversigned, plus Cc,
// Reply-To, In-Reply-To, References and Content-Transfer-Encoding where
// present.
//
// msg must have CRLF line endings (the pipeline normalises bare CR and LF
// before signing); a bare LF is read as a line end, as verifiers do.
func (s *Signer) Sign(msg []byte, fromDomain string) ([]byte, error) {
	sigs, err := s.Signatures(msg, fromDomain)
	if err != nil {
		return nil, err
	}
	if len(sigs) == 0 {
		return msg, nil
	}
	out := make([]byte, 0, len(sigs)+len(msg))
	return append(append(out, sigs...), msg...), nil
}

// Signatures returns the DKIM-Signature header fields (each with its CRLF)
// that Sign would prepend to msg, without copying msg: a caller that
// writes a large message to a file writes them, then msg. It returns nil
// when s does not sign.
func (s *Signer) Signatures(msg []byte, fromDomain string) ([]byte, error) {
	if s == nil || len(s.keys) == 0 {
		return nil, nil
	}
	var fieldArr [64]field
	fields, bodyStart := parseHeader(msg, fieldArr[:0])
	// go-msgauth fails ("failed to read header: EOF") on a message whose
	// header does not end with an empty line. Such a message has an empty
	// body, and empty lines at the end of a body count for nothing in
	// relaxed canonicalisation: feeding two more line ends after it changes
	// neither bh= nor the header fields signed.
	var tail []byte
	if bodyStart == len(msg) {
		tail = []byte("\r\n\r\n")
	}
	opts := s.options(fields, fromDomain)
	var sigs []byte
	for _, k := range s.keys {
		o := opts
		o.Selector, o.Signer = k.selector, k.signer
		sig, err := signOne(&o, msg, tail)
		if err != nil {
			return nil, fmt.Errorf("dkim: signing with selector %s: %w", k.selector, err)
		}
		sigs = append(sigs, sig...)
	}
	return sigs, nil
}

// signOne returns the DKIM-Signature field (with its CRLF) that go-msgauth
// computes over msg followed by tail, with options o.
func signOne(o *msgauth.SignOptions, msg, tail []byte) (string, error) {
	sigs, err := signAll([]msgauth.SignOptions{*o}, bytes.NewReader(msg), tail)
	if err != nil {
		return "", err
	}
	return sigs[0], nil
}

// signAll returns the DKIM-Signature fields that go-msgauth computes over
// r followed by tail, one per options, reading r once.
func signAll(opts []msgauth.SignOptions, r io.Reader, tail []byte) ([]string, error) {
	ws := make([]*msgauth.Signer, 0, len(opts))
	// Close must always be called: it ends go-msgauth's goroutine.
	defer func() {
		for _, w := range ws {
			w.Close()
		}
	}()
	dst := make([]io.Writer, 0, len(opts))
	for i := range opts {
		w, err := msgauth.NewSigner(&opts[i])
		if err != nil {
			return nil, err
		}
		ws = append(ws, w)
		dst = append(dst, w)
	}
	out := io.MultiWriter(dst...)
	_, err := io.Copy(out, r)
	if err == nil && len(tail) > 0 {
		_, err = out.Write(tail)
	}
	if err != nil {
		return nil, err
	}
	sigs := make([]string, len(ws))
	for i, w := range ws {
		if err := w.Close(); err != nil {
			return nil, err
		}
		sigs[i] = w.Signature()
	}
	ws = ws[:0]
	return sigs, nil
}

// SignaturesFrom is Signatures for a message read from r (a large copy
// rendered into a file), whose header section is header: r is read once,
// for all keys at the same time. It returns nil, without reading r, when s
// does not sign.
func (s *Signer) SignaturesFrom(header []byte, r io.Reader, fromDomain string) ([]byte, error) {
	if s == nil || len(s.keys) == 0 {
		return nil, nil
	}
	var fieldArr [64]field
	fields, bodyStart := parseHeader(header, fieldArr[:0])
	var tail []byte
	if bodyStart == len(header) && !bytes.HasSuffix(header, []byte("\n\n")) && !bytes.HasSuffix(header, []byte("\r\n\r\n")) {
		tail = []byte("\r\n\r\n") // see Signatures
	}
	opts := make([]msgauth.SignOptions, len(s.keys))
	for i, k := range s.keys {
		opts[i] = s.options(fields, fromDomain)
		opts[i].Selector, opts[i].Signer = k.selector, k.signer
	}
	sigs, err := signAll(opts, r, tail)
	if err != nil {
		return nil, fmt.Errorf("dkim: signing: %w", err)
	}
	return []byte(strings.Join(sigs, "")), nil
}

// options are the signing options of s for a message with header fields
// fields, before the key's selector and signer.
func (s *Signer) options(fields []field, fromDomain string) msgauth.SignOptions {
	return msgauth.SignOptions{
		Domain:                 s.Domain(fromDomain),
		Hash:                   crypto.SHA256,
		HeaderCanonicalization: msgauth.CanonicalizationRelaxed,
		BodyCanonicalization:   msgauth.CanonicalizationRelaxed,
		HeaderKeys:             headerKeys(fields),
	}
}

// headerKeys returns the h= list for a message with header fields fields:
// each oversigned name once more than it occurs, each signedIfPresent name
// as often as it occurs, in the order of oversigned then signedIfPresent.
// go-msgauth signs the n-th listing of a name over the n-th field of that
// name from the bottom, and nothing for a listing beyond the last one.
func headerKeys(fields []field) []string {
	var counts [nKinds]int
	for _, f := range fields {
		if f.kind >= 0 {
			counts[f.kind]++
		}
	}
	for k := range oversigned {
		counts[k]++
	}
	n := 0
	for _, c := range counts {
		n += c
	}
	keys := make([]string, 0, n)
	for k := range nKinds {
		for range counts[k] {
			keys = append(keys, kindName(k))
		}
	}
	return keys
}
