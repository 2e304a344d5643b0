package dkim

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/careerrelay/careerrelay/configs"
)

// loadWithConfigs loads a minimal config whose tenant uses the key files,
// so the keys go through the very rules of check-config.
func loadWithConfigs(t *testing.T, dir string, keyFiles ...string) *configs.Config {
	t.Helper()
	secret := []byte("TEST-ONLY-dkim-keygen-test-secret-0000000001\n")
	for _, f := range []string{"link.key", "admin.token"} {
		if err := os.WriteFile(filepath.Join(dir, f), secret, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	text := `data_dir: data
smtp:
  listen: "127.0.0.1:2525"
  hostname: relay.example.jp
  allow_networks: [127.0.0.0/8]
delivery:
  mode: capture
  capture_dir: mail
links:
  base_url: "https://careers.example.jp"
  keys: [{id: k1, secret_file: link.key}]
http:
  listen: "127.0.0.1:8080"
admin:
  listen: "127.0.0.1:8025"
  token_file: admin.token
agency:
  name: Agency
  registration_url: "https://agency.example/register"
tenants:
  - id: acme
    name: Acme
    domains: [acme.example]
    dkim:
`
	for i, f := range keyFiles {
		text += "      - {selector: s" + string(rune('0'+i)) + ", key_file: " + f + "}\n"
	}
	p := filepath.Join(dir, "careerrelay.yaml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := configs.Load(p)
	if err != nil {
		t.Fatalf("configs.Load: %v", err)
	}
	return cfg
}

func TestKeygenKeyLoadsAndSigns(t *testing.T) {
	dir := t.TempDir()
	var files []string
	var pubs []crypto.PublicKey
	for _, algo := range []string{"rsa", "ed25519"} {
		key, err := GenerateKey(algo, 2048)
		if err != nil {
			t.Fatal(err)
		}
		pemData, err := MarshalKey(key)
		if err != nil {
			t.Fatal(err)
		}
		f := algo + ".pem"
		if err := WriteKeyFile(filepath.Join(dir, f), pemData, false); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", f, fi.Mode().Perm())
		}
		files = append(files, f)
		pubs = append(pubs, key.Public())
	}
	cfg := loadWithConfigs(t, dir, files...)
	ten := cfg.TenantByID("acme")
	for i, k := range ten.DKIM {
		if !k.Signer.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(pubs[i]) {
			t.Errorf("%s: configs loaded another key", k.KeyFile)
		}
	}
	if _, ok := ten.DKIM[0].Signer.(*rsa.PrivateKey); !ok {
		t.Errorf("rsa key loaded as %T", ten.DKIM[0].Signer)
	}
	if k, ok := ten.DKIM[0].Signer.(*rsa.PrivateKey); ok && k.N.BitLen() != 2048 {
		t.Errorf("rsa key has %d bits", k.N.BitLen())
	}
	if _, ok := ten.DKIM[1].Signer.(ed25519.PrivateKey); !ok {
		t.Errorf("ed25519 key loaded as %T", ten.DKIM[1].Signer)
	}

	// Signed with the loaded keys, verified against the printed records.
	s, err := NewSigner(ten, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	signed := sign(t, s, testMessage(100), "acme.example")
	recs := map[string]string{}
	for i, k := range ten.DKIM {
		txt, err := TXTRecord(pubs[i])
		if err != nil {
			t.Fatal(err)
		}
		recs[RecordName(k.Selector, "acme.example")] = strings.Join(zoneStrings(t, ZoneRecord(k.Selector, "acme.example", txt)), "")
	}
	for i, v := range verifyWith(t, signed, recs) {
		if v.Err != nil {
			t.Errorf("signature %d: %v", i, v.Err)
		}
	}
}

func TestWriteKeyFileRefusesOverwrite(t *testing.T) {
	p := filepath.Join(t.TempDir(), "k.pem")
	if err := os.WriteFile(p, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := WriteKeyFile(p, []byte("new"), false)
	if err == nil || !strings.Contains(err.Error(), "-force") {
		t.Fatalf("err %v, want a refusal naming -force", err)
	}
	if b, _ := os.ReadFile(p); string(b) != "old" {
		t.Fatalf("the file was changed to %q", b)
	}
	if err := WriteKeyFile(p, []byte("new"), true); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != "new" {
		t.Fatalf("with force the file holds %q", b)
	}
}

func TestGenerateKeyRejects(t *testing.T) {
	for _, tc := range []struct {
		algo string
		bits int
	}{{"rsa", 1024}, {"rsa", 2047}, {"rsa", 8192}, {"dsa", 2048}, {"", 0}} {
		if _, err := GenerateKey(tc.algo, tc.bits); err == nil {
			t.Errorf("GenerateKey(%q, %d) made a key", tc.algo, tc.bits)
		}
	}
}

// zoneLine is the form ZoneRecord prints.
var zoneLine = regexp.MustCompile(`^([a-z0-9.-]+\._domainkey\.[a-z0-9.-]+)\. IN TXT \(((?: "[^"\\]*")+) \)$`)

// zoneStrings returns the character-strings of a zone line.
func zoneStrings(t *testing.T, line string) []string {
	t.Helper()
	m := zoneLine.FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("zone line %q has not the expected form", line)
	}
	var out []string
	for _, q := range regexp.MustCompile(`"([^"]*)"`).FindAllStringSubmatch(m[2], -1) {
		out = append(out, q[1])
	}
	return out
}

func TestZoneRecordSplitsAndParsesBack(t *testing.T) {
	rsa4096, err := GenerateKey("rsa", 4096)
	if err != nil {
		t.Fatal(err)
	}
	for name, key := range map[string]crypto.Signer{"rsa2048": testKeys()["rsa"], "rsa4096": rsa4096, "ed25519": testKeys()["ed25519"]} {
		txt, err := TXTRecord(key.Public())
		if err != nil {
			t.Fatal(err)
		}
		line := ZoneRecord("cr2026", "acme.example.", txt)
		if !strings.HasPrefix(line, "cr2026._domainkey.acme.example. IN TXT ( \"v=DKIM1; k=") {
			t.Errorf("%s: %q", name, line)
		}
		strs := zoneStrings(t, line)
		for i, s := range strs {
			if len(s) > 255 || s == "" {
				t.Errorf("%s: string %d has %d octets", name, i, len(s))
			}
			if i < len(strs)-1 && len(s) != 255 {
				t.Errorf("%s: string %d has %d octets; only the last may be short", name, i, len(s))
			}
		}
		if want := (len(txt) + 254) / 255; len(strs) != want {
			t.Errorf("%s: %d strings, want %d", name, len(strs), want)
		}
		joined := strings.Join(strs, "")
		if joined != txt {
			t.Errorf("%s: the strings join to %q, want %q", name, joined, txt)
		}
		rec, err := parseRecord(joined)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !key.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(rec.pub) {
			t.Errorf("%s: the record parses back to another key", name)
		}
	}
	// RSA records are SubjectPublicKeyInfo, Ed25519 ones the raw 32 bytes.
	txt, _ := TXTRecord(testKeys()["ed25519"].Public())
	p, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(txt, "v=DKIM1; k=ed25519; p="))
	if len(p) != ed25519.PublicKeySize {
		t.Errorf("ed25519 p= is %d bytes", len(p))
	}
	txt, _ = TXTRecord(testKeys()["rsa"].Public())
	der, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(txt, "v=DKIM1; k=rsa; p="))
	if _, err := x509.ParsePKIXPublicKey(der); err != nil {
		t.Errorf("rsa p= is not SubjectPublicKeyInfo: %v", err)
	}
}

func TestParseRecord(t *testing.T) {
	rsaTXT, _ := TXTRecord(testKeys()["rsa"].Public())
	p := strings.TrimPrefix(rsaTXT, "v=DKIM1; k=rsa; p=")
	pkcs1 := base64.StdEncoding.EncodeToString(x509.MarshalPKCS1PublicKey(&testKeys()["rsa"].(*rsa.PrivateKey).PublicKey))
	for _, tc := range []struct {
		txt, err string
		revoked  bool
	}{
		{txt: rsaTXT},
		{txt: "p=" + p}, // v= and k= are optional
		{txt: "v=DKIM1; h=sha256; s=email; t=y; k=rsa; p=" + p + ";"}, // trailing ;
		{txt: "v=DKIM1; k=rsa; p=" + p[:100] + " " + p[100:]},         // white space inside p=
		{txt: "v=DKIM1; k=rsa; p=" + pkcs1},                           // RSAPublicKey
		{txt: "v=DKIM1; k=rsa; p=", revoked: true},                    // revoked
		{txt: "v=DKIM2; k=rsa; p=" + p, err: "v=DKIM2"},
		{txt: "v=DKIM1; k=rsa", err: "no p="},
		{txt: "v=DKIM1; k=rsa; p=!!!", err: "not base64"},
		{txt: "v=DKIM1; k=ed25519; p=" + p, err: "Ed25519 key is 32"},
		{txt: "v=DKIM1; k=dsa; p=" + p, err: "k=dsa"},
		{txt: "v=DKIM1; h=sha1; p=" + p, err: "h=sha1"},
		{txt: "v=DKIM1; s=tlsrpt; p=" + p, err: "s=tlsrpt"},
		{txt: "v=DKIM1; p=" + p + "; p=" + p, err: "twice"},
		{txt: "v=DKIM1; garbage; p=" + p, err: "no name=value"},
		{txt: "v=DKIM1; k=rsa; p=AAAA", err: "not an RSA public key"},
		{txt: "spf1 include:_spf.example ~all", err: "no name=value"}, // not a key record
	} {
		rec, err := parseRecord(tc.txt)
		switch {
		case tc.err != "":
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("parseRecord(%.50q): err %v, want %q", tc.txt, err, tc.err)
			}
		case err != nil:
			t.Errorf("parseRecord(%.50q): %v", tc.txt, err)
		case (rec.pub == nil) != tc.revoked:
			t.Errorf("parseRecord(%.50q): key %v, revoked %v", tc.txt, rec.pub, tc.revoked)
		}
	}
}
