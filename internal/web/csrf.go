package web

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/careerrelay/careerrelay/configs"
)

// The consent form's CSRF token needs no server state. The hidden field
// "csrf" is "<issued>.<mac>": the Unix second the form was rendered and
// base64url(HMAC-SHA256(k, domain | link token | issued)) cut to 128 bits,
// where k = HMAC-SHA256(link key secret, csrfDomain). So a token is good
// for one link only, for csrfMaxAge, and only when made by this server. The
// first link key signs and every key verifies, as for the links themselves,
// so a key rotation does not spoil forms already open. POSTs that a browser
// marks as coming from another site (Sec-Fetch-Site) are refused as well.
const (
	csrfDomain = "careerrelay/csrf/v1"
	csrfMACLen = 16
	// csrfMaxAge is how long a rendered form can be submitted: a candidate
	// may read the page and come back later in the day.
	csrfMaxAge = 24 * time.Hour
	// csrfSkew tolerates a form issued by a server whose clock is ahead.
	csrfSkew = time.Minute
)

var errCSRF = errors.New("web: bad or expired form token")

type csrfKeys [][]byte

func newCSRFKeys(keys []configs.LinkKey) (csrfKeys, error) {
	if len(keys) == 0 {
		return nil, errors.New("web: no links.keys to derive the form key from")
	}
	out := make(csrfKeys, len(keys))
	for i, k := range keys {
		if len(k.Secret) == 0 {
			return nil, errors.New("web: links.keys[" + strconv.Itoa(i) + "] has no secret")
		}
		h := hmac.New(sha256.New, k.Secret)
		h.Write([]byte(csrfDomain))
		out[i] = h.Sum(nil)
	}
	return out, nil
}

func csrfMAC(key []byte, linkToken string, issued int64) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(csrfDomain))
	h.Write([]byte{0})
	h.Write([]byte(linkToken))
	h.Write([]byte{0})
	h.Write([]byte(strconv.FormatInt(issued, 10)))
	return h.Sum(nil)[:csrfMACLen]
}

// mint returns the form token for linkToken at now.
func (k csrfKeys) mint(linkToken string, now time.Time) string {
	issued := now.Unix()
	return strconv.FormatInt(issued, 10) + "." + b64.EncodeToString(csrfMAC(k[0], linkToken, issued))
}

// check verifies a form token for linkToken at now.
func (k csrfKeys) check(token, linkToken string, now time.Time) error {
	ts, enc, ok := strings.Cut(token, ".")
	if !ok || len(ts) > 19 || b64.DecodedLen(len(enc)) != csrfMACLen {
		return errCSRF
	}
	issued, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || strconv.FormatInt(issued, 10) != ts { // one spelling: no "+", no leading 0
		return errCSRF
	}
	mac, err := b64.DecodeString(enc)
	if err != nil {
		return errCSRF
	}
	age := now.Sub(time.Unix(issued, 0))
	if age < -csrfSkew || age > csrfMaxAge {
		return errCSRF
	}
	for _, key := range k {
		if hmac.Equal(mac, csrfMAC(key, linkToken, issued)) {
			return nil
		}
	}
	return errCSRF
}

// b64 is strict: one spelling per MAC.
var b64 = base64.RawURLEncoding.Strict()
