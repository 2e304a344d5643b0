package configs

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/careerrelay/careerrelay/internal/testlib"
)

// writeCert writes a throwaway certificate for hosts into dir as
// name.crt and name.key.
func writeCert(t *testing.T, dir, name string, hosts ...string) {
	t.Helper()
	certPEM, keyPEM, _ := testlib.SelfSignedCert(t, hosts...)
	for file, data := range map[string][]byte{name + ".crt": certPEM, name + ".key": keyPEM} {
		if err := os.WriteFile(filepath.Join(dir, file), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// httpsConfig is minimal (links on careers.example.jp) with an http
// section appended.
func httpsConfig(t *testing.T, http string) string {
	t.Helper()
	fakeHostname(t, "relay.test.example", nil)
	path := writeConfig(t, minimal+http)
	dir := filepath.Dir(path)
	writeCert(t, dir, "careers", "careers.example.jp")
	writeCert(t, dir, "wild", "*.example.jp")
	writeCert(t, dir, "other", "www.other.example")
	return path
}

// TestHTTPTLSCertificates: certificate files are loaded, relative to the
// config's folder; a wildcard covers the link host.
func TestHTTPTLSCertificates(t *testing.T) {
	c := mustLoad(t, httpsConfig(t, `http:
  listen: ":80"
  listen_tls: ":443"
  tls:
    certificates:
      - {cert_file: careers.crt, key_file: careers.key}
      - {cert_file: wild.crt, key_file: wild.key}
`))
	certs := c.HTTP.TLS.Certificates
	if len(certs) != 2 || certs[0].Certificate == nil || certs[1].Certificate == nil {
		t.Fatalf("certificates not loaded: %+v", certs)
	}
	if !filepath.IsAbs(certs[0].CertFile) || c.HTTP.TLS.ACME.Enabled() {
		t.Errorf("cert_file %q not made absolute, or ACME on (%+v)", certs[0].CertFile, c.HTTP.TLS.ACME)
	}
	if got := c.LinkHosts(); !slices.Equal(got, []string{"careers.example.jp"}) {
		t.Errorf("LinkHosts() = %q", got)
	}
}

// TestHTTPTLSACMEDefaults: acme set with an email only takes Let's
// Encrypt and data_dir/acme; ca_file is loaded.
func TestHTTPTLSACMEDefaults(t *testing.T) {
	path := httpsConfig(t, `http:
  listen_tls: ":443"
  tls:
    acme: {email: ops@example.jp, ca_file: careers.crt}
`)
	c := mustLoad(t, path)
	a := c.HTTP.TLS.ACME
	if !a.Enabled() || a.DirectoryURL != DefaultACMEDirectory || a.RootCAs == nil {
		t.Errorf("acme = %+v", a)
	}
	if want := filepath.Join(filepath.Dir(path), "data", "acme"); a.CacheDir != want {
		t.Errorf("cache_dir = %q, want %q", a.CacheDir, want)
	}
}

// TestHTTPTLSProblems: each mistake is one problem with its key.
func TestHTTPTLSProblems(t *testing.T) {
	for _, tc := range []struct{ http, want string }{
		{"http:\n  listen_tls: \":443\"\n",
			"http.listen_tls: an HTTPS listener needs certificates"},
		{"http:\n  tls:\n    acme: {email: ops@example.jp}\n",
			"http.listen_tls: http.tls is set but http.listen_tls is not"},
		{"http:\n  listen_tls: \":443\"\n  tls:\n    certificates: [{cert_file: other.crt, key_file: other.key}]\n",
			"http.tls.certificates[0].cert_file: the certificate in "},
		{"http:\n  listen_tls: \":443\"\n  tls:\n    certificates: [{cert_file: careers.crt, key_file: other.key}]\n",
			"http.tls.certificates[0]: cannot load the TLS certificate and key"},
		{"http:\n  listen_tls: \":443\"\n  tls:\n    certificates: [{cert_file: careers.crt}]\n",
			"http.tls.certificates[0].key_file: required but not set"},
		{"http:\n  listen_tls: \":443\"\n  tls:\n    acme: {directory_url: \"http://acme.example/dir\"}\n",
			"http.tls.acme.directory_url: "},
		{"http:\n  listen_tls: \":443\"\n  tls:\n    acme: {email: ops}\n",
			`http.tls.acme.email: "ops" is not a mail address`},
		{"http:\n  listen_tls: \"443\"\n  tls:\n    acme: {}\n",
			"http.listen_tls: "},
	} {
		_, err := Load(httpsConfig(t, tc.http))
		if err == nil {
			t.Errorf("%s: loaded", tc.http)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) || strings.Count(err.Error(), "\n  ") > 1 {
			t.Errorf("%s: want one problem %q, got:\n%v", tc.http, tc.want, err)
		}
	}
}

// TestHostMatches: exact names without regard to case, and a wildcard for
// one label only.
func TestHostMatches(t *testing.T) {
	for _, tc := range []struct {
		name, host string
		want       bool
	}{
		{"careers.example.jp", "Careers.Example.JP", true},
		{"careers.example.jp", "careers.example.jp.", true},
		{"*.example.jp", "careers.example.jp", true},
		{"*.example.jp", "example.jp", false},
		{"*.example.jp", "a.b.example.jp", false},
		{"*.example.jp", ".example.jp", false},
		{"careers.example.jp", "other.example.jp", false},
		{"", "", false},
	} {
		if got := HostMatches(tc.name, tc.host); got != tc.want {
			t.Errorf("HostMatches(%q, %q) = %v", tc.name, tc.host, got)
		}
	}
}

// TestLinkHosts: the host of links.base_url and of every tenant's own
// base_url, lower case, without port, sorted, once each; a tenant without
// one adds nothing.
func TestLinkHosts(t *testing.T) {
	c := &Config{
		Links: Links{BaseURL: "https://Careers.Example.JP:8443"},
		Tenants: []Tenant{
			{ID: "acme", Links: TenantLinks{BaseURL: "https://careers.acme.example/"}},
			{ID: "beta"},
			{ID: "gamma", Links: TenantLinks{BaseURL: "https://careers.example.jp"}},
			{ID: "delta", Links: TenantLinks{BaseURL: "http://Jobs.Delta.Example."}},
		},
	}
	want := []string{"careers.acme.example", "careers.example.jp", "jobs.delta.example"}
	if got := c.LinkHosts(); !slices.Equal(got, want) {
		t.Errorf("LinkHosts() = %q, want %q", got, want)
	}
}
