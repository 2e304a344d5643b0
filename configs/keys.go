package configs

import (
	"bytes"
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// MinSecretBytes is the least length of a secret read from a file (link
// keys, the admin token, the webhook secret), after trimming.
const MinSecretBytes = 32

// MinRSABits is the least size of an RSA DKIM key.
const MinRSABits = 2048

// secretHint tells how to make a secret file.
const secretHint = "create it with: head -c 32 /dev/urandom | base64 > FILE; chmod 600 FILE"

// fileProblem describes a file that cannot be read, with a hint.
func fileProblem(what, path string, err error) (msg, hint string) {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Sprintf("%s %s does not exist", what, path), "create the file, or fix the path; a relative path is relative to the config file's folder"
	case errors.Is(err, fs.ErrPermission):
		return fmt.Sprintf("%s %s cannot be read: permission denied", what, path), "let the user careerrelay runs as read it: chown it to that user and chmod 600"
	}
	return fmt.Sprintf("cannot read %s: %v", what, err), "fix the path; it must name a readable file"
}

// readSecret reads a secret file: its content, trimmed of surrounding white
// space, is the secret, at least MinSecretBytes long. A secret that others
// may read is accepted (mode checks are the operator's business), but the
// hints say to chmod 600.
func readSecret(path string) (secret []byte, msg, hint string) {
	b, err := os.ReadFile(path)
	if err != nil {
		msg, hint = fileProblem("secret file", path, err)
		if errors.Is(err, fs.ErrNotExist) {
			hint = secretHint
		}
		return nil, msg, hint
	}
	b = bytes.TrimSpace(b)
	if len(b) < MinSecretBytes {
		return nil, fmt.Sprintf("secret in %s is %d bytes, fewer than %d", path, len(b), MinSecretBytes),
			"write a longer random secret: head -c 32 /dev/urandom | base64 > FILE"
	}
	return b, "", ""
}

// keygenHint says how to make a usable DKIM key.
const keygenHint = "make one with: careerrelay dkim-keygen -domain DOMAIN -selector SELECTOR -algo rsa|ed25519 -out FILE"

// loadDKIMKey reads a PEM private key: PKCS#1 or PKCS#8 RSA of MinRSABits
// or more, or PKCS#8 Ed25519.
func loadDKIMKey(path string) (signer crypto.Signer, msg, hint string) {
	data, err := os.ReadFile(path)
	if err != nil {
		msg, hint = fileProblem("DKIM key file", path, err)
		if errors.Is(err, fs.ErrNotExist) {
			hint = keygenHint
		}
		return nil, msg, hint
	}
	var block *pem.Block
	for rest := data; ; {
		block, rest = pem.Decode(rest)
		if block == nil || strings.HasSuffix(block.Type, "PRIVATE KEY") {
			break
		}
	}
	if block == nil {
		return nil, fmt.Sprintf("%s holds no PEM private key", path), keygenHint
	}
	if block.Type == "ENCRYPTED PRIVATE KEY" || block.Headers["Proc-Type"] != "" {
		return nil, fmt.Sprintf("%s is encrypted", path),
			"store the key unencrypted and chmod 600: openssl pkcs8 -topk8 -nocrypt -in OLD -out NEW"
	}
	var key any
	switch block.Type {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	default:
		return nil, fmt.Sprintf("%s holds a %q, which DKIM here does not use", path, block.Type),
			"use an RSA key (PKCS#1 or PKCS#8) of 2048 bits or more, or an Ed25519 key (PKCS#8); " + keygenHint
	}
	if err != nil {
		return nil, fmt.Sprintf("%s: cannot parse the %s: %v", path, block.Type, err), keygenHint
	}
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if bits := k.N.BitLen(); bits < MinRSABits {
			return nil, fmt.Sprintf("%s is a %d-bit RSA key, smaller than %d bits", path, bits, MinRSABits),
				"make a new RSA key of 2048 bits or more, or an Ed25519 key, with careerrelay dkim-keygen; publish its TXT record under a new selector, then point key_file at it"
		}
		return k, "", ""
	case ed25519.PrivateKey:
		return k, "", ""
	}
	return nil, fmt.Sprintf("%s holds %s; DKIM here signs with RSA or Ed25519 only", path, keyKind(key)), keygenHint
}

// loadCertificate loads the TLS certificate chain and key. Both files
// must be readable (see fileProblem).
func loadCertificate(certFile, keyFile string) (*tls.Certificate, string, string) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Sprintf("cannot load the TLS certificate and key: %v", err),
			"cert_file must be the PEM certificate chain, leaf first, and key_file the PEM private key of that leaf"
	}
	return &cert, "", ""
}

// loadCAFile reads a PEM bundle of CA certificates.
func loadCAFile(path string) (*x509.CertPool, string, string) {
	data, err := os.ReadFile(path)
	if err != nil {
		msg, hint := fileProblem("CA file", path, err)
		return nil, msg, hint
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Sprintf("%s holds no PEM certificate", path),
			"point ca_file at a PEM bundle of the CA certificates that sign the upstream's certificate"
	}
	return pool, "", ""
}

// keyKind names the kind of a parsed private key for messages.
func keyKind(key any) string {
	switch key.(type) {
	case *ecdsa.PrivateKey:
		return "an ECDSA key"
	case *ecdh.PrivateKey:
		return "an X25519/ECDH key"
	}
	return fmt.Sprintf("a %T key", key)
}
