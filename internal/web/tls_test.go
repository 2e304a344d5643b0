package web

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/careerrelay/careerrelay/configs"
	"github.com/careerrelay/careerrelay/internal/testlib"
)

// testCert is a throwaway certificate for hosts, loaded as configs
// loads http.tls.certificates, with its PEM for a client's roots.
func testCert(t *testing.T, hosts ...string) (configs.TLSFiles, []byte) {
	t.Helper()
	certPEM, _, cert := testlib.SelfSignedCert(t, hosts...)
	if cert.Leaf == nil {
		leaf, err := x509.ParseCertificate(cert.Certificate[0])
		if err != nil {
			t.Fatal(err)
		}
		cert.Leaf = leaf
	}
	return configs.TLSFiles{CertFile: hosts[0] + ".crt", Certificate: &cert}, certPEM
}

// TestCertChooserSNI: the SNI name picks the certificate of its host among
// two tenant hosts' certificates; an exact name wins over a wildcard, a
// wildcard covers one label, an unknown name gets none.
func TestCertChooserSNI(t *testing.T) {
	a, _ := testCert(t, "careers.acme.example")
	b, _ := testCert(t, "jobs.beta.example", "careers.beta.example")
	wild, _ := testCert(t, "*.example.jp")
	exact, _ := testCert(t, "careers.example.jp")
	c := &certChooser{certs: []*tls.Certificate{a.Certificate, b.Certificate, wild.Certificate, exact.Certificate}}
	for name, want := range map[string]*tls.Certificate{
		"careers.acme.example":  a.Certificate,
		"CAREERS.Beta.Example.": b.Certificate,
		"jobs.beta.example":     b.Certificate,
		"careers.example.jp":    exact.Certificate, // exact before the wildcard listed first
		"other.example.jp":      wild.Certificate,
		"a.b.example.jp":        nil,
		"example.jp":            nil,
		"careers.gamma.example": nil,
	} {
		if got := c.choose(name); got != want {
			t.Errorf("choose(%q) = %v, want %v", name, got, want)
		}
	}
}

// httpsPublic starts a Public with http.listen_tls and the certificates
// given, both listeners on port 0.
func httpsPublic(t *testing.T, certs ...configs.TLSFiles) *Public {
	t.Helper()
	cfg := testConfig()
	cfg.HTTP.ListenTLS = "127.0.0.1:0"
	cfg.HTTP.TLS.Certificates = certs
	p, err := NewPublic(cfg, newFakeRefs(cfg, testNow), nil, prometheus.NewRegistry(), testLog())
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	if err := p.ListenTLS(cfg.HTTP.ListenTLS); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Shutdown(context.Background()) })
	return p
}

// TestHTTPSServesWithHSTS: the HTTPS listener shows the link host's
// certificate and serves the pages with HSTS; TLS 1.1 is refused.
func TestHTTPSServesWithHSTS(t *testing.T) {
	careers, careersPEM := testCert(t, "careers.example.jp")
	other, _ := testCert(t, "careers.other.example")
	p := httpsPublic(t, other, careers)
	addr := p.TLSAddr().String()

	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: testlib.CertPool(t, careersPEM), ServerName: "careers.example.jp"},
	}}
	resp, err := client.Get("https://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || strings.TrimSpace(string(body)) != "ok" || resp.Header.Get("Strict-Transport-Security") != "max-age=31536000" {
		t.Errorf("GET /healthz over https: %d %q, HSTS %q", resp.StatusCode, body, resp.Header.Get("Strict-Transport-Security"))
	}
	if resp.TLS.PeerCertificates[0].Subject.CommonName != "careers.example.jp" {
		t.Errorf("certificate %s", resp.TLS.PeerCertificates[0].Subject)
	}

	for _, cfg := range []*tls.Config{
		{ServerName: "careers.example.jp", MaxVersion: tls.VersionTLS11, InsecureSkipVerify: true},
		{ServerName: "unknown.example", InsecureSkipVerify: true},
	} {
		if c, err := tls.Dial("tcp", addr, cfg); err == nil {
			c.Close()
			t.Errorf("handshake with %s, TLS max %x: succeeded", cfg.ServerName, cfg.MaxVersion)
		}
	}
}

// TestHTTPRedirects: with http.listen_tls, http.listen answers a link host
// with 308 to https (path and query kept, no HSTS), any other host with
// 404.
func TestHTTPRedirects(t *testing.T) {
	careers, _ := testCert(t, "careers.example.jp")
	p := httpsPublic(t, careers)
	client := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
	for _, tc := range []struct{ host, path, code, location string }{
		{"careers.example.jp", "/c/k1.TOKEN?utm=mail&x=%2F", "308", "https://careers.example.jp/c/k1.TOKEN?utm=mail&x=%2F"},
		{"Careers.Example.JP:8080", "/t/acme", "308", "https://careers.example.jp/t/acme"},
		{"careers.example.jp", "/metrics", "308", "https://careers.example.jp/metrics"},
		{"evil.example", "/c/k1.TOKEN", "404", ""},
		{p.Addr().String(), "/healthz", "404", ""},
	} {
		req, err := http.NewRequest("GET", "http://"+p.Addr().String()+tc.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = tc.host
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Status[:3]; got != tc.code || resp.Header.Get("Location") != tc.location || resp.Header.Get("Strict-Transport-Security") != "" {
			t.Errorf("GET http://%s%s: %s, Location %q, HSTS %q; want %s %q and no HSTS", tc.host, tc.path, resp.Status,
				resp.Header.Get("Location"), resp.Header.Get("Strict-Transport-Security"), tc.code, tc.location)
		}
	}
}
