package dkim

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/careerrelay/careerrelay/configs"
	"github.com/careerrelay/careerrelay/internal/durable"
)

// MaxRSABits is the largest RSA key GenerateKey makes: larger keys make
// records that some DNS hosting panels refuse, for no gain in practice.
const MaxRSABits = 4096

// GenerateKey makes a new signing key: algo "rsa" with bits between
// configs.MinRSABits and MaxRSABits, or "ed25519" (bits is then ignored).
func GenerateKey(algo string, bits int) (crypto.Signer, error) {
	switch algo {
	case "rsa":
		if bits < configs.MinRSABits || bits > MaxRSABits {
			return nil, fmt.Errorf("dkim: an RSA key of %d bits: use %d to %d bits", bits, configs.MinRSABits, MaxRSABits)
		}
		k, err := rsa.GenerateKey(rand.Reader, bits)
		if err != nil {
			return nil, fmt.Errorf("dkim: generating an RSA key: %w", err)
		}
		return k, nil
	case "ed25519":
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("dkim: generating an Ed25519 key: %w", err)
		}
		return k, nil
	}
	return nil, fmt.Errorf("dkim: unknown key algorithm %q: use rsa or ed25519", algo)
}

// MarshalKey returns key as a PKCS#8 PEM block, the form configs loads for
// both RSA and Ed25519.
func MarshalKey(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("dkim: encoding the key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// WriteKeyFile writes a PEM key to path with mode 0600, durably. It refuses
// to replace an existing file unless force is set: losing a published key
// breaks every signature made with it still in transit.
func WriteKeyFile(path string, pemData []byte, force bool) error {
	if !force {
		if _, err := os.Lstat(path); err == nil {
			return fmt.Errorf("dkim: %s exists; choose another file, or use -force to replace it", path)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("dkim: %w", err)
		}
	}
	if err := durable.WriteFile(path, pemData, 0o600); err != nil {
		return fmt.Errorf("dkim: writing the key: %w", err)
	}
	return nil
}

// TXTRecord returns the DKIM key record (RFC 6376 section 3.6.1) that
// publishes pub: "v=DKIM1; k=rsa; p=<SubjectPublicKeyInfo>" or
// "v=DKIM1; k=ed25519; p=<32 raw bytes>" (RFC 8463), in base64.
func TXTRecord(pub crypto.PublicKey) (string, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		der, err := x509.MarshalPKIXPublicKey(k)
		if err != nil {
			return "", fmt.Errorf("dkim: encoding the public key: %w", err)
		}
		return "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der), nil
	case ed25519.PublicKey:
		return "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(k), nil
	}
	return "", fmt.Errorf("dkim: unsupported public key type %T", pub)
}

// RecordName returns the DNS name a selector's key is published under,
// without a trailing dot: selector._domainkey.domain.
func RecordName(selector, domain string) string {
	return selector + "._domainkey." + strings.TrimSuffix(domain, ".")
}

// maxTXTString is the most octets one character-string of a TXT record
// holds (RFC 1035 section 3.3); a longer record is several strings, which
// resolvers join.
const maxTXTString = 255

// ZoneRecord returns the zone-file line publishing txt for selector and
// domain: `S._domainkey.D. IN TXT ( "..." "..." )`, txt split into strings
// of at most 255 octets.
func ZoneRecord(selector, domain, txt string) string {
	var b strings.Builder
	b.WriteString(RecordName(selector, domain))
	b.WriteString(". IN TXT (")
	for _, s := range SplitTXT(txt) {
		b.WriteString(` "`)
		b.WriteString(strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s))
		b.WriteString(`"`)
	}
	b.WriteString(" )")
	return b.String()
}

// SplitTXT splits txt into the character-strings of a TXT record, each of
// at most 255 octets.
func SplitTXT(txt string) []string {
	var out []string
	for len(txt) > maxTXTString {
		out = append(out, txt[:maxTXTString])
		txt = txt[maxTXTString:]
	}
	return append(out, txt)
}

// record is a parsed DKIM key record.
type record struct {
	pub     crypto.PublicKey // nil when the key is revoked (empty p=)
	testing bool             // t=y: the domain is testing DKIM
}

// parseRecord parses a DKIM key record as a verifier does, and checks that
// it allows what Sign makes: SHA-256 signatures for email.
func parseRecord(txt string) (record, error) {
	var r record
	tags := map[string]string{}
	for i, spec := range strings.Split(txt, ";") {
		if strings.TrimSpace(spec) == "" {
			continue
		}
		k, v, ok := strings.Cut(spec, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" {
			return r, fmt.Errorf("tag %d %q has no name=value", i+1, strings.TrimSpace(spec))
		}
		if _, dup := tags[k]; dup {
			return r, fmt.Errorf("tag %s appears twice", k)
		}
		tags[k] = v
	}
	if v, ok := tags["v"]; ok && v != "DKIM1" {
		return r, fmt.Errorf("v=%s; a key record has v=DKIM1", v)
	}
	p, ok := tags["p"]
	if !ok {
		return r, errors.New("no p= tag (public key)")
	}
	p = strings.Join(strings.Fields(p), "")
	if h, ok := tags["h"]; ok && !listHas(h, "sha256") {
		return r, fmt.Errorf("h=%s does not allow sha256", h)
	}
	if s, ok := tags["s"]; ok && !listHas(s, "email") && !listHas(s, "*") {
		return r, fmt.Errorf("s=%s does not allow email", s)
	}
	r.testing = listHas(tags["t"], "y")
	if p == "" {
		return r, nil
	}
	der, err := base64.StdEncoding.DecodeString(p)
	if err != nil {
		return r, fmt.Errorf("p= is not base64: %v", err)
	}
	switch k := tags["k"]; k {
	case "", "rsa":
		pub, err := x509.ParsePKIXPublicKey(der)
		if err != nil {
			// RFC 6376 says RSAPublicKey; practice is SubjectPublicKeyInfo.
			// Verifiers accept both (erratum 3017).
			if pub, err = x509.ParsePKCS1PublicKey(der); err != nil {
				return r, fmt.Errorf("p= is not an RSA public key: %v", err)
			}
		}
		rk, ok := pub.(*rsa.PublicKey)
		if !ok {
			return r, fmt.Errorf("k=rsa but p= holds a %T", pub)
		}
		r.pub = rk
	case "ed25519":
		if len(der) != ed25519.PublicKeySize {
			return r, fmt.Errorf("p= is %d bytes; an Ed25519 key is %d", len(der), ed25519.PublicKeySize)
		}
		r.pub = ed25519.PublicKey(der)
	default:
		return r, fmt.Errorf("k=%s is not rsa or ed25519", k)
	}
	return r, nil
}

// listHas reports whether the colon-separated tag list has item.
func listHas(list, item string) bool {
	for _, s := range strings.Split(list, ":") {
		if strings.TrimSpace(s) == item {
			return true
		}
	}
	return false
}

// keyDesc describes a public key for messages: its kind and the start of
// the SHA-256 of its DER form, enough to tell two keys apart.
func keyDesc(pub crypto.PublicKey) string {
	kind := fmt.Sprintf("a %T key", pub)
	switch k := pub.(type) {
	case *rsa.PublicKey:
		kind = fmt.Sprintf("an RSA-%d key", k.N.BitLen())
	case ed25519.PublicKey:
		kind = "an Ed25519 key"
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return kind
	}
	sum := sha256.Sum256(der)
	return fmt.Sprintf("%s (SHA256:%s)", kind, base64.RawStdEncoding.EncodeToString(sum[:6]))
}
