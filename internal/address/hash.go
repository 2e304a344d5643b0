package address

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"sync/atomic"
)

// IdentityHash is the keyed hash that stands in for a candidate once their
// address is erased: hex of the first 16 bytes of HMAC-SHA256(key,
// Identity(addr)). Two spellings of one mailbox have the same hash, so a
// candidate still counts once; without the key, an address cannot be
// tested against it.
func IdentityHash(key []byte, addr string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("identity\x00"))
	m.Write([]byte(Identity(addr)))
	return hex.EncodeToString(m.Sum(nil)[:16])
}

// logKey is the key of LogHash; a random one until SetLogKey is called.
var logKey atomic.Pointer[[]byte]

func init() {
	k := make([]byte, 32)
	rand.Read(k)
	logKey.Store(&k)
}

// SetLogKey sets the key of LogHash: the privacy hash key, so that the
// hashes of one address match across restarts and nodes. Until it is
// called (tests, tools), a random key of the process is used.
func SetLogKey(key []byte) {
	k := append([]byte(nil), key...)
	logKey.Store(&k)
}

// LogHash is how logs name an address: 12 hex digits of a keyed hash of
// the lower-cased address, enough to correlate log lines, not to read the
// address or to test a guess at it without the key.
func LogHash(addr string) string {
	m := hmac.New(sha256.New, *logKey.Load())
	m.Write([]byte("log\x00"))
	m.Write([]byte(strings.ToLower(strings.TrimSpace(addr))))
	return hex.EncodeToString(m.Sum(nil)[:6])
}
