// Package configs holds careerrelay's configuration: the YAML schema, its
// defaults, strict loading, and validation that reports every problem at once.
package configs

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"net/netip"
	"strings"
	"time"
)

// Config is the whole configuration file. Fields tagged `yaml:"-"` are
// derived by Load (parsed networks, secrets read from files, loaded keys).
type Config struct {
	// Path is the absolute path of the file this config was loaded from.
	Path string `yaml:"-"`

	DataDir  string   `yaml:"data_dir"`
	Log      Log      `yaml:"log"`
	SMTP     SMTP     `yaml:"smtp"`
	Delivery Delivery `yaml:"delivery"`
	Links    Links    `yaml:"links"`
	HTTP     HTTP     `yaml:"http"`
	Admin    Admin    `yaml:"admin"`
	Agency   Agency   `yaml:"agency"`
	Tenants  []Tenant `yaml:"tenants"`
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

	AllowNetworks []string       `yaml:"allow_networks"` // CIDRs that may relay without AUTH
	Networks      []netip.Prefix `yaml:"-"`

	AllowInsecureAuth bool   `yaml:"allow_insecure_auth"`
	Users             []User `yaml:"users"`

	MaxMessageBytes         int64         `yaml:"max_message_bytes"`          // default 26214400 (552 past it)
	MaxRecipients           int           `yaml:"max_recipients"`             // default 100 (452 past it)
	MaxLineLength           int           `yaml:"max_line_length"`            // default 2000
	MaxConnections          int           `yaml:"max_connections"`            // default 1000
	MaxConnectionsPerClient int           `yaml:"max_connections_per_client"` // default 50
	ReadTimeout             time.Duration `yaml:"read_timeout"`               // default 5m
	WriteTimeout            time.Duration `yaml:"write_timeout"`              // default 5m
	RelayUnknownSenders     bool          `yaml:"relay_unknown_senders"`
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
}

// Links configures the personal links injected into rejection mails.
type Links struct {
	BaseURL   string        `yaml:"base_url"`
	Keys      []LinkKey     `yaml:"keys"`       // the first signs, all verify
	TTL       time.Duration `yaml:"ttl"`        // default 4320h
	BotWindow time.Duration `yaml:"bot_window"` // default 10s
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
	Color              string    `yaml:"color"`                // landing page accent, #rrggbb
	LogoURL            string    `yaml:"logo_url"`
	DKIM               []DKIMKey `yaml:"dkim"`
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
