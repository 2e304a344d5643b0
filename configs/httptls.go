package configs

import (
	"fmt"
	"os"
	"strings"
)

// httpTLS checks http.listen_tls and http.tls (spec §16) and loads the
// certificate files and the ACME server's CA file.
func (v *validator) httpTLS() {
	h := &v.c.HTTP
	t := &h.TLS
	if h.ListenTLS != "" {
		if msg := checkHostPort(h.ListenTLS, true); msg != "" {
			v.add("http.listen_tls", msg, `write host:port; HTTPS is on port 443, e.g. ":443"`)
		}
	}
	hosts := v.c.LinkHosts()
	covered := map[string]bool{}
	for i := range t.Certificates {
		f := &t.Certificates[i]
		p := index("http.tls.certificates", i)
		certOK := v.required(join(p, "cert_file"), f.CertFile, "set the PEM certificate chain of the link host, leaf first")
		keyOK := v.required(join(p, "key_file"), f.KeyFile, "set the PEM private key of that certificate")
		if !certOK || !keyOK {
			continue
		}
		readable := true
		for _, x := range []struct{ key, path, what string }{
			{join(p, "cert_file"), f.CertFile, "certificate file"},
			{join(p, "key_file"), f.KeyFile, "TLS key file"},
		} {
			if _, err := os.ReadFile(x.path); err != nil {
				msg, hint := fileProblem(x.what, x.path, err)
				v.add(x.key, msg, hint)
				readable = false
			}
		}
		if !readable {
			continue
		}
		tc, msg, hint := loadCertificate(f.CertFile, f.KeyFile)
		if msg != "" {
			v.add(p, msg, hint)
			continue
		}
		f.Certificate = tc
		names := tc.Leaf.DNSNames
		if len(names) == 0 {
			v.add(join(p, "cert_file"), fmt.Sprintf("the certificate in %s names no DNS host (no subjectAltName)", f.CertFile),
				"use a certificate whose subjectAltName lists the link host, e.g. DNS:careers.example.jp")
			continue
		}
		matched := false
		for _, host := range hosts {
			for _, n := range names {
				if HostMatches(n, host) {
					covered[host], matched = true, true
				}
			}
		}
		if !matched {
			v.add(join(p, "cert_file"), fmt.Sprintf("the certificate in %s is for %s, which is no link host (%s)",
				f.CertFile, strings.Join(names, ", "), strings.Join(hosts, ", ")),
				"use the certificate of a host of links.base_url or of a tenant's links.base_url, or remove it")
		}
	}

	a := &t.ACME
	acme := a.Enabled() || v.ps.doc.has("http.tls.acme")
	if acme {
		if v.required("http.tls.acme.directory_url", a.DirectoryURL, "remove the key for Let's Encrypt ("+DefaultACMEDirectory+")") {
			if _, msg := checkURL(a.DirectoryURL, "https"); msg != "" {
				v.add("http.tls.acme.directory_url", msg, "write the https URL of the ACME server's directory, e.g. "+DefaultACMEDirectory)
			}
		}
		v.required("http.tls.acme.cache_dir", a.CacheDir, "remove the key for data_dir/acme, or name a folder only careerrelay reads")
		if a.Email != "" && !strings.Contains(strings.Trim(a.Email, "@"), "@") {
			v.add("http.tls.acme.email", fmt.Sprintf("%q is not a mail address", a.Email),
				"write the address the ACME server may write to about the certificates, or remove the key")
		}
		if a.CAFile != "" {
			pool, msg, hint := loadCAFile(a.CAFile)
			if msg != "" {
				v.add("http.tls.acme.ca_file", msg, "point ca_file at a PEM bundle of the CA certificates of the ACME server's own HTTPS certificate; "+hint)
			}
			a.RootCAs = pool
		}
	}

	switch {
	case h.ListenTLS == "" && (len(t.Certificates) > 0 || acme):
		v.add("http.listen_tls", "http.tls is set but http.listen_tls is not, so no certificate is ever used",
			`set http.listen_tls, e.g. ":443", or remove http.tls`)
	case h.ListenTLS != "" && len(t.Certificates) == 0 && !acme:
		v.add("http.listen_tls", "an HTTPS listener needs certificates, and neither http.tls.certificates nor http.tls.acme is set",
			"list the link hosts' certificates in http.tls.certificates, or set http.tls.acme: {email: ...} to obtain them from Let's Encrypt")
	case h.ListenTLS != "" && !acme:
		for _, host := range hosts {
			if !covered[host] {
				v.add("http.tls.certificates", fmt.Sprintf("no certificate covers the link host %s", host),
					"add that host's certificate, or set http.tls.acme to obtain the missing ones")
			}
		}
	}
}
