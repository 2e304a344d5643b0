//go:build cgo && linux

package dkim

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/big"

	openssl "github.com/golang-fips/openssl/v2"
	"github.com/golang-fips/openssl/v2/bbig"
)

// opensslBuilt is true in a binary that can sign through OpenSSL (cgo on
// Linux).
const opensslBuilt = true

// loadOpenSSL loads libcrypto and returns its version text.
func loadOpenSSL() (string, error) {
	if err := openssl.Init(libcrypto); err != nil {
		return "", fmt.Errorf("OpenSSL not loaded: %w", err)
	}
	return openssl.VersionText(), nil
}

// opensslRSA signs with an RSA key held by libcrypto.
type opensslRSA struct {
	goKey *rsa.PrivateKey // for Public, and for what DKIM does not use
	key   *openssl.PrivateKeyRSA
}

// selfTestDigest is what newOpenSSLSigner signs with both implementations.
var selfTestDigest = sha256.Sum256([]byte("careerrelay: OpenSSL gives Go's PKCS#1 v1.5 signature"))

// newOpenSSLSigner copies k into libcrypto, and checks that a signature
// made there is the one Go's crypto/rsa makes.
func newOpenSSLSigner(k *rsa.PrivateKey) (crypto.Signer, error) {
	desc := keyDesc(k.Public())
	if len(k.Primes) != 2 {
		return nil, fmt.Errorf("%s: %d primes; OpenSSL here holds two-prime keys", desc, len(k.Primes))
	}
	p, q := k.Primes[0], k.Primes[1]
	one := big.NewInt(1)
	dp := new(big.Int).Mod(k.D, new(big.Int).Sub(p, one))
	dq := new(big.Int).Mod(k.D, new(big.Int).Sub(q, one))
	qinv := new(big.Int).ModInverse(q, p)
	if qinv == nil {
		return nil, fmt.Errorf("%s: q has no inverse mod p", desc)
	}
	okey, err := openssl.NewPrivateKeyRSA(bbig.Enc(k.N), bbig.Enc(big.NewInt(int64(k.E))), bbig.Enc(k.D),
		bbig.Enc(p), bbig.Enc(q), bbig.Enc(dp), bbig.Enc(dq), bbig.Enc(qinv))
	if err != nil {
		return nil, fmt.Errorf("%s: OpenSSL refused the key: %w", desc, err)
	}
	s := &opensslRSA{goKey: k, key: okey}
	got, err := s.Sign(nil, selfTestDigest[:], crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("%s: OpenSSL self-test: %w", desc, err)
	}
	want, err := rsa.SignPKCS1v15(nil, k, crypto.SHA256, selfTestDigest[:])
	if err != nil {
		return nil, fmt.Errorf("%s: Go self-test: %w", desc, err)
	}
	if !bytes.Equal(got, want) {
		return nil, fmt.Errorf("%s: OpenSSL's signature is not Go's", desc)
	}
	return s, nil
}

func (s *opensslRSA) Public() crypto.PublicKey { return s.goKey.Public() }

// Sign makes a PKCS#1 v1.5 signature of a SHA-256 digest, what DKIM's
// rsa-sha256 (and go-msgauth) asks for, in libcrypto; other hashes and PSS
// go to Go's crypto/rsa. rand is not used: PKCS#1 v1.5 is deterministic.
func (s *opensslRSA) Sign(rand io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if _, pss := opts.(*rsa.PSSOptions); pss || opts.HashFunc() != crypto.SHA256 {
		return s.goKey.Sign(rand, digest, opts)
	}
	if len(digest) != sha256.Size {
		return nil, errors.New("dkim: a SHA-256 digest is 32 bytes")
	}
	return openssl.SignRSAPKCS1v15(s.key, crypto.SHA256, digest)
}
