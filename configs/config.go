// Package configs holds careerrelay's configuration: the YAML schema, its
// defaults, strict loading, and validation that reports every problem at once.
package configs

import (
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// Config is the whole configuration file. Fields tagged `yaml:"-"` are
// derived by Load (parsed networks, secrets read from files, loaded keys).
type Config struct {
	// Path is the absolute path of the file this config was loaded from.
	Path string `yaml:"-"`

	DataDir  string   `yaml:"data_dir"`
	Store    Store    `yaml:"store"`
	Log      Log      `yaml:"log"`
	SMTP     SMTP     `yaml:"smtp"`
	Delivery Delivery `yaml:"delivery"`
	DNS      DNS      `yaml:"dns"`
	Links    Links    `yaml:"links"`
	HTTP     HTTP     `yaml:"http"`
	Metrics  Metrics  `yaml:"metrics"`
	Admin    Admin    `yaml:"admin"`
	Agency   Agency   `yaml:"agency"`
	Privacy  Privacy  `yaml:"privacy"`
	Tenants  []Tenant `yaml:"tenants"`
}

// Store says where the shared records live (spec §13).
type Store struct {
	// Shared, when set, keeps the send records, clicks, referrals, the
	// ledger, the webhook outbox and the audit trail in a database that
	// several nodes share; unset, they stay in data_dir's bbolt file. The
	// mail queue always stays in data_dir.
	Shared SharedStore `yaml:"shared"`
}

// SharedStore is the database of the shared records.
type SharedStore struct {
	Driver  string `yaml:"driver"`   // postgres
	DSNFile string `yaml:"dsn_file"` // a PostgreSQL connection string (keyword=value or postgres:// URL)
	DSN     string `yaml:"-"`        // the file's content, trimmed
}

// Log configures the process log (log/slog on standard error).
type Log struct {
	Level  string `yaml:"level"`  // debug | info | warn | error (default info)
	Format string `yaml:"format"` // text | json (default text)
}

// SMTP configures the inbound side: where the company's MTA connects.
type SMTP struct {
	Listen    string   `yaml:"listen"`     // plain listener, STARTTLS when TLS is set
	ListenTLS string   `yaml:"listen_tls"` // implicit-TLS listener, "" for none
	Hostname  string   `yaml:"hostname"`   // greeting, Received: and DSN reporting MTA
	TLS       TLSFiles `yaml:"tls"`

	// AllowNetworks may relay without AUTH for every tenant: for an
	// install with one company (with two or more tenants, each tenant's
	// ingress.networks is used instead).
	AllowNetworks []string       `yaml:"allow_networks"` // CIDRs that may relay without AUTH
	Networks      []netip.Prefix `yaml:"-"`
	// CloudNetworksFile lists provider ranges (one CIDR a line, # comments)
	// shared by many customers: a client there may connect without AUTH,
	// but each message must prove its tenant by DKIM or header.
	CloudNetworksFile string         `yaml:"cloud_networks_file"`
	CloudNetworks     []netip.Prefix `yaml:"-"`
	// MaxHops is the most Received: fields a message may carry; past it,
	// it is taken for a loop (554 5.4.6).
	MaxHops int `yaml:"max_hops"` // default 30

	AllowInsecureAuth bool   `yaml:"allow_insecure_auth"`
	Users             []User `yaml:"users"`

	MaxMessageBytes         int64         `yaml:"max_message_bytes"`          // default 26214400 (552 past it)
	MaxRecipients           int           `yaml:"max_recipients"`             // default 100 (452 past it)
	MaxLineLength           int           `yaml:"max_line_length"`            // default 2000
	MaxHeaderBytes          int           `yaml:"max_header_bytes"`           // default 102400 (552 past it): header fields with line ends, without the empty line
	MaxConnections          int           `yaml:"max_connections"`            // default 1000
	MaxConnectionsPerClient int           `yaml:"max_connections_per_client"` // default 50
	ReadTimeout             time.Duration `yaml:"read_timeout"`               // default 5m
	WriteTimeout            time.Duration `yaml:"write_timeout"`              // default 5m
	RelayUnknownSenders     bool          `yaml:"relay_unknown_senders"`

	// PreAuthTimeout is how long a client that may not relay from its
	// address (not in allow_networks, a tenant's ingress.networks or the
	// cloud networks) has from connecting until it authenticates; then
	// it is cut off with 421 4.4.2 (issue 13).
	PreAuthTimeout time.Duration `yaml:"preauth_timeout"` // default 30s
}

// TLSFiles names a PEM certificate chain and its private key.
type TLSFiles struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// Certificate is the pair loaded by Load; nil when no files are set.
	Certificate *tls.Certificate `yaml:"-"`
}

// User is one SMTP AUTH account; the password is a bcrypt hash.
type User struct {
	Name         string `yaml:"name"`
	PasswordHash string `yaml:"password_hash"`
	// Tenants are the ids of the tenants this user may send for; empty is
	// every tenant, allowed only while there is one.
	Tenants []string `yaml:"tenants"`
}

// DNS configures the resolver careerrelay asks for inbound DKIM keys and,
// in mx mode, for MX records.
type DNS struct {
	// Server is host:port of a DNS server to ask over UDP (and TCP for
	// long answers); "" is the system resolver.
	Server string `yaml:"server"`
}

// Delivery configures the outbound side.
type Delivery struct {
	Mode          string            `yaml:"mode"` // relay | mx | capture
	Relay         Relay             `yaml:"relay"`
	MXOverrides   map[string]string `yaml:"mx_overrides"` // domain -> host:port
	CaptureDir    string            `yaml:"capture_dir"`
	RetrySchedule []time.Duration   `yaml:"retry_schedule"` // default 1m,5m,15m,30m,1h,2h,4h; the last repeats
	Lifetime      time.Duration     `yaml:"lifetime"`       // default 120h
	Workers       int               `yaml:"workers"`        // default 16
	HelloName     string            `yaml:"hello_name"`     // EHLO name, default smtp.hostname
	// ConnectTimeout bounds dialing a peer; CommandTimeout each SMTP command
	// (DATA included).
	ConnectTimeout time.Duration `yaml:"connect_timeout"` // default 30s
	CommandTimeout time.Duration `yaml:"command_timeout"` // default 5m
}

// Relay is the upstream smarthost used in relay mode.
type Relay struct {
	Address      string `yaml:"address"` // host:port
	TLS          string `yaml:"tls"`     // starttls | tls | none (default starttls)
	Username     string `yaml:"username"`
	PasswordFile string `yaml:"password_file"`
	Password     string `yaml:"-"`
	// CAFile is a PEM bundle that verifies the upstream instead of the
	// system roots (a private CA). Verification is never turned off.
	CAFile string `yaml:"ca_file"`
	// RootCAs holds the certificates of CAFile, loaded by Load; nil when
	// CAFile is empty (use the system roots).
	RootCAs *x509.CertPool `yaml:"-"`
	// ClientCertFile and ClientKeyFile are a certificate the relay shows
	// in its TLS handshake (Exchange Online's certificate-based inbound
	// connectors: its subject is an accepted domain of the tenant).
	ClientCertFile string           `yaml:"client_cert_file"`
	ClientKeyFile  string           `yaml:"client_key_file"`
	ClientCert     *tls.Certificate `yaml:"-"`
	// HelloName is the EHLO name for this relay; "" is delivery.hello_name.
	HelloName string `yaml:"hello_name"`
}

// Links configures the personal links injected into rejection mails.
type Links struct {
	BaseURL   string        `yaml:"base_url"`
	Keys      []LinkKey     `yaml:"keys"`       // the first signs, all verify
	TTL       time.Duration `yaml:"ttl"`        // default 4320h
	BotWindow time.Duration `yaml:"bot_window"` // default 10s
	// ConfirmationMail sends the candidate a short mail after consent
	// (through the relay's own queue, DKIM-signed, no personal link).
	ConfirmationMail bool `yaml:"confirmation_mail"`
	// Rating offers a one-tap, anonymous 1-5 rating of the rejection
	// mail experience on the completion page.
	Rating bool `yaml:"rating"`
	// ScannerNetworks are CIDRs of link scanners (a mail-security
	// vendor's fetchers): a click from them is a bot, and a consent from
	// them does not count.
	ScannerNetworks []string       `yaml:"scanner_networks"`
	Scanners        []netip.Prefix `yaml:"-"`
}

// Privacy configures how long candidates' personal data is kept and the
// key of the hashes that stand in for it afterwards.
type Privacy struct {
	// Retention: after it, a send record's and a referral's address and
	// name are erased (default 9360h, 390 days).
	Retention time.Duration `yaml:"retention"`
	// HashKeyFile holds the key of the keyed hashes (HMAC-SHA256) kept in
	// place of addresses, and of the hashes in logs; "" keeps a generated
	// key in data_dir (privacy-hash.key). Every node sharing a store
	// needs the same key.
	HashKeyFile string `yaml:"hash_key_file"`
	HashKey     []byte `yaml:"-"`
}

// LinkKey is one HMAC key for link tokens.
type LinkKey struct {
	ID         string `yaml:"id"`
	SecretFile string `yaml:"secret_file"`
	Secret     []byte `yaml:"-"`
}

// HTTP configures the public listener: landing pages and /metrics.
type HTTP struct {
	Listen string `yaml:"listen"`
	// ListenTLS, when set, serves the same pages over HTTPS (spec §16);
	// Listen then redirects every request to https and HSTS is sent.
	ListenTLS string  `yaml:"listen_tls"`
	TLS       HTTPTLS `yaml:"tls"`
	// TrustedProxies are the reverse proxies in front of the listener
	// (CIDRs): for a request from one of them, the client is the last
	// address of X-Forwarded-For that is not itself a trusted proxy.
	TrustedProxies []string       `yaml:"trusted_proxies"`
	Proxies        []netip.Prefix `yaml:"-"`
}

// HTTPTLS holds the certificates of http.listen_tls: files, chosen by
// SNI among their SANs, and ACME for the link hosts no file covers.
type HTTPTLS struct {
	Certificates []TLSFiles `yaml:"certificates"`
	ACME         ACME       `yaml:"acme"`
}

// DefaultACMEDirectory is http.tls.acme.directory_url when acme is set
// without it: Let's Encrypt's production directory.
const DefaultACMEDirectory = "https://acme-v02.api.letsencrypt.org/directory"

// ACME obtains and renews certificates (golang.org/x/crypto/acme/autocert)
// for the link hosts of the config (LinkHosts) that no file covers.
type ACME struct {
	// DirectoryURL is the ACME server; "" (acme not set) turns ACME off.
	DirectoryURL string `yaml:"directory_url"` // default DefaultACMEDirectory when acme is set
	Email        string `yaml:"email"`         // contact of the ACME account, optional
	CacheDir     string `yaml:"cache_dir"`     // default <data_dir>/acme: account key and certificates
	// CAFile is a PEM bundle that verifies the ACME server itself
	// instead of the system roots (a private or test ACME server).
	CAFile  string         `yaml:"ca_file"`
	RootCAs *x509.CertPool `yaml:"-"`
}

// Enabled reports whether ACME is configured.
func (a *ACME) Enabled() bool { return a.DirectoryURL != "" }

// Metrics says where /metrics is served.
type Metrics struct {
	// Listen, when set, serves /metrics on a listener of its own and
	// not on http.listen, so that the public link host shows no
	// per-tenant counts; "" keeps it on http.listen.
	Listen string `yaml:"listen"`
}

// Admin configures the admin API listener.
type Admin struct {
	Listen    string `yaml:"listen"`
	TokenFile string `yaml:"token_file"`
	Token     string `yaml:"-"`
}

// Agency is the partner recruitment agency.
type Agency struct {
	Name            string  `yaml:"name"`
	RegistrationURL string  `yaml:"registration_url"`
	Webhook         Webhook `yaml:"webhook"`
	// What the candidate is shown of the agency (spec §16).
	LogoURL          string   `yaml:"logo_url"`           // https image
	Description      string   `yaml:"description"`        // one line
	LicenseNumber    string   `yaml:"license_number"`     // 有料職業紹介事業 許可番号
	PrivacyPolicyURL string   `yaml:"privacy_policy_url"` // https page
	Contact          string   `yaml:"contact"`            // how candidates withdraw or ask
	NextSteps        []string `yaml:"next_steps"`         // shown after consent
}

// Webhook is the agency's referral endpoint.
type Webhook struct {
	URL        string `yaml:"url"`
	SecretFile string `yaml:"secret_file"`
	Secret     []byte `yaml:"-"`
}

// Tenant is one company using the relay.
type Tenant struct {
	ID                 string    `yaml:"id"`
	Name               string    `yaml:"name"`
	Domains            []string  `yaml:"domains"`
	Tag                string    `yaml:"tag"`                  // default "[[career-relay]]"
	ReferralsPerCredit int       `yaml:"referrals_per_credit"` // default 10
	CreditValueYen     int       `yaml:"credit_value_yen"`     // estimated fee one credit saves, yen; 0: not shown
	Color              string    `yaml:"color"`                // landing page accent, #rrggbb
	LogoURL            string    `yaml:"logo_url"`
	DKIM               []DKIMKey `yaml:"dkim"`
	// Ingress says how a message proves it is this tenant's.
	Ingress Ingress `yaml:"ingress"`
	// Delivery is the tenant's own return route; with no mode, the
	// tenant's mail takes the global delivery.
	Delivery TenantDelivery `yaml:"delivery"`
	// APIKeys open the tenant's API (/api/v1/tenants/<id>/...) to the
	// systems that hold them, such as an ATS that sends its own mail.
	APIKeys []APIKey `yaml:"api_keys"`
	// HRUsers may log in to the tenant's HR page (/hr/).
	HRUsers []HRUser `yaml:"hr_users"`
	// Links is the tenant's own link host (spec §16): its links are
	// <Links.BaseURL>/c/<token>, valid on that host only.
	Links TenantLinks `yaml:"links"`
}

// TenantLinks is a tenant's own link settings.
type TenantLinks struct {
	BaseURL string `yaml:"base_url"` // default: links.base_url
}

// APIKey is one key of a tenant's API: only its SHA-256 is in the file.
type APIKey struct {
	ID     string `yaml:"id"`     // names the key in logs and rate limits
	SHA256 string `yaml:"sha256"` // hex SHA-256 of the key (careerrelay api-key prints both)
	Sum    []byte `yaml:"-"`      // SHA256 decoded
}

// HRUser is an account of a tenant's HR page.
type HRUser struct {
	Name         string `yaml:"name"`
	PasswordHash string `yaml:"password_hash"` // bcrypt
}

// Ingress holds a tenant's proofs besides an AUTH user listed for it.
type Ingress struct {
	// Networks are the tenant's own MTAs: a client there proves the tenant.
	Networks []string       `yaml:"networks"`
	Prefixes []netip.Prefix `yaml:"-"`
	// DKIMDomains are the d= domains whose verified signature (covering
	// From) proves the tenant, e.g. acme.onmicrosoft.com.
	DKIMDomains []string `yaml:"dkim_domains"`
	// Microsoft365TenantID, when set, must also be the value of exactly
	// one X-MS-Exchange-CrossTenant-Id field for a DKIM proof.
	Microsoft365TenantID string `yaml:"microsoft365_tenant_id"`
	// HeaderSecretFile holds the value of X-CareerRelay-Ingress that
	// proves the tenant (set by a provider's routing rule).
	HeaderSecretFile string `yaml:"header_secret_file"`
	HeaderSecret     []byte `yaml:"-"`
	// MaxSignatureAge: a DKIM signature older than this (by t=) proves
	// nothing.
	MaxSignatureAge time.Duration `yaml:"max_signature_age"` // default 1h
}

// TenantDelivery is a tenant's own outbound route.
type TenantDelivery struct {
	Mode  string `yaml:"mode"` // relay, or "" for the global delivery
	Relay Relay  `yaml:"relay"`
}

// DKIMKey is one signing key of a tenant; every key gives a signature.
type DKIMKey struct {
	Selector string        `yaml:"selector"`
	KeyFile  string        `yaml:"key_file"`
	Signer   crypto.Signer `yaml:"-"` // *rsa.PrivateKey or ed25519.PrivateKey
}

// TenantByDomain returns the tenant that sends from domain, compared
// without regard to case (a trailing dot is ignored), or nil when no tenant
// has it. Subdomains do not match: list each sending domain.
func (c *Config) TenantByDomain(domain string) *Tenant {
	domain = strings.TrimSuffix(domain, ".")
	for i := range c.Tenants {
		for _, d := range c.Tenants[i].Domains {
			if strings.EqualFold(d, domain) {
				return &c.Tenants[i]
			}
		}
	}
	return nil
}

// Proves reports whether the tenant lists d as one of its ingress DKIM
// domains (compared without regard to case).
func (t *Tenant) Proves(d string) bool {
	d = strings.TrimSuffix(d, ".")
	for _, x := range t.Ingress.DKIMDomains {
		if strings.EqualFold(x, d) {
			return true
		}
	}
	return false
}

// HasDomain reports whether d is one of the tenant's sending domains
// (compared without regard to case, a trailing dot ignored).
func (t *Tenant) HasDomain(d string) bool {
	d = strings.TrimSuffix(d, ".")
	for _, x := range t.Domains {
		if strings.EqualFold(x, d) {
			return true
		}
	}
	return false
}

// MayUse reports whether the AUTH user name may send for the tenant.
func (u *User) MayUse(tenant string) bool {
	return len(u.Tenants) == 0 || slices.Contains(u.Tenants, tenant)
}

// UserByName returns the SMTP user name, or nil.
func (c *Config) UserByName(name string) *User {
	for i := range c.SMTP.Users {
		if c.SMTP.Users[i].Name == name {
			return &c.SMTP.Users[i]
		}
	}
	return nil
}

// TenantByID returns the tenant with id, or nil.
func (c *Config) TenantByID(id string) *Tenant {
	for i := range c.Tenants {
		if c.Tenants[i].ID == id {
			return &c.Tenants[i]
		}
	}
	return nil
}

// TenantIDs lists the tenants' ids in the order of the file.
func (c *Config) TenantIDs() []string {
	ids := make([]string, len(c.Tenants))
	for i, t := range c.Tenants {
		ids[i] = t.ID
	}
	return ids
}

// Resolver returns the resolver of dns.server: that server, over UDP and
// over TCP for long answers, or the system's resolver when it is "".
func (d DNS) Resolver() *net.Resolver {
	if d.Server == "" {
		return net.DefaultResolver
	}
	server := d.Server
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var dialer net.Dialer
		return dialer.DialContext(ctx, network, server)
	}}
}
