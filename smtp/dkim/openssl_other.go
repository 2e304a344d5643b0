//go:build !cgo || !linux

package dkim

import (
	"crypto"
	"crypto/rsa"
	"errors"
)

// opensslBuilt is false in a binary that cannot sign through OpenSSL: it
// was built without cgo (CGO_ENABLED=0), or not for Linux.
const opensslBuilt = false

// errNoOpenSSL says why this binary signs with Go's crypto.
var errNoOpenSSL = errors.New("built without OpenSSL (CGO_ENABLED=0, or not Linux)")

func loadOpenSSL() (string, error) { return "", errNoOpenSSL }

func newOpenSSLSigner(*rsa.PrivateKey) (crypto.Signer, error) { return nil, errNoOpenSSL }
