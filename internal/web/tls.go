package web

// HTTPS built into the public listener (spec §16): http.listen_tls with
// certificates from files, chosen by SNI, and from ACME for the link hosts
// no file covers; http.listen then redirects to https, and HSTS is sent on
// HTTPS answers.

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"

	"github.com/careerrelay/careerrelay/configs"
)

// hstsValue is the Strict-Transport-Security of every HTTPS answer: one
// year, for the host alone (a tenant's parent domain is not ours).
const hstsValue = "max-age=31536000"

// certChooser picks a certificate of http.tls.certificates by SNI.
type certChooser struct {
	certs []*tls.Certificate
}

// choose returns the certificate whose SAN is name, else the first one
// whose wildcard SAN covers it, else nil.
func (c *certChooser) choose(name string) *tls.Certificate {
	name = strings.TrimSuffix(strings.ToLower(name), ".")
	for _, exact := range []bool{true, false} {
		for _, cert := range c.certs {
			for _, san := range cert.Leaf.DNSNames {
				if strings.HasPrefix(san, "*.") == exact {
					continue
				}
				if configs.HostMatches(san, name) {
					return cert
				}
			}
		}
	}
	return nil
}

// covers reports whether a certificate covers host.
func (c *certChooser) covers(host string) bool { return c.choose(host) != nil }

// tlsSetup is what http.listen_tls serves with.
type tlsSetup struct {
	config *tls.Config
	acme   *autocert.Manager // nil without ACME, or when files cover every link host
	hosts  []string          // configs.LinkHosts
}

// newTLSSetup builds the tls.Config of http.listen_tls from cfg: the files
// first, then ACME for the link hosts they leave.
func newTLSSetup(cfg *configs.Config, log *slog.Logger) (*tlsSetup, error) {
	files := &certChooser{}
	for _, f := range cfg.HTTP.TLS.Certificates {
		if f.Certificate == nil || f.Certificate.Leaf == nil {
			return nil, fmt.Errorf("http.tls.certificates: %s is not loaded", f.CertFile)
		}
		files.certs = append(files.certs, f.Certificate)
	}
	s := &tlsSetup{hosts: cfg.LinkHosts()}
	var acmeHosts []string
	for _, h := range s.hosts {
		if !files.covers(h) {
			acmeHosts = append(acmeHosts, h)
		}
	}
	if a := &cfg.HTTP.TLS.ACME; a.Enabled() && len(acmeHosts) > 0 {
		transport := http.DefaultTransport.(*http.Transport).Clone()
		if a.RootCAs != nil {
			transport.TLSClientConfig = &tls.Config{RootCAs: a.RootCAs, MinVersion: tls.VersionTLS12}
		}
		s.acme = &autocert.Manager{
			Prompt:     autocert.AcceptTOS,
			Cache:      autocert.DirCache(a.CacheDir),
			HostPolicy: autocert.HostWhitelist(acmeHosts...),
			Email:      a.Email,
			Client: &acme.Client{
				DirectoryURL: a.DirectoryURL,
				HTTPClient:   &http.Client{Transport: transport, Timeout: time.Minute},
				UserAgent:    "careerrelay",
			},
		}
		log.Info("https: ACME", "directory", a.DirectoryURL, "hosts", acmeHosts, "cache_dir", a.CacheDir)
	} else if len(acmeHosts) > 0 {
		// configs refuses this; a config built by hand may still do it.
		log.Warn("https: no certificate for these link hosts", "hosts", acmeHosts)
	}

	s.config = &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"h2", "http/1.1"},
		GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
			if slices.Contains(hello.SupportedProtos, acme.ALPNProto) {
				// A TLS-ALPN-01 challenge of the ACME server.
				if s.acme == nil {
					return nil, errors.New("https: an ACME challenge, but ACME is not configured")
				}
				return s.acme.GetCertificate(hello)
			}
			name := hello.ServerName
			if name == "" {
				// No SNI (an IP address typed in): the first file, as
				// crypto/tls does with a list of certificates.
				if len(files.certs) > 0 {
					return files.certs[0], nil
				}
				return nil, errors.New("https: the client sent no server name (SNI)")
			}
			if c := files.choose(name); c != nil {
				return c, nil
			}
			if s.acme != nil {
				return s.acme.GetCertificate(hello)
			}
			return nil, fmt.Errorf("https: no certificate for %q", name)
		},
	}
	if s.acme != nil {
		s.config.NextProtos = append(s.config.NextProtos, acme.ALPNProto)
	}
	return s, nil
}

// isLinkHost reports whether the request's Host, without port, is a link
// host.
func (s *tlsSetup) isLinkHost(hostport string) (string, bool) {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	return host, host != "" && slices.Contains(s.hosts, host)
}

// redirectHandler is http.listen's handler when http.listen_tls is set:
// 308 to the same path and query on https for a link host, 404 for any
// other (never a redirect to a host the config does not name). No HSTS:
// browsers ignore it over plain http.
func (s *tlsSetup) redirectHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, ok := s.isLinkHost(r.Host)
		if !ok {
			http.Error(w, "404 page not found", http.StatusNotFound)
			return
		}
		target := "https://" + host + r.URL.EscapedPath()
		if r.URL.RawQuery != "" {
			target += "?" + r.URL.RawQuery
		}
		w.Header().Set("Location", target)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusPermanentRedirect)
		fmt.Fprintln(w, "Use", target)
	})
}

// hsts sends Strict-Transport-Security on every answer of h.
func hsts(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Strict-Transport-Security", hstsValue)
		h.ServeHTTP(w, r)
	})
}

// listenTLS opens addr and serves HTTPS on it in the background.
func (s *server) listenTLS(addr string, config *tls.Config) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("%s listen %s: %w", s.name, addr, err)
	}
	s.ln = ln
	s.srv.TLSConfig = config
	go func() {
		if err := s.srv.ServeTLS(ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error(s.name+" listener stopped", "addr", addr, "err", err)
		}
	}()
	return nil
}
