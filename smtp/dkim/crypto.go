package dkim

import (
	"crypto"
	"crypto/rsa"
	"fmt"
	"os"
	"strings"
	"sync"
)

// CryptoEnv names the environment variable that chooses the code making
// RSA signatures: "go" forces Go's crypto/rsa; unset (or "openssl") signs
// through OpenSSL's libcrypto where it loads, else with Go's crypto. Any
// other value is read as "go", the choice that needs nothing outside the
// binary.
const CryptoEnv = "CAREERRELAY_CRYPTO"

// The RSA signing implementations, the values of CryptoInfo.Impl and of the
// impl label of careerrelay_dkim_signer_info.
const (
	ImplOpenSSL = "openssl" // libcrypto, through github.com/golang-fips/openssl/v2
	ImplGo      = "go"      // Go's crypto/rsa
)

// libcrypto is the shared library loaded: OpenSSL 3's (Debian 12's
// libssl3). golang-fips/openssl dlopens it at run time, so neither the
// binary nor its build needs OpenSSL's headers or links it, and a machine
// without it signs with Go's crypto.
const libcrypto = "libcrypto.so.3"

// Impls lists every implementation, in the order of the metric's labels.
var Impls = []string{ImplOpenSSL, ImplGo}

// CryptoInfo tells which implementation signs with RSA keys in this
// process. Ed25519 keys are always signed by Go's crypto/ed25519.
type CryptoInfo struct {
	Impl    string // ImplOpenSSL or ImplGo
	Version string // with ImplOpenSSL: OpenSSL's version text
	Reason  string // with ImplGo: why not OpenSSL
}

// cryptoInfo is chosen once per process, at the first signer made.
var cryptoInfo = sync.OnceValue(func() CryptoInfo {
	return chooseCrypto(os.Getenv(CryptoEnv), loadOpenSSL)
})

// Crypto returns the implementation that signs with RSA keys: OpenSSL when
// this binary was built with cgo, libcrypto loads and CryptoEnv does not
// say "go"; Go's crypto otherwise. The choice is made once, on the first
// call (NewSigner makes it).
func Crypto() CryptoInfo { return cryptoInfo() }

// chooseCrypto picks the implementation for the value env of CryptoEnv,
// with load loading OpenSSL and returning its version text.
func chooseCrypto(env string, load func() (string, error)) CryptoInfo {
	switch v := strings.ToLower(strings.TrimSpace(env)); v {
	case "", ImplOpenSSL:
	case ImplGo:
		return CryptoInfo{Impl: ImplGo, Reason: CryptoEnv + "=go"}
	default:
		return CryptoInfo{Impl: ImplGo, Reason: fmt.Sprintf("%s=%q is neither go nor openssl", CryptoEnv, env)}
	}
	version, err := load()
	if err != nil {
		return CryptoInfo{Impl: ImplGo, Reason: err.Error()}
	}
	return CryptoInfo{Impl: ImplOpenSSL, Version: version}
}

// keyFallbacks records the RSA keys that OpenSSL refused while it was the
// implementation in use; each is signed by Go's crypto instead.
var keyFallbacks struct {
	sync.Mutex
	errs []error
}

// KeyFallbacks returns why OpenSSL, loaded, refused RSA keys that are
// therefore signed by Go's crypto (none, in practice: a key OpenSSL cannot
// hold, or a self-test that did not give Go's signature).
func KeyFallbacks() []error {
	keyFallbacks.Lock()
	defer keyFallbacks.Unlock()
	return append([]error(nil), keyFallbacks.errs...)
}

// FastSigner returns the signer to sign with k, and its implementation:
// for an RSA key while Crypto is OpenSSL, a signer that signs through
// libcrypto (PKCS#1 v1.5 with SHA-256, byte for byte the signature of
// Go's crypto/rsa) and ImplOpenSSL; else k itself and ImplGo. Call it once
// per key, when the key is loaded: it costs one signature of each
// implementation, which it compares.
func FastSigner(k crypto.Signer) (crypto.Signer, string) {
	return fastSigner(k, Crypto())
}

// fastSigner is FastSigner with the implementation info.
func fastSigner(k crypto.Signer, info CryptoInfo) (crypto.Signer, string) {
	rk, ok := k.(*rsa.PrivateKey)
	if !ok || info.Impl != ImplOpenSSL {
		return k, ImplGo
	}
	s, err := newOpenSSLSigner(rk)
	if err != nil {
		keyFallbacks.Lock()
		keyFallbacks.errs = append(keyFallbacks.errs, err)
		keyFallbacks.Unlock()
		return k, ImplGo
	}
	return s, ImplOpenSSL
}
