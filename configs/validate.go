package configs

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"
	"unicode"

	"golang.org/x/crypto/bcrypt"
)

// validate checks c (defaults applied, paths resolved), fills in the
// derived fields (networks, secrets, keys, certificates) and records every
// problem in ps.
func validate(c *Config, ps *problems) {
	v := &validator{c: c, ps: ps}
	v.top()
	v.smtp()
	v.delivery()
	v.dns()
	v.links()
	v.privacy()
	v.listeners()
	v.agency()
	v.tenants()
	v.multiTenant()
	v.httpTLS()
}

type validator struct {
	c  *Config
	ps *problems
}

func (v *validator) add(key, msg, hint string) { v.ps.add(key, msg, hint) }

// required records a problem when value is empty.
func (v *validator) required(key, value, hint string) bool {
	if value == "" {
		v.add(key, "required but not set", hint)
		return false
	}
	return true
}

// positive records a problem when d is not above zero.
func (v *validator) positive(key string, d time.Duration, hint string) {
	if d <= 0 {
		v.add(key, fmt.Sprintf("must be more than 0, is %v", d), hint)
	}
}

// atLeast records a problem when n is below min.
func (v *validator) atLeast(key string, n, min int64, hint string) {
	if n < min {
		v.add(key, fmt.Sprintf("must be at least %d, is %d", min, n), hint)
	}
}

// secret reads a secret file into *dst.
func (v *validator) secret(key, path string, dst *[]byte) {
	if !v.required(key, path, secretHint+", and set "+key+" to its path") {
		return
	}
	s, msg, hint := readSecret(path)
	if msg != "" {
		v.add(key, msg, hint)
		return
	}
	*dst = s
}

func (v *validator) top() {
	c := v.c
	v.required("data_dir", c.DataDir, "set data_dir to the folder where the queue and the store live, e.g. /var/lib/careerrelay")
	v.sharedStore()
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		v.add("log.level", fmt.Sprintf("unknown level %q", c.Log.Level), "use debug, info, warn or error")
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		v.add("log.format", fmt.Sprintf("unknown format %q", c.Log.Format), "use text or json")
	}
}

func (v *validator) smtp() {
	s := &v.c.SMTP
	if v.required("smtp.listen", s.Listen, `set the address the company's MTA connects to, e.g. ":25" or ":587"`) {
		if msg := checkHostPort(s.Listen, true); msg != "" {
			v.add("smtp.listen", msg, hostPortHint)
		}
	}
	if s.ListenTLS != "" {
		if msg := checkHostPort(s.ListenTLS, true); msg != "" {
			v.add("smtp.listen_tls", msg, hostPortHint)
		}
	}
	// Left out and unknown to the system, the hostname was reported by
	// applyDefaults.
	switch set := v.ps.doc.has("smtp.hostname"); {
	case !set && s.Hostname == "":
		// Unknown to the system too: reported by applyDefaults.
	case !set && !validHostName(s.Hostname):
		v.add("smtp.hostname", fmt.Sprintf("not set, and the system host name %q is not a valid host name", s.Hostname),
			"set smtp.hostname to the relay's fully qualified DNS name, e.g. relay.example.jp")
	case !v.required("smtp.hostname", s.Hostname, "set smtp.hostname to the name this relay is known by, e.g. relay.example.jp"):
	case !validHostName(s.Hostname):
		v.add("smtp.hostname", fmt.Sprintf("%q is not a valid host name", s.Hostname),
			"use the relay's fully qualified DNS name, e.g. relay.example.jp")
	}

	switch cert, key := s.TLS.CertFile, s.TLS.KeyFile; {
	case cert == "" && key != "":
		v.add("smtp.tls.cert_file", "key_file is set but cert_file is not", "set both cert_file and key_file, or neither for no TLS")
	case cert != "" && key == "":
		v.add("smtp.tls.key_file", "cert_file is set but key_file is not", "set both cert_file and key_file, or neither for no TLS")
	case cert != "":
		readable := true
		for _, f := range []struct{ key, path, what string }{
			{"smtp.tls.cert_file", cert, "certificate file"},
			{"smtp.tls.key_file", key, "TLS key file"},
		} {
			if _, err := os.ReadFile(f.path); err != nil {
				msg, hint := fileProblem(f.what, f.path, err)
				v.add(f.key, msg, hint)
				readable = false
			}
		}
		if !readable {
			break
		}
		tc, msg, hint := loadCertificate(cert, key)
		if msg != "" {
			v.add("smtp.tls", msg, hint)
		}
		s.TLS.Certificate = tc
	case s.ListenTLS != "":
		v.add("smtp.listen_tls", "an implicit-TLS listener needs a certificate, and smtp.tls is not set",
			"set smtp.tls.cert_file and smtp.tls.key_file, or remove listen_tls")
	}

	s.Networks = v.networks("smtp.allow_networks", s.AllowNetworks)
	v.cloudNetworks()

	names := map[string]int{}
	for i, u := range s.Users {
		p := index("smtp.users", i)
		if v.required(join(p, "name"), u.Name, "give the user the name the MTA logs in with") {
			if j, dup := names[u.Name]; dup {
				v.add(join(p, "name"), fmt.Sprintf("user %q is also smtp.users[%d]", u.Name, j), "give each user a different name")
			}
			names[u.Name] = i
		}
		if v.required(join(p, "password_hash"), u.PasswordHash, bcryptHint) {
			if _, err := bcrypt.Cost([]byte(u.PasswordHash)); err != nil {
				v.add(join(p, "password_hash"), fmt.Sprintf("not a bcrypt hash: %v", strings.TrimPrefix(err.Error(), "crypto/bcrypt: ")), bcryptHint)
			}
		}
	}
	if len(s.Users) > 0 && s.TLS.CertFile == "" && !s.AllowInsecureAuth {
		v.add("smtp.users", "users are set, but AUTH is offered only over TLS and smtp.tls is not set",
			"set smtp.tls.cert_file and key_file, or allow_insecure_auth: true on a trusted network only")
	}
	if len(s.Users) == 0 && len(s.AllowNetworks) == 0 && s.CloudNetworksFile == "" && !v.anyIngress() {
		v.add("smtp.allow_networks", "no client may relay: neither smtp.allow_networks, smtp.users, smtp.cloud_networks_file nor any tenant's ingress is set",
			"list the company MTA's networks in smtp.allow_networks (one company) or tenants[].ingress.networks, or add smtp.users for AUTH")
	}
	v.atLeast("smtp.max_hops", int64(s.MaxHops), 1, "remove the key for the default 30")

	v.atLeast("smtp.max_message_bytes", s.MaxMessageBytes, 1, "remove the key for the default 26214400, 25 MiB")
	v.atLeast("smtp.max_recipients", int64(s.MaxRecipients), 1, "remove the key for the default 100")
	v.atLeast("smtp.max_line_length", int64(s.MaxLineLength), 1000, "RFC 5321 needs lines of 1000 octets; remove the key for the default 2000")
	v.atLeast("smtp.max_header_bytes", int64(s.MaxHeaderBytes), 1000, "a header of a few fields needs 1000 octets; remove the key for the default 102400, 100 KiB")
	v.atLeast("smtp.max_connections", int64(s.MaxConnections), 1, "remove the key for the default 1000")
	v.atLeast("smtp.max_connections_per_client", int64(s.MaxConnectionsPerClient), 1, "remove the key for the default 50")
	v.positive("smtp.read_timeout", s.ReadTimeout, "remove the key for the default 5m")
	v.positive("smtp.write_timeout", s.WriteTimeout, "remove the key for the default 5m")
	v.positive("smtp.preauth_timeout", s.PreAuthTimeout, "remove the key for the default 30s")
}

const bcryptHint = `store a bcrypt hash, never the password: printf '%s' 'PASSWORD' | careerrelay hash-password`

// parseNetwork parses a CIDR prefix or a single address (as /32 or /128).
// A prefix with host bits set (10.0.0.1/8) is refused: it is ambiguous.
func parseNetwork(s string) (netip.Prefix, string) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return netip.Prefix{}, fmt.Sprintf("%q is not an IP address or network", s)
		}
		return netip.PrefixFrom(a, a.BitLen()), ""
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Sprintf("%q is not a network in CIDR form", s)
	}
	if p != p.Masked() {
		return netip.Prefix{}, fmt.Sprintf("%q has host bits set: did you mean %s or %s?", s, p.Masked(), p.Addr())
	}
	return p, ""
}

func (v *validator) delivery() {
	d := &v.c.Delivery
	switch d.Mode {
	case "relay":
		v.relay("delivery.relay", &v.c.Delivery.Relay)
	case "mx":
	case "capture":
		v.required("delivery.capture_dir", d.CaptureDir, "set capture_dir to the folder that receives one .eml file per delivered copy")
	default:
		v.add("delivery.mode", fmt.Sprintf("unknown mode %q", d.Mode),
			"use relay to hand mail to an upstream smarthost, mx to deliver to the recipients' MX, or capture to write .eml files for tests")
	}

	lower := map[string]string{}
	for _, dom := range slices.Sorted(maps.Keys(d.MXOverrides)) {
		addr := d.MXOverrides[dom]
		key := join("delivery.mx_overrides", dom)
		if msg := checkDomain(dom); msg != "" {
			v.add(key, msg, domainHint)
		}
		if prev, dup := lower[strings.ToLower(dom)]; dup {
			v.add(key, fmt.Sprintf("%q and %q are the same domain", dom, prev), "keep one of them")
		}
		lower[strings.ToLower(dom)] = dom
		if msg := checkHostPort(addr, false); msg != "" {
			v.add(key, msg, `map the domain to host:port, e.g. "mx.example.jp:25"`)
		}
	}
	if len(lower) > 0 {
		m := make(map[string]string, len(lower))
		for l, dom := range lower {
			m[l] = d.MXOverrides[dom]
		}
		d.MXOverrides = m
	}

	if len(d.RetrySchedule) == 0 {
		v.add("delivery.retry_schedule", "empty", "list at least one wait, e.g. [1m, 5m, 15m], or remove the key for the default")
	}
	for i, w := range d.RetrySchedule {
		v.positive(index("delivery.retry_schedule", i), w, "every wait must be a duration above 0, e.g. 5m")
	}
	v.positive("delivery.lifetime", d.Lifetime, "remove the key for the default 120h, 5 days")
	v.atLeast("delivery.workers", int64(d.Workers), 1, "remove the key for the default 16")
	v.positive("delivery.connect_timeout", d.ConnectTimeout, "remove the key for the default 30s")
	v.positive("delivery.command_timeout", d.CommandTimeout, "remove the key for the default 5m")
	// Left out, hello_name is smtp.hostname, whose problems are reported
	// there.
	if v.ps.doc.has("delivery.hello_name") &&
		v.required("delivery.hello_name", d.HelloName, "remove the key to use smtp.hostname") && !validHostName(d.HelloName) {
		v.add("delivery.hello_name", fmt.Sprintf("%q is not a valid host name", d.HelloName),
			"use this relay's DNS name; its address should resolve back to it")
	}
}

// relay checks the upstream smarthost at key p (delivery.relay, or a
// tenant's delivery.relay) and loads its files.
func (v *validator) relay(p string, r *Relay) {
	if v.required(join(p, "address"), r.Address, `set the upstream smarthost as host:port, e.g. "smtp.upstream.example:587", or use mode mx`) {
		if msg := checkHostPort(r.Address, false); msg != "" {
			v.add(join(p, "address"), msg, `write host:port, e.g. "smtp.upstream.example:587"`)
		}
	}
	switch r.TLS {
	case "starttls", "tls", "none":
	default:
		v.add(join(p, "tls"), fmt.Sprintf("unknown TLS mode %q", r.TLS),
			"use starttls for ports 587 and 25, tls for implicit TLS on port 465, or none on a trusted local network only")
	}
	switch {
	case r.Username != "" && r.PasswordFile == "":
		v.add(join(p, "password_file"), "relay.username is set but password_file is not",
			"put the upstream password in a file, chmod 600, and set password_file to its path; or remove username")
	case r.Username == "" && r.PasswordFile != "":
		v.add(join(p, "username"), "relay.password_file is set but username is not",
			"set the upstream user name, or remove password_file")
	case r.PasswordFile != "":
		b, err := os.ReadFile(r.PasswordFile)
		if err != nil {
			msg, hint := fileProblem("password file", r.PasswordFile, err)
			v.add(join(p, "password_file"), msg, hint)
		} else if pw := strings.TrimSpace(string(b)); pw == "" {
			v.add(join(p, "password_file"), fmt.Sprintf("%s is empty", r.PasswordFile), "write the upstream password into it")
		} else {
			r.Password = pw
		}
	}
	if r.CAFile != "" {
		pool, msg, hint := loadCAFile(r.CAFile)
		if msg != "" {
			v.add(join(p, "ca_file"), msg, hint)
		}
		r.RootCAs = pool
	}
	switch cert, key := r.ClientCertFile, r.ClientKeyFile; {
	case cert == "" && key != "":
		v.add(join(p, "client_cert_file"), "client_key_file is set but client_cert_file is not", "set both, or neither for no client certificate")
	case cert != "" && key == "":
		v.add(join(p, "client_key_file"), "client_cert_file is set but client_key_file is not", "set both, or neither for no client certificate")
	case cert != "" && r.TLS == "none":
		v.add(join(p, "client_cert_file"), "a client certificate is set but tls is none, so it is never shown",
			"use tls: starttls (Exchange Online's inbound connectors take STARTTLS on port 25)")
	case cert != "":
		tc, msg, hint := loadCertificate(cert, key)
		if msg != "" {
			v.add(join(p, "client_cert_file"), msg, hint)
		}
		r.ClientCert = tc
	}
	if r.HelloName != "" && !validHostName(r.HelloName) {
		v.add(join(p, "hello_name"), fmt.Sprintf("%q is not a valid host name", r.HelloName),
			"use a DNS name; Google's smtp-relay wants one of the tenant's domains, e.g. acme.example")
	}
}

func (v *validator) links() {
	l := &v.c.Links
	if v.required("links.base_url", l.BaseURL, "set the public URL of the landing pages, e.g. https://careers.example.jp") {
		u, msg := checkURL(l.BaseURL, "https", "http")
		switch {
		case msg != "":
			v.add("links.base_url", msg, "write the public http(s) URL of the landing pages, e.g. https://careers.example.jp")
		case u.RawQuery != "" || strings.HasSuffix(l.BaseURL, "?"):
			v.add("links.base_url", fmt.Sprintf("%q has a ?query", l.BaseURL), "remove the query; links are <base_url>/c/<token>")
		default:
			l.BaseURL = strings.TrimRight(l.BaseURL, "/")
		}
	}
	if len(l.Keys) == 0 {
		v.add("links.keys", "no link key", "add one: keys: [{id: k1, secret_file: link.key}] and "+secretHint)
	}
	ids := map[string]int{}
	for i := range l.Keys {
		k := &l.Keys[i]
		p := index("links.keys", i)
		if v.required(join(p, "id"), k.ID, "give the key a short id such as k1; it is written into every token") {
			if !linkKeyIDRE.MatchString(k.ID) {
				v.add(join(p, "id"), fmt.Sprintf("%q is not 1 to 16 letters, digits, - or _", k.ID), "use a short id such as k1 or 2026a")
			} else if j, dup := ids[k.ID]; dup {
				v.add(join(p, "id"), fmt.Sprintf("id %q is also links.keys[%d]", k.ID, j), "give each key its own id; a new key needs a new id")
			}
			ids[k.ID] = i
		}
		v.secret(join(p, "secret_file"), k.SecretFile, &k.Secret)
	}
	v.positive("links.ttl", l.TTL, "remove the key for the default 4320h, 180 days")
	if l.BotWindow < 0 {
		v.add("links.bot_window", fmt.Sprintf("must not be negative, is %v", l.BotWindow), "use 0 to turn the time rule off, or remove the key for the default 10s")
	}
	l.Scanners = nil
	for i, n := range l.ScannerNetworks {
		pfx, msg := parseNetwork(n)
		if msg == "" && pfx.Bits() == 0 {
			msg = fmt.Sprintf("%s would make every visitor a scanner", n)
		}
		if msg != "" {
			v.add(index("links.scanner_networks", i), msg, "list the ranges of the link scanners, in CIDR form such as 40.94.0.0/16")
			continue
		}
		l.Scanners = append(l.Scanners, pfx)
	}
}

func (v *validator) privacy() {
	p := &v.c.Privacy
	v.positive("privacy.retention", p.Retention, "remove the key for the default 9360h, 390 days")
	if p.HashKeyFile != "" {
		v.secret("privacy.hash_key_file", p.HashKeyFile, &p.HashKey)
	}
}

func (v *validator) listeners() {
	v.c.HTTP.Proxies = nil
	for i, n := range v.c.HTTP.TrustedProxies {
		pfx, msg := parseNetwork(n)
		if msg != "" {
			v.add(index("http.trusted_proxies", i), msg, "write the proxy's address or network in CIDR form, such as 127.0.0.1 or 10.0.0.0/24")
			continue
		}
		v.c.HTTP.Proxies = append(v.c.HTTP.Proxies, pfx)
	}
	if h := v.c.HTTP.Listen; h != "" {
		if msg := checkHostPort(h, true); msg != "" {
			v.add("http.listen", msg, hostPortHint)
		}
	}
	if m := v.c.Metrics.Listen; m != "" {
		if msg := checkHostPort(m, true); msg != "" {
			v.add("metrics.listen", msg, `write host:port where only Prometheus reaches it, e.g. "127.0.0.1:9464"`)
		}
	}
	a := &v.c.Admin
	if a.Listen == "" {
		return
	}
	if msg := checkHostPort(a.Listen, true); msg != "" {
		v.add("admin.listen", msg, `write host:port; keep the admin API on loopback, e.g. "127.0.0.1:8025"`)
	}
	var tok []byte
	v.secret("admin.token_file", a.TokenFile, &tok)
	a.Token = string(tok)
}

func (v *validator) agency() {
	a := &v.c.Agency
	v.required("agency.name", a.Name, "set the partner agency's name; candidates see it on the landing page")
	if v.required("agency.registration_url", a.RegistrationURL, "set the agency's registration page, e.g. https://agency.example/register") {
		if _, msg := checkURL(a.RegistrationURL, "https", "http"); msg != "" {
			v.add("agency.registration_url", msg, "write the agency's absolute https URL, e.g. https://agency.example/register")
		}
	}
	for key, u := range map[string]string{"agency.logo_url": a.LogoURL, "agency.privacy_policy_url": a.PrivacyPolicyURL} {
		if u == "" {
			continue
		}
		if _, msg := checkURL(u, "https"); msg != "" {
			v.add(key, msg, "use an absolute https URL, or remove the key")
		}
	}
	if len(a.NextSteps) > 5 {
		v.add("agency.next_steps", fmt.Sprintf("%d steps; a candidate reads 5 at most", len(a.NextSteps)), "keep the 3 to 5 steps that matter")
	}
	w := &a.Webhook
	if w.URL == "" {
		return
	}
	if _, msg := checkURL(w.URL, "https", "http"); msg != "" {
		v.add("agency.webhook.url", msg, "write the agency's absolute https URL, or remove url for no webhook")
	}
	v.secret("agency.webhook.secret_file", w.SecretFile, &w.Secret)
}

func (v *validator) tenants() {
	ts := v.c.Tenants
	if len(ts) == 0 {
		v.add("tenants", "no tenant", "add one company: tenants: [{id: acme, name: 株式会社アクメ, domains: [acme.example]}]")
	}
	ids := map[string]int{}
	domains := map[string]string{} // domain -> key of its first use
	for i := range ts {
		for j, d := range ts[i].Domains {
			if _, seen := domains[strings.ToLower(d)]; !seen {
				domains[strings.ToLower(d)] = index(join(index("tenants", i), "domains"), j)
			}
		}
	}
	owners := map[string]string{}    // tenant domains and DKIM domains -> key
	keyOwners := map[string]string{} // API key digests -> key
	hrNames := map[string]string{}   // HR page account names -> key
	for i := range ts {
		t := &ts[i]
		p := index("tenants", i)
		if v.required(join(p, "id"), t.ID, "give the tenant a short id such as acme") {
			if !tenantIDRE.MatchString(t.ID) {
				v.add(join(p, "id"), fmt.Sprintf("%q is not lower-case letters, digits and -", t.ID),
					"use 1 to 63 characters a-z, 0-9 and -, not starting with -; it appears in URLs and reports")
			} else if j, dup := ids[t.ID]; dup {
				v.add(join(p, "id"), fmt.Sprintf("id %q is also tenants[%d]", t.ID, j), "give each tenant its own id")
			}
			ids[t.ID] = i
		}
		v.required(join(p, "name"), t.Name, "set the company name candidates see on the landing page")
		if len(t.Domains) == 0 {
			v.add(join(p, "domains"), "no domain", "list the domains the company sends from, e.g. [acme.example]")
		}
		for j, d := range t.Domains {
			key := index(join(p, "domains"), j)
			if msg := checkDomain(d); msg != "" {
				v.add(key, msg, domainHint)
				continue
			}
			d = strings.ToLower(d)
			t.Domains[j] = d
			owners[d] = key
			if prev := domains[d]; prev != key {
				v.add(key, fmt.Sprintf("domain %q is also %s", d, prev),
					"a domain belongs to one tenant: remove it from one of them")
			}
		}
		v.tag(join(p, "tag"), t.Tag)
		v.atLeast(join(p, "referrals_per_credit"), int64(t.ReferralsPerCredit), 1, "remove the key for the default 10")
		v.atLeast(join(p, "credit_value_yen"), int64(t.CreditValueYen), 0, "the estimated fee of one hire in yen, e.g. 1000000, or remove the key (0: not shown)")
		if c := v.ps.doc.commentedOut(join(p, "color")); t.Color == "" && c != "" {
			v.add(join(p, "color"), fmt.Sprintf("the value is read as the comment %q, so color is empty", c),
				`quote the colour: color: "#0055aa"`)
		}
		if t.Color != "" && !colorRE.MatchString(t.Color) {
			v.add(join(p, "color"), fmt.Sprintf("%q is not a #rrggbb colour", t.Color), `write six hex digits, quoted: "#0055aa"`)
		}
		if t.LogoURL != "" {
			if _, msg := checkURL(t.LogoURL, "https"); msg != "" {
				v.add(join(p, "logo_url"), msg, "use an absolute https URL of the logo image, or remove logo_url")
			}
		}
		v.tenantLinks(p, t)
		v.dkim(p, t)
		v.apiKeys(p, t, keyOwners)
		v.hrUsers(p, t, hrNames)
	}
	for i := range ts {
		v.ingress(index("tenants", i), &ts[i], owners)
	}
}

// anyIngress reports whether some tenant lists a proof of its own.
func (v *validator) anyIngress() bool {
	for _, t := range v.c.Tenants {
		in := t.Ingress
		if len(in.Networks) > 0 || len(in.DKIMDomains) > 0 || in.HeaderSecretFile != "" {
			return true
		}
	}
	return false
}

func (v *validator) dns() {
	if s := v.c.DNS.Server; s != "" {
		if msg := checkHostPort(s, false); msg != "" {
			v.add("dns.server", msg, `write host:port of a DNS server, e.g. "127.0.0.1:53", or "" for the system resolver`)
		}
	}
}

func (v *validator) tag(key, tag string) {
	switch {
	case tag == "":
		v.add(key, "empty", `remove the key for the default "[[career-relay]]", or write the tag HR puts into templates`)
	case strings.TrimSpace(tag) != tag:
		v.add(key, fmt.Sprintf("%q has white space at its ends", tag), "remove the spaces; the tag is matched exactly")
	case strings.ContainsFunc(tag, unicode.IsControl):
		v.add(key, fmt.Sprintf("%q holds a control character or line break", tag), "write the tag on one line")
	}
}

// apiKeys checks a tenant's API keys: ids unique within the tenant, each
// sha256 64 hex digits and no key of two tenants (a key must name its
// tenant); keyOwners maps each digest seen to the key's path.
func (v *validator) apiKeys(p string, t *Tenant, keyOwners map[string]string) {
	ids := map[string]int{}
	for j := range t.APIKeys {
		k := &t.APIKeys[j]
		kp := index(join(p, "api_keys"), j)
		if v.required(join(kp, "id"), k.ID, "name the key after the system that holds it, e.g. ats1") {
			if !tenantIDRE.MatchString(k.ID) {
				v.add(join(kp, "id"), fmt.Sprintf("%q is not an id", k.ID), "use a-z, 0-9 and -, e.g. ats1")
			} else if i, dup := ids[k.ID]; dup {
				v.add(join(kp, "id"), fmt.Sprintf("key %q is also api_keys[%d]", k.ID, i), "give each key its own id")
			}
			ids[k.ID] = j
		}
		const hint = "write the sha256 line that `careerrelay api-key -tenant ID -id KEY` prints (never the key itself)"
		if !v.required(join(kp, "sha256"), k.SHA256, hint) {
			continue
		}
		sum, err := hex.DecodeString(k.SHA256)
		if err != nil || len(sum) != sha256.Size {
			v.add(join(kp, "sha256"), "not 64 hex digits", hint)
			continue
		}
		if other, dup := keyOwners[string(sum)]; dup {
			v.add(join(kp, "sha256"), "the same key is also "+other, "make a key for each tenant and system: careerrelay api-key")
		}
		keyOwners[string(sum)] = kp
		k.Sum = sum
	}
}

// hrUsers checks a tenant's HR page accounts. HR logs in with a name and
// a password only, so a name names one account of one tenant.
func (v *validator) hrUsers(p string, t *Tenant, names map[string]string) {
	for j, u := range t.HRUsers {
		up := index(join(p, "hr_users"), j)
		if v.required(join(up, "name"), u.Name, "give the account the name HR logs in with, e.g. acme-saiyo") {
			if other, dup := names[u.Name]; dup {
				v.add(join(up, "name"), fmt.Sprintf("account %q is also %s", u.Name, other), "give each account its own name, over all tenants (e.g. acme-saiyo)")
			}
			names[u.Name] = up
		}
		if v.required(join(up, "password_hash"), u.PasswordHash, bcryptHint) {
			if _, err := bcrypt.Cost([]byte(u.PasswordHash)); err != nil {
				v.add(join(up, "password_hash"), fmt.Sprintf("not a bcrypt hash: %v", strings.TrimPrefix(err.Error(), "crypto/bcrypt: ")), bcryptHint)
			}
		}
	}
}

func (v *validator) dkim(p string, t *Tenant) {
	sels := map[string]int{}
	for j := range t.DKIM {
		k := &t.DKIM[j]
		kp := index(join(p, "dkim"), j)
		if v.required(join(kp, "selector"), k.Selector, "name the selector the key's TXT record is published under, e.g. cr2026") {
			if !validHostName(k.Selector) {
				v.add(join(kp, "selector"), fmt.Sprintf("%q is not a valid DNS label", k.Selector), "use letters, digits and inner hyphens, e.g. cr2026")
			} else if i, dup := sels[strings.ToLower(k.Selector)]; dup {
				v.add(join(kp, "selector"), fmt.Sprintf("selector %q is also dkim[%d]", k.Selector, i), "give each key its own selector")
			}
			sels[strings.ToLower(k.Selector)] = j
		}
		if v.required(join(kp, "key_file"), k.KeyFile, keygenHint) {
			s, msg, hint := loadDKIMKey(k.KeyFile)
			if msg != "" {
				v.add(join(kp, "key_file"), msg, hint)
			}
			k.Signer = s
		}
	}
}

// tenantLinks checks tenants[].links.base_url: an absolute http(s) URL
// without a query, whose path is links.base_url's (the pages are served at
// the same paths on every host), on a host no other tenant uses.
func (v *validator) tenantLinks(p string, t *Tenant) {
	b := t.Links.BaseURL
	if b == "" {
		return
	}
	key := join(p, "links.base_url")
	u, msg := checkURL(b, "https", "http")
	if msg != "" {
		v.add(key, msg, "write the company's link host as a URL, e.g. https://careers.acme.co.jp")
		return
	}
	if u.RawQuery != "" || strings.HasSuffix(b, "?") {
		v.add(key, fmt.Sprintf("%q has a ?query", b), "remove the query")
		return
	}
	if g, err := url.Parse(v.c.Links.BaseURL); err == nil && strings.TrimRight(u.Path, "/") != strings.TrimRight(g.Path, "/") {
		v.add(key, fmt.Sprintf("path %q differs from links.base_url's %q", u.Path, g.Path),
			"use the same path on every host (usually none), e.g. https://careers.acme.co.jp")
	}
	t.Links.BaseURL = strings.TrimRight(b, "/")
	for i := range v.c.Tenants {
		o := &v.c.Tenants[i]
		if o == t {
			break
		}
		if ou, err := url.Parse(o.Links.BaseURL); err == nil && o.Links.BaseURL != "" && strings.EqualFold(ou.Hostname(), u.Hostname()) {
			v.add(key, fmt.Sprintf("host %s is also tenant %s's", u.Hostname(), o.ID), "give each company its own link host")
		}
	}
}

// sharedStore checks store.shared: the postgres driver and a readable
// file holding the connection string.
func (v *validator) sharedStore() {
	sh := &v.c.Store.Shared
	if sh.Driver == "" && sh.DSNFile == "" {
		return
	}
	if sh.Driver != "postgres" {
		v.add("store.shared.driver", fmt.Sprintf("unknown driver %q", sh.Driver), "use postgres, or remove store.shared to keep everything in data_dir")
	}
	if !v.required("store.shared.dsn_file", sh.DSNFile, "name the file holding the PostgreSQL connection string, e.g. secrets/pg.dsn") {
		return
	}
	b, err := os.ReadFile(sh.DSNFile)
	if err != nil {
		msg, hint := fileProblem("connection string file", sh.DSNFile, err)
		v.add("store.shared.dsn_file", msg, hint)
		return
	}
	sh.DSN = strings.TrimSpace(string(b))
	if v.c.Privacy.HashKeyFile == "" {
		v.add("privacy.hash_key_file", "required with store.shared", "every node needs the same privacy key: write one (head -c 32 /dev/urandom | base64 > FILE) and name it on every node")
	}
	if sh.DSN == "" {
		v.add("store.shared.dsn_file", sh.DSNFile+" is empty", `write the connection string, e.g. host=db.internal user=careerrelay dbname=careerrelay sslmode=verify-full`)
	}
}
