// Package dkim signs a tenant's outgoing mail with its DKIM keys (RFC 6376,
// RFC 8463), makes keys and their DNS records, and checks that the records
// published in DNS match the configured keys.
//
// Signing is done here rather than by go-msgauth's Signer for two reasons:
// go-msgauth takes t= from its own unexported clock (ours must be injectable
// so that tests and the pipeline are deterministic), and it copies the
// message through a pipe and a goroutine, which is wasteful when every
// recipient's copy is signed. go-msgauth's Verify, and python3-dkim where it
// is installed, are the independent verifiers the tests check against.
package dkim

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/careerrelay/careerrelay/configs"
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
	now     func() time.Time
}

// key is one configured signing key.
type key struct {
	selector string
	algo     string // a= value: rsa-sha256 or ed25519-sha256
	signer   crypto.Signer
	hash     crypto.Hash // passed to signer.Sign: SHA256 for RSA, 0 for Ed25519
	sigLen   int         // length of a signature in bytes
}

// NewSigner returns the signer of tenant t (as loaded by configs.Load, which
// parses and checks the keys). now gives t=; nil means time.Now. A nil t, or
// a tenant without DKIM keys, gives a Signer that does not sign.
func NewSigner(t *configs.Tenant, now func() time.Time) (*Signer, error) {
	if now == nil {
		now = time.Now
	}
	s := &Signer{now: now}
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
		kk := key{selector: k.Selector, signer: k.Signer}
		switch pub := k.Signer.Public().(type) {
		case *rsa.PublicKey:
			kk.algo, kk.hash, kk.sigLen = "rsa-sha256", crypto.SHA256, pub.Size()
		case ed25519.PublicKey:
			kk.algo, kk.hash, kk.sigLen = "ed25519-sha256", 0, ed25519.SignatureSize
		default:
			return nil, fmt.Errorf("dkim: tenant %s: selector %s: unsupported key type %T", t.ID, k.Selector, pub)
		}
		s.keys = append(s.keys, kk)
	}
	return s, nil
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
// (dual signing when the tenant has an RSA and an Ed25519 key), computed
// over msg exactly as given: call it last, after every change to the copy.
// msg is not modified; when s does not sign, msg itself is returned.
//
// fromDomain is the domain of the address in msg's From header (not the
// envelope sender); Sign does not parse From itself, since the caller has
// already parsed it to pick the tenant. See Domain for how d= follows it.
//
// Signatures are relaxed/relaxed, SHA-256, without l=, with t= from the
// signer's clock, and cover From, To, Subject, Date, Message-ID,
// MIME-Version and Content-Type oversigned, plus Cc, Reply-To,
// In-Reply-To, References and Content-Transfer-Encoding where present.
//
// msg must have CRLF line endings (the pipeline normalises bare CR and LF
// before signing); a bare LF is read as a line end, as verifiers do.
func (s *Signer) Sign(msg []byte, fromDomain string) ([]byte, error) {
	if s == nil || len(s.keys) == 0 {
		return msg, nil
	}
	var fieldArr [64]field
	fields, bodyStart := parseHeader(msg, fieldArr[:0])

	var counts [nKinds]int
	for _, f := range fields {
		if f.kind >= 0 {
			counts[f.kind]++
		}
	}
	for k := range oversigned {
		counts[k]++
	}

	scratch := make([]byte, 0, scratchSize)
	h := sha256.New()
	scratch = hashBody(h, msg[bodyStart:], scratch)
	var bhArr, sum [sha256.Size]byte
	bh := h.Sum(bhArr[:0])

	// The canonical signed header fields, the same for every key.
	for k := 0; k < nKinds; k++ {
		n := counts[k]
		for i := len(fields) - 1; i >= 0 && n > 0; i-- {
			if fields[i].kind == int8(k) {
				scratch = appendRelaxedHeader(scratch, msg[fields[i].start:fields[i].end])
				n--
			}
		}
	}
	canonHeaders := len(scratch)

	domain := s.Domain(fromDomain)
	t := strconv.FormatInt(s.now().Unix(), 10)
	size := 0
	for _, k := range s.keys {
		size += 300 + len(domain) + len(k.selector) + 16*nKinds + base64.StdEncoding.EncodedLen(k.sigLen)*76/72
	}
	sigs := make([]byte, 0, size)
	for _, k := range s.keys {
		start := len(sigs)
		w := appendSignaturePrefix(sigs, k, domain, t, &counts, bh)
		scratch = appendRelaxedHeader(scratch[:canonHeaders], w.b[start:])
		scratch = scratch[:len(scratch)-2] // the signature field is hashed without its CRLF
		h.Reset()
		h.Write(scratch)
		digest := h.Sum(sum[:0])
		sig, err := k.signer.Sign(rand.Reader, digest, k.hash)
		if err != nil {
			return nil, fmt.Errorf("dkim: signing with selector %s: %w", k.selector, err)
		}
		w.base64Folded(sig)
		sigs = append(w.b, "\r\n"...)
	}
	out := make([]byte, 0, len(sigs)+len(msg))
	return append(append(out, sigs...), msg...), nil
}

// scratchSize is the initial size of Sign's scratch buffer: the body is
// canonicalised through it in pieces, and it grows to hold the canonical
// signed header fields when they are longer.
const scratchSize = 4096

// appendSignaturePrefix appends a DKIM-Signature field up to and including
// its empty "b=", folded at 76 columns, and returns the folder to go on.
func appendSignaturePrefix(b []byte, k key, domain, t string, counts *[nKinds]int, bh []byte) folder {
	w := folder{b: append(b, "DKIM-Signature:"...), col: len("DKIM-Signature:")}
	w.token(" ", "v=1;")
	w.token(" ", "a=", k.algo, ";")
	w.token(" ", "c=relaxed/relaxed;")
	w.token(" ", "d=", domain, ";")
	w.token(" ", "s=", k.selector, ";")
	w.token(" ", "t=", t, ";")
	left := 0
	for _, n := range counts {
		left += n
	}
	sep, pre := " ", "h="
	for kind := 0; kind < nKinds; kind++ {
		for range counts[kind] {
			left--
			end := ""
			if left == 0 {
				end = ";"
			}
			w.token(sep, pre, kindName(kind), end)
			sep, pre = "", ":"
		}
	}
	var enc [(sha256.Size + 2) / 3 * 4]byte // base64 of a SHA-256 sum
	base64.StdEncoding.Encode(enc[:], bh)
	w.token(" ", "bh=", string(enc[:]), ";")
	w.token(" ", "b=")
	return w
}

// folder appends tokens to a header field, starting a continuation line
// (CRLF TAB) before a token that would pass column 76.
type folder struct {
	b   []byte
	col int
}

// maxCol is the column a folded signature line stays within.
const maxCol = 76

func (w *folder) token(sep string, parts ...string) {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	if w.col+len(sep)+n > maxCol && w.col > 1 {
		w.b = append(w.b, "\r\n\t"...)
		w.col = 1
	} else {
		w.b = append(w.b, sep...)
		w.col += len(sep)
	}
	for _, p := range parts {
		w.b = append(w.b, p...)
	}
	w.col += n
}

// base64Folded appends data in base64, folded to stay within maxCol.
func (w *folder) base64Folded(data []byte) {
	var arr [1024]byte
	enc := arr[:]
	if n := base64.StdEncoding.EncodedLen(len(data)); n <= len(arr) {
		enc = arr[:n]
	} else {
		enc = make([]byte, n)
	}
	base64.StdEncoding.Encode(enc, data)
	for len(enc) > 0 {
		room := maxCol - w.col
		if room < 8 {
			w.b = append(w.b, "\r\n\t"...)
			w.col, room = 1, maxCol-1
		}
		m := min(room, len(enc))
		w.b = append(w.b, enc[:m]...)
		w.col += m
		enc = enc[m:]
	}
}
