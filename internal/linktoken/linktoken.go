// Package linktoken mints and verifies the signed tokens of personal links
// (<links.base_url>/c/<token>). A token names a send record and carries no
// personal data; the keys come from links.keys and rotate by id.
package linktoken

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/careerrelay/careerrelay/configs"
)

// A link token is "<key id>.<base64url(send id | mac)>": the id of the HMAC
// key that signed it, a send id that names the send record in the store
// (the second it was made and 64 random bits), and HMAC-SHA256 over both
// truncated to 128 bits. It carries no personal data: without the store, a
// token says nothing of its recipient.
const (
	sendIDLen = 12 // 32 bits of Unix seconds, 64 random bits
	macLen    = 16 // 128 bits of HMAC-SHA256
	// tokenDomain separates these MACs from any other use of the keys.
	tokenDomain = "careerrelay/link/v1"
)

// ErrBadToken is returned for a token that does not verify: malformed,
// signed by an unknown key, or tampered with.
var ErrBadToken = errors.New("linktoken: invalid link token")

// b64 is strict: a token with non-zero padding bits (another spelling of the
// same bytes) does not verify.
var b64 = base64.RawURLEncoding.Strict()

// SendID names one personal link's send record.
type SendID [sendIDLen]byte

// NewSendID returns a new send id: the current Unix second, big-endian,
// then 64 random bits. Ids made later sort after earlier ones (by the
// second), so the store adds each new send record, and records its
// delivery, at the end of its index instead of at a random place: a
// commit then changes the same few pages of the index for all the
// messages in it (issue 19). The random part keeps ids unique and
// unpredictable; the second is no secret (the mail's Date field says as
// much). Ids made before issue 19 are 96 random bits and stay valid.
func NewSendID() SendID {
	var id SendID
	binary.BigEndian.PutUint32(id[:4], uint32(now().Unix()))
	rand.Read(id[4:])
	return id
}

// now is the clock of NewSendID; tests replace it.
var now = time.Now

// String is the send id in hex, as the store keys it.
func (id SendID) String() string { return hex.EncodeToString(id[:]) }

type linkKey struct {
	id     string
	secret []byte
}

// Keys mint and verify link tokens. The first key signs; every key
// verifies, so a key can be retired from signing and still honour the links
// already sent (rotation).
type Keys struct {
	keys []linkKey
}

// NewKeys takes the configured links.keys, in order.
func NewKeys(cfg []configs.LinkKey) (*Keys, error) {
	if len(cfg) == 0 {
		return nil, errors.New("rewrite: no link keys")
	}
	k := &Keys{}
	for _, c := range cfg {
		if c.ID == "" || strings.Contains(c.ID, ".") || len(c.Secret) < configs.MinSecretBytes {
			return nil, fmt.Errorf("rewrite: link key %q unusable", c.ID)
		}
		k.keys = append(k.keys, linkKey{id: c.ID, secret: c.Secret})
	}
	return k, nil
}

func (k linkKey) mac(id SendID) []byte {
	h := hmac.New(sha256.New, k.secret)
	h.Write([]byte(tokenDomain))
	h.Write([]byte{0})
	h.Write([]byte(k.id))
	h.Write([]byte{0})
	h.Write(id[:])
	return h.Sum(nil)[:macLen]
}

// Mint returns the token of send id, signed with the first key.
func (k *Keys) Mint(id SendID) string {
	key := k.keys[0]
	var raw [sendIDLen + macLen]byte
	copy(raw[:], id[:])
	copy(raw[sendIDLen:], key.mac(id))
	return key.id + "." + b64.EncodeToString(raw[:])
}

// Verify returns the send id of a token minted by any configured key, or
// ErrBadToken.
func (k *Keys) Verify(token string) (SendID, error) {
	var id SendID
	kid, enc, ok := strings.Cut(token, ".")
	if !ok || b64.DecodedLen(len(enc)) != sendIDLen+macLen {
		return id, ErrBadToken
	}
	raw, err := b64.DecodeString(enc)
	if err != nil || len(raw) != sendIDLen+macLen {
		return id, ErrBadToken
	}
	copy(id[:], raw[:sendIDLen])
	for _, key := range k.keys {
		if subtle.ConstantTimeCompare([]byte(key.id), []byte(kid)) == 1 {
			if hmac.Equal(key.mac(id), raw[sendIDLen:]) {
				return id, nil
			}
			return SendID{}, ErrBadToken
		}
	}
	return SendID{}, ErrBadToken
}
