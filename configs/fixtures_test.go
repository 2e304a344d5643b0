package configs

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// Throwaway keys, made once per test run. None of them is written into the
// repository.
var keys = sync.OnceValue(func() map[string][]byte {
	pkcs8 := func(k any) []byte {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			panic(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	}
	rsa2048, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		panic(err)
	}
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "relay.example.jp"},
		DNSNames:     []string{"relay.example.jp"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &ec.PublicKey, ec)
	if err != nil {
		panic(err)
	}
	careers := *tmpl
	careers.Subject = pkix.Name{CommonName: "careers.example.jp"}
	careers.DNSNames = []string{"careers.example.jp"}
	careersDER, err := x509.CreateCertificate(rand.Reader, &careers, &careers, &ec.PublicKey, ec)
	if err != nil {
		panic(err)
	}
	return map[string][]byte{
		"careers.crt":       pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: careersDER}),
		"rsa2048.pem":       pkcs8(rsa2048),
		"rsa2048-pkcs1.pem": pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsa2048)}),
		"rsa1024.pem":       pkcs8(rsa1024),
		"ed25519.pem":       pkcs8(ed),
		"ecdsa.pem":         pkcs8(ec),
		"tls.crt":           pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		"tls.key":           pkcs8(ec),
	}
})

// Secrets the test configs refer to. TEST-ONLY values.
var secrets = map[string]string{
	"link.key":      "TEST-ONLY-careerrelay-test-link-key-000000001\n",
	"link2.key":     "  TEST-ONLY-careerrelay-test-link-key-000000002  \n",
	"admin.token":   "TEST-ONLY-careerrelay-test-admin-token-0000001\n",
	"webhook.key":   "TEST-ONLY-careerrelay-test-webhook-key-000001\n",
	"relay.pass":    "TEST-ONLY-upstream-password\n",
	"short.key":     "too-short\n",
	"empty.key":     "\n",
	"not-a-key.pem": "TEST-ONLY this is not PEM\n",
}

// fixtureDir returns a fresh temporary folder holding every fixture: the
// secrets and the keys (under the names used in the test configs, also
// inside keys/ and secrets/ subfolders).
func fixtureDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	write := func(name string, data []byte) {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for name, s := range secrets {
		write(name, []byte(s))
		write(filepath.Join("secrets", name), []byte(s))
	}
	for name, k := range keys() {
		write(name, k)
		write(filepath.Join("keys", name), k)
	}
	// The example config's file names.
	write("secrets/link-2026a.key", []byte(secrets["link.key"]))
	write("secrets/link-2025b.key", []byte(secrets["link2.key"]))
	write("secrets/privacy-hash.key", []byte(secrets["link2.key"]))
	write("secrets/pg.dsn", []byte("host=/run/postgresql dbname=careerrelay\n"))
	write("secrets/upstream.password", []byte(secrets["relay.pass"]))
	write("keys/acme-rsa.pem", keys()["rsa2048.pem"])
	write("keys/acme-ed25519.pem", keys()["ed25519.pem"])
	write("tls/relay.crt", keys()["tls.crt"])
	write("tls/relay.key", keys()["tls.key"])
	write("tls/upstream-ca.pem", keys()["tls.crt"])
	write("tls/acme-ca.pem", keys()["tls.crt"])
	write("tls/careers.crt", keys()["careers.crt"])
	write("tls/careers.key", keys()["tls.key"])
	write("tls/acme-return.crt", keys()["tls.crt"])
	write("tls/acme-return.key", keys()["tls.key"])
	write("secrets/acme.ingress", []byte(secrets["link.key"]))
	write("secrets/google-relay.password", []byte(secrets["relay.pass"]))
	write("cloud-ranges.txt", []byte("# Exchange Online Protection (example)\n40.92.0.0/15\n40.107.0.0/16 # outbound\n2a01:111:f400::/48\n"))
	write("cloud-wide.txt", []byte("# a mistake\n40.92.0.0/15\n40.0.0.0/6\n"))
	return dir
}

// copyInto copies file src into dir and returns the copy's path.
func copyInto(t *testing.T, src, dir string) string {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, filepath.Base(src))
	if err := os.WriteFile(dst, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return dst
}

// writeConfig writes text as a config file into a fresh fixture folder.
func writeConfig(t *testing.T, text string) string {
	t.Helper()
	dir := fixtureDir(t)
	p := filepath.Join(dir, "careerrelay.yaml")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
