package dkim

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/careerrelay/careerrelay/internal/testlib"
)

// needOpenSSL returns the OpenSSL implementation info, whatever CryptoEnv
// says. It skips the test in a binary built without OpenSSL (cgo off), and
// where libcrypto does not load; with CI=true both fail (CI has gcc, and
// .ci/run installs libssl3).
func needOpenSSL(t testing.TB) CryptoInfo {
	t.Helper()
	if !opensslBuilt {
		if os.Getenv("CI") == "true" {
			t.Fatal("built without OpenSSL (cgo off: CGO_ENABLED=0, or no gcc); CI must build with cgo")
		}
		t.Skip("built without OpenSSL (CGO_ENABLED=0): Go's crypto signs")
	}
	info := chooseCrypto("", loadOpenSSL)
	var err error
	if info.Impl != ImplOpenSSL {
		err = errors.New(info.Reason)
	}
	testlib.NeedLibrary(t, libcrypto, "libssl3", err)
	return info
}

// goCrypto is the info of Go's crypto, as after a failed load.
var goCrypto = CryptoInfo{Impl: ImplGo, Reason: "test"}

// TestOpenSSLSignatureEqualsGo: for the same RSA-2048 key and digest,
// OpenSSL's PKCS#1 v1.5 signature is Go's crypto/rsa's, byte for byte.
func TestOpenSSLSignatureEqualsGo(t *testing.T) {
	info := needOpenSSL(t)
	t.Logf("OpenSSL: %s", info.Version)
	for _, name := range []string{"rsa", "rsa2"} {
		k := testKeys()[name].(*rsa.PrivateKey)
		s, impl := fastSigner(k, info)
		if impl != ImplOpenSSL {
			t.Fatalf("%s: fastSigner gave %s (%v)", name, impl, KeyFallbacks())
		}
		if _, ok := s.(*rsa.PrivateKey); ok {
			t.Fatalf("%s: fastSigner returned the Go key", name)
		}
		if !s.Public().(*rsa.PublicKey).Equal(&k.PublicKey) {
			t.Fatalf("%s: public key differs", name)
		}
		for i, msg := range []string{"", "a", "DKIM-Signature: v=1; b=", strings.Repeat("x", 10000)} {
			d := sha256.Sum256([]byte(msg))
			want, err := rsa.SignPKCS1v15(nil, k, crypto.SHA256, d[:])
			if err != nil {
				t.Fatal(err)
			}
			got, err := s.Sign(nil, d[:], crypto.SHA256)
			if err != nil {
				t.Fatalf("%s message %d: OpenSSL: %v", name, i, err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("%s message %d: OpenSSL's signature differs from Go's:\n%x\n%x", name, i, got, want)
			}
		}
		// What DKIM does not use goes to Go's crypto, and a wrong digest
		// is refused.
		d := sha256.Sum256([]byte("pss"))
		sig, err := s.Sign(rand.Reader, d[:], &rsa.PSSOptions{Hash: crypto.SHA256})
		if err != nil || rsa.VerifyPSS(&k.PublicKey, crypto.SHA256, d[:], sig, nil) != nil {
			t.Errorf("%s: PSS signature: %v", name, err)
		}
		if _, err := s.Sign(nil, d[:20], crypto.SHA256); err == nil {
			t.Errorf("%s: a 20-byte digest was signed as SHA-256", name)
		}
	}
}

// TestOpenSSLSignerConcurrent: delivery workers sign with one key at the
// same time; each signature is still Go's.
func TestOpenSSLSignerConcurrent(t *testing.T) {
	info := needOpenSSL(t)
	k := testKeys()["rsa"].(*rsa.PrivateKey)
	s, impl := fastSigner(k, info)
	if impl != ImplOpenSSL {
		t.Fatalf("fastSigner gave %s", impl)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			for i := range 25 {
				d := sha256.Sum256(fmt.Appendf(nil, "%d/%d", g, i))
				want, _ := rsa.SignPKCS1v15(nil, k, crypto.SHA256, d[:])
				got, err := s.Sign(nil, d[:], crypto.SHA256)
				if err != nil || !bytes.Equal(got, want) {
					errs <- fmt.Errorf("goroutine %d signature %d: %v, equal %v", g, i, err, bytes.Equal(got, want))
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// signedTime matches a DKIM-Signature's t= tag.
var signedTime = regexp.MustCompile(`\bt=(\d+)`)

// sameSecond calls sign for a and then b until both signatures carry the
// same t= (go-msgauth takes it from its own clock, which a test cannot
// set: a second may tick between the two), and returns both outputs.
func sameSecond(t *testing.T, sign func(*Signer) ([]byte, error), a, b *Signer) ([]byte, []byte) {
	t.Helper()
	for range 5 {
		x, err := sign(a)
		if err != nil {
			t.Fatal(err)
		}
		y, err := sign(b)
		if err != nil {
			t.Fatal(err)
		}
		tx, ty := signedTime.FindAllSubmatch(x, -1), signedTime.FindAllSubmatch(y, -1)
		if len(tx) == 0 || len(tx) != len(ty) {
			t.Fatalf("t= tags: %q and %q", tx, ty)
		}
		if fmt.Sprint(tx) == fmt.Sprint(ty) {
			return x, y
		}
	}
	t.Fatal("no two signatures in the same second in 5 tries")
	return nil, nil
}

// TestOpenSSLDKIMSignatureEqualsGo: a real message signed by the package's
// Signer through OpenSSL and through Go's crypto gets the same
// DKIM-Signature fields, byte for byte, and they verify.
func TestOpenSSLDKIMSignatureEqualsGo(t *testing.T) {
	info := needOpenSSL(t)
	tenant := testTenant("rsa", "ed25519")
	ossl, err := newSigner(tenant, info)
	if err != nil {
		t.Fatal(err)
	}
	gos, err := newSigner(tenant, goCrypto)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(ossl.Impls()); got != "[openssl go]" {
		t.Fatalf("OpenSSL signer's implementations %s, want [openssl go] (RSA, Ed25519)", got)
	}
	if got := fmt.Sprint(gos.Impls()); got != "[go go]" {
		t.Fatalf("Go signer's implementations %s", got)
	}
	msg := testMessage(10 << 10)
	for _, tc := range []struct {
		name string
		sign func(*Signer) ([]byte, error)
	}{
		{"Signatures", func(s *Signer) ([]byte, error) { return s.Signatures(msg, "acme.example") }},
		{"SignaturesFrom", func(s *Signer) ([]byte, error) {
			i := bytes.Index(msg, []byte("\r\n\r\n")) + 4
			return s.SignaturesFrom(msg[:i], bytes.NewReader(msg), "acme.example")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := sameSecond(t, tc.sign, ossl, gos)
			if !bytes.Equal(a, b) {
				t.Fatalf("OpenSSL's DKIM-Signature fields differ from Go's:\n%s\n%s", a, b)
			}
			if !bytes.Contains(a, []byte("a=rsa-sha256")) {
				t.Fatalf("no RSA signature:\n%s", a)
			}
			mustVerify(t, append(a, msg...), 2)
		})
	}
}

// TestCryptoChoice: CryptoEnv and a failed load of libcrypto lead to Go's
// crypto, with the reason.
func TestCryptoChoice(t *testing.T) {
	loaded := func() (string, error) { return "OpenSSL 3.0.99 test", nil }
	failed := func() (string, error) { return "", errors.New("openssl: can't load libcrypto.so.3: test") }
	notCalled := func() (string, error) { t.Error("load called"); return "", nil }
	for _, tc := range []struct {
		env    string
		load   func() (string, error)
		want   CryptoInfo
		reason string
	}{
		{"", loaded, CryptoInfo{Impl: ImplOpenSSL, Version: "OpenSSL 3.0.99 test"}, ""},
		{"openssl", loaded, CryptoInfo{Impl: ImplOpenSSL, Version: "OpenSSL 3.0.99 test"}, ""},
		{"", failed, CryptoInfo{Impl: ImplGo}, "can't load libcrypto.so.3"},
		{"openssl", failed, CryptoInfo{Impl: ImplGo}, "can't load"},
		{"go", notCalled, CryptoInfo{Impl: ImplGo}, "CAREERRELAY_CRYPTO=go"},
		{" GO ", notCalled, CryptoInfo{Impl: ImplGo}, "CAREERRELAY_CRYPTO=go"},
		{"off", notCalled, CryptoInfo{Impl: ImplGo}, `"off" is neither`},
	} {
		got := chooseCrypto(tc.env, tc.load)
		if got.Impl != tc.want.Impl || got.Version != tc.want.Version || !strings.Contains(got.Reason, tc.reason) {
			t.Errorf("env %q: %+v, want %+v with reason %q", tc.env, got, tc.want, tc.reason)
		}
	}
}

// TestFallbackSignsWithGo: with Go's crypto chosen (libcrypto failed to
// load, cgo off or CryptoEnv=go), every key is signed by the key itself,
// and the signatures verify.
func TestFallbackSignsWithGo(t *testing.T) {
	info := chooseCrypto("", func() (string, error) { return "", errors.New("simulated load failure") })
	if info.Impl != ImplGo {
		t.Fatalf("%+v", info)
	}
	for _, name := range []string{"rsa", "ed25519"} {
		k := testKeys()[name]
		s, impl := fastSigner(k, info)
		if impl != ImplGo || !reflect.DeepEqual(s, k) {
			t.Errorf("%s: fastSigner gave %T, %s; want the key itself, go", name, s, impl)
		}
	}
	s, err := newSigner(testTenant("rsa", "ed25519"), info)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(s.Impls()); got != "[go go]" {
		t.Fatalf("implementations %s, want [go go]", got)
	}
	msg := testMessage(1 << 10)
	mustVerify(t, sign(t, s, msg, "acme.example"), 2)
}

// TestCryptoInUse: the process's choice (NewSigner's) is OpenSSL where it
// loads, unless CryptoEnv says go; a binary without cgo says why not.
func TestCryptoInUse(t *testing.T) {
	info := Crypto()
	t.Logf("RSA signatures: %+v", info)
	if !opensslBuilt {
		if info.Impl != ImplGo || !strings.Contains(info.Reason, "CGO_ENABLED=0") {
			t.Fatalf("without cgo: %+v", info)
		}
		return
	}
	if os.Getenv(CryptoEnv) != "" {
		t.Skipf("%s=%s set", CryptoEnv, os.Getenv(CryptoEnv))
	}
	needOpenSSL(t)
	if info.Impl != ImplOpenSSL || info.Version == "" {
		t.Fatalf("OpenSSL loads but the process uses %+v", info)
	}
	s, err := NewSigner(testTenant("rsa"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Impls(); len(got) != 1 || got[0] != ImplOpenSSL {
		t.Fatalf("NewSigner's implementations %v", got)
	}
}

// TestBuildWithoutCgo runs this package's fallback tests in a build
// without cgo (CGO_ENABLED=0), where Go's crypto signs every key.
func TestBuildWithoutCgo(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the package again without cgo")
	}
	if !opensslBuilt {
		t.Skip("already without cgo")
	}
	gobin := testlib.NeedCommand(t, "go", "golang")
	cmd := exec.Command(gobin, "test", "-count=1", "-run", "^(TestCryptoInUse|TestCryptoChoice|TestFallbackSignsWithGo|TestOpenSSLSignatureEqualsGo|TestSign)$", "-v", ".")
	// Not CI's check of the machine: OpenSSL's tests skip there.
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "CI=")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("CGO_ENABLED=0 go test: %v\n%s", err, out)
	}
	for _, want := range []string{"--- PASS: TestCryptoInUse", "--- PASS: TestFallbackSignsWithGo", "--- SKIP: TestOpenSSLSignatureEqualsGo"} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("CGO_ENABLED=0 go test: no %q:\n%s", want, out)
		}
	}
}
