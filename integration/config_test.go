package integration

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"go.yaml.in/yaml/v3"
	"golang.org/x/crypto/bcrypt"

	"github.com/careerrelay/careerrelay/internal/testlib"
)

// The config file the harness writes. It mirrors configs.Config's YAML keys
// with omitempty, so that a key the test leaves zero is left out of the file
// and gets the binary's default (the loader refuses some explicit zeros).

type Config struct {
	DataDir  string   `yaml:"data_dir"`
	Log      Log      `yaml:"log,omitempty"`
	SMTP     SMTP     `yaml:"smtp"`
	Delivery Delivery `yaml:"delivery"`
	Links    Links    `yaml:"links"`
	HTTP     HTTP     `yaml:"http"`
	Metrics  Metrics  `yaml:"metrics,omitempty"`
	Admin    Admin    `yaml:"admin"`
	Agency   Agency   `yaml:"agency"`
	DNS      DNS      `yaml:"dns,omitempty"`
	Tenants  []Tenant `yaml:"tenants"`
	Store    *Store   `yaml:"store,omitempty"`
	Privacy  *Privacy `yaml:"privacy,omitempty"`

	// localLinks (withLocalLinks): NewRelay points links.base_url at a
	// forwarder to the relay's HTTP listener.
	localLinks bool
}

// Metrics is metrics.listen.
type Metrics struct {
	Listen string `yaml:"listen,omitempty"`
}

type Log struct {
	Level  string `yaml:"level,omitempty"`
	Format string `yaml:"format,omitempty"`
}

type SMTP struct {
	Listen    string   `yaml:"listen"`
	ListenTLS string   `yaml:"listen_tls,omitempty"`
	Hostname  string   `yaml:"hostname,omitempty"`
	TLS       TLSFiles `yaml:"tls,omitempty"`
	// AllowNetworks is always written: nil is written as [].
	AllowNetworks           []string `yaml:"allow_networks"`
	CloudNetworksFile       string   `yaml:"cloud_networks_file,omitempty"`
	MaxHops                 int      `yaml:"max_hops,omitempty"`
	AllowInsecureAuth       bool     `yaml:"allow_insecure_auth,omitempty"`
	Users                   []User   `yaml:"users,omitempty"`
	MaxMessageBytes         int64    `yaml:"max_message_bytes,omitempty"`
	MaxRecipients           int      `yaml:"max_recipients,omitempty"`
	MaxLineLength           int      `yaml:"max_line_length,omitempty"`
	MaxConnections          int      `yaml:"max_connections,omitempty"`
	MaxConnectionsPerClient int      `yaml:"max_connections_per_client,omitempty"`
	ReadTimeout             string   `yaml:"read_timeout,omitempty"`
	WriteTimeout            string   `yaml:"write_timeout,omitempty"`
	RelayUnknownSenders     bool     `yaml:"relay_unknown_senders,omitempty"`
}

type TLSFiles struct {
	CertFile string `yaml:"cert_file,omitempty"`
	KeyFile  string `yaml:"key_file,omitempty"`
}

type User struct {
	Name         string   `yaml:"name"`
	PasswordHash string   `yaml:"password_hash"`
	Tenants      []string `yaml:"tenants,omitempty"`
}

// DNS is dns: the server asked for inbound DKIM keys and MX records.
type DNS struct {
	Server string `yaml:"server,omitempty"`
}

type Delivery struct {
	Mode           string            `yaml:"mode,omitempty"`
	Relay          Upstream          `yaml:"relay,omitempty"`
	MXOverrides    map[string]string `yaml:"mx_overrides,omitempty"`
	CaptureDir     string            `yaml:"capture_dir,omitempty"`
	RetrySchedule  []string          `yaml:"retry_schedule,omitempty"` // Go durations
	Lifetime       string            `yaml:"lifetime,omitempty"`
	Workers        int               `yaml:"workers,omitempty"`
	HelloName      string            `yaml:"hello_name,omitempty"`
	ConnectTimeout string            `yaml:"connect_timeout,omitempty"`
	CommandTimeout string            `yaml:"command_timeout,omitempty"`
}

// Upstream is delivery.relay.
type Upstream struct {
	Address      string `yaml:"address,omitempty"`
	TLS          string `yaml:"tls,omitempty"`
	Username     string `yaml:"username,omitempty"`
	PasswordFile string `yaml:"password_file,omitempty"`
	CAFile       string `yaml:"ca_file,omitempty"`
	// Only in a tenant's own route (tenants[].delivery.relay).
	ClientCertFile string `yaml:"client_cert_file,omitempty"`
	ClientKeyFile  string `yaml:"client_key_file,omitempty"`
	HelloName      string `yaml:"hello_name,omitempty"`
}

type Links struct {
	BaseURL   string    `yaml:"base_url"`
	Keys      []LinkKey `yaml:"keys"`
	TTL       string    `yaml:"ttl,omitempty"`
	BotWindow string    `yaml:"bot_window,omitempty"`
	// ConfirmationMail: links.confirmation_mail.
	ConfirmationMail bool `yaml:"confirmation_mail,omitempty"`
}

type LinkKey struct {
	ID         string `yaml:"id"`
	SecretFile string `yaml:"secret_file"`
}

type HTTP struct {
	Listen    string   `yaml:"listen"`
	ListenTLS string   `yaml:"listen_tls,omitempty"`
	TLS       *HTTPTLS `yaml:"tls,omitempty"`
}

// HTTPTLS is http.tls: certificate files and ACME.
type HTTPTLS struct {
	Certificates []TLSFiles `yaml:"certificates,omitempty"`
	ACME         *ACME      `yaml:"acme,omitempty"`
}

// ACME is http.tls.acme.
type ACME struct {
	DirectoryURL string `yaml:"directory_url,omitempty"`
	Email        string `yaml:"email,omitempty"`
	CacheDir     string `yaml:"cache_dir,omitempty"`
	CAFile       string `yaml:"ca_file,omitempty"`
}

type Admin struct {
	Listen    string `yaml:"listen"`
	TokenFile string `yaml:"token_file"`
}

type Agency struct {
	Name            string  `yaml:"name"`
	RegistrationURL string  `yaml:"registration_url"`
	Webhook         Webhook `yaml:"webhook"`
}

type Webhook struct {
	URL        string `yaml:"url"`
	SecretFile string `yaml:"secret_file"`
}

type Tenant struct {
	ID                 string    `yaml:"id"`
	Name               string    `yaml:"name"`
	Domains            []string  `yaml:"domains"`
	Tag                string    `yaml:"tag,omitempty"`
	ReferralsPerCredit int       `yaml:"referrals_per_credit,omitempty"`
	DKIM               []DKIMKey `yaml:"dkim,omitempty"`
	// Ingress and Delivery are left out of the file when zero.
	Ingress  Ingress        `yaml:"ingress,omitempty"`
	Delivery TenantDelivery `yaml:"delivery,omitempty"`
	APIKeys  []APIKey       `yaml:"api_keys,omitempty"`
	HRUsers  []HRUser       `yaml:"hr_users,omitempty"`
	// Links is tenants[].links: the tenant's own link host.
	Links *TenantLinks `yaml:"links,omitempty"`
}

// TenantLinks is tenants[].links.
type TenantLinks struct {
	BaseURL string `yaml:"base_url,omitempty"`
}

// APIKey is tenants[].api_keys[]: the SHA-256 of a tenant API key.
type APIKey struct {
	ID     string `yaml:"id"`
	SHA256 string `yaml:"sha256"`
}

// HRUser is tenants[].hr_users[]: an HR page account.
type HRUser struct {
	Name         string `yaml:"name"`
	PasswordHash string `yaml:"password_hash"`
}

// Ingress is tenants[].ingress: how a message proves it is the tenant's.
type Ingress struct {
	Networks             []string `yaml:"networks,omitempty"`
	DKIMDomains          []string `yaml:"dkim_domains,omitempty"`
	Microsoft365TenantID string   `yaml:"microsoft365_tenant_id,omitempty"`
	HeaderSecretFile     string   `yaml:"header_secret_file,omitempty"`
	MaxSignatureAge      string   `yaml:"max_signature_age,omitempty"` // a Go duration
}

// TenantDelivery is tenants[].delivery, the tenant's own return route.
type TenantDelivery struct {
	Mode  string   `yaml:"mode,omitempty"`
	Relay Upstream `yaml:"relay,omitempty"`
}

type DKIMKey struct {
	Selector string `yaml:"selector"`
	KeyFile  string `yaml:"key_file"`
}

// Test identities shared by the tests.
const (
	tenantID     = "acme"
	tenantDomain = "acme.example"
	tenantSender = "hr@acme.example"
	relayHost    = "relay.test"
	authUser     = "postfix"
	authPassword = "correct horse battery staple"
)

var authHash = sync.OnceValues(func() ([]byte, error) {
	return bcrypt.GenerateFromPassword([]byte(authPassword), bcrypt.DefaultCost)
})

// baseConfig returns a valid config whose files (secrets, DKIM keys) are
// written into dir, with every listener on 127.0.0.1 port 0 (the relay
// picks free ports and tells them in its ready file, see Relay.Start),
// an agency webhook to an address where nothing listens, one tenant "acme" with
// domain acme.example that signs with an RSA-2048 and an Ed25519 key,
// loopback allowed to relay, no AUTH (see withTLSAuth), and delivery in
// relay mode to sinkAddr (plain SMTP) retried every 200ms.
func baseConfig(t *testing.T, dir, sinkAddr string) *Config {
	t.Helper()
	secret := func(name string) string {
		b := make([]byte, 32)
		rand.Read(b)
		p := filepath.Join(dir, name)
		writeFile(t, p, []byte(hex.EncodeToString(b)+"\n"))
		return p
	}
	return &Config{
		DataDir: filepath.Join(dir, "data"),
		Log:     Log{Level: "debug"},
		SMTP: SMTP{
			Listen:        "127.0.0.1:0",
			Hostname:      relayHost,
			AllowNetworks: []string{"127.0.0.0/8"},
		},
		Delivery: Delivery{
			Mode:           "relay",
			Relay:          Upstream{Address: sinkAddr, TLS: "none"},
			RetrySchedule:  []string{"200ms"},
			Workers:        4,
			ConnectTimeout: "5s",
			CommandTimeout: "30s",
		},
		Links: Links{
			BaseURL: "https://careers.acme.example",
			Keys:    []LinkKey{{ID: "k1", SecretFile: secret("link.key")}},
		},
		HTTP:  HTTP{Listen: "127.0.0.1:0"},
		Admin: Admin{Listen: "127.0.0.1:0", TokenFile: secret("admin.token")},
		Agency: Agency{
			Name:            "Example Career Agency",
			RegistrationURL: "https://agency.example/register",
			Webhook: Webhook{
				// Port 1 (tcpmux) on loopback: refused; a test that
				// wants the webhooks runs an agency (web_webhook_test.go).
				URL:        "http://127.0.0.1:1/hooks/referral",
				SecretFile: secret("webhook.key"),
			},
		},
		Tenants: []Tenant{{
			ID:      tenantID,
			Name:    "株式会社アクメ",
			Domains: []string{tenantDomain},
			// Dual signing, RSA first (as careerrelay.example.yaml configures it).
			DKIM: []DKIMKey{
				{Selector: rsaSelector, KeyFile: tenantKeyFile(t, dir, "acme-rsa.pem", "rsa")},
				{Selector: ed25519Selector, KeyFile: tenantKeyFile(t, dir, "acme-ed25519.pem", "ed25519")},
			},
		}},
	}
}

// The selectors of the tenant's keys in baseConfig.
const (
	rsaSelector     = "cr2026"
	ed25519Selector = "cr2026e"
)

// tenantKeys are the tenant's DKIM keys, PKCS#8 PEM, made once per test
// process: an RSA-2048 key takes a while to make, more so under -race.
var tenantKeys = sync.OnceValues(func() (map[string][]byte, error) {
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	_, ek, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	keys := map[string][]byte{}
	for name, k := range map[string]any{"rsa": rk, "ed25519": ek} {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			return nil, err
		}
		keys[name] = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	}
	return keys, nil
})

// tenantKeyFile writes the tenant's key of algo (rsa or ed25519) into
// dir/name and returns its path.
func tenantKeyFile(t *testing.T, dir, name, algo string) string {
	t.Helper()
	keys, err := tenantKeys()
	if err != nil {
		t.Fatalf("making DKIM keys: %v", err)
	}
	p := filepath.Join(dir, name)
	writeFile(t, p, keys[algo])
	return p
}

// withTLSAuth gives the inbound listener a self-signed certificate for
// relay.test and 127.0.0.1 (STARTTLS) and one AUTH user (authUser,
// authPassword), and returns the certificate's PEM for the client.
func withTLSAuth(t *testing.T, dir string, c *Config) (certPEM []byte) {
	t.Helper()
	certPEM, keyPEM, _ := testlib.SelfSignedCert(t, relayHost, "127.0.0.1", "localhost")
	c.SMTP.TLS.CertFile = filepath.Join(dir, "smtp.crt")
	c.SMTP.TLS.KeyFile = filepath.Join(dir, "smtp.key")
	writeFile(t, c.SMTP.TLS.CertFile, certPEM)
	writeFile(t, c.SMTP.TLS.KeyFile, keyPEM)
	hash, err := authHash()
	if err != nil {
		t.Fatalf("bcrypt: %v", err)
	}
	c.SMTP.Users = []User{{Name: authUser, PasswordHash: string(hash)}}
	return certPEM
}

// writeConfig writes c as YAML to path.
func writeConfig(t *testing.T, path string, c *Config) {
	t.Helper()
	data, err := yaml.Marshal(c)
	if err != nil {
		t.Fatalf("marshalling config: %v", err)
	}
	writeFile(t, path, data)
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// Store is store: the shared records in PostgreSQL (several nodes).
type Store struct {
	Shared SharedStore `yaml:"shared"`
}

type SharedStore struct {
	Driver  string `yaml:"driver"`
	DSNFile string `yaml:"dsn_file"`
}

// Privacy is privacy.
type Privacy struct {
	HashKeyFile string `yaml:"hash_key_file,omitempty"`
}
