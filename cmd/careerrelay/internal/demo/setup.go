package demo

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/careerrelay/careerrelay/configs"
	"github.com/careerrelay/careerrelay/internal/durable"
	"github.com/careerrelay/careerrelay/smtp/dkim"
)

// The demo's tenant and agency.
const (
	tenantID     = "demo"
	tenantName   = "株式会社デモ"
	tenantDomain = "example.jp"
	tag          = "[[career-relay]]"
	selector     = "demo2026e"
	agencyName   = "デモ人材紹介株式会社"
	hookPath     = "/hooks/referral"
)

// files are what setup wrote: the config and the secrets it names.
type files struct {
	dir        string // the demo's temporary folder
	configPath string
	adminToken string
	hookSecret []byte
	dkimPub    ed25519.PublicKey
}

// configTemplate is the demo's configuration. %[1]s is the HTTP address
// (the link base URL must name it, so it is a port chosen in advance),
// %[2]s the agency webhook's URL. SMTP and the admin API take any free port:
// server.Run reports them.
const configTemplate = `# careerrelay demo: written by "careerrelay demo" into a temporary folder
# and removed with it. Every secret here was generated for this run.
data_dir: data
log: {level: info, format: text}

smtp:
  listen: "127.0.0.1:0"
  hostname: relay.demo.localhost
  allow_networks: [127.0.0.0/8, "::1/128"]   # the demo's ATS connects from loopback, without AUTH

delivery:
  mode: capture          # every delivered copy becomes an .eml file in mail/
  capture_dir: mail
  retry_schedule: [1s, 5s]
  lifetime: 1h
  workers: 4

links:
  base_url: "http://%[1]s"
  keys: [{id: demo1, secret_file: secrets/link.key}]
  # The demo's candidates click within a second of the mail; production
  # keeps the default 10s, inside which a click counts as a link scanner's.
  bot_window: 0s

http:
  listen: "%[1]s"

admin:
  listen: "127.0.0.1:0"
  token_file: secrets/admin.token

agency:
  name: ` + agencyName + `
  # The relay's own stand-in agency page (it serves /dev/agency when
  # registration_url points back at it).
  registration_url: "http://%[1]s/dev/agency"
  webhook: {url: "%[2]s", secret_file: secrets/webhook.key}

tenants:
  - id: ` + tenantID + `
    name: ` + tenantName + `
    domains: [` + tenantDomain + `]
    tag: "` + tag + `"
    referrals_per_credit: 10
    color: "#0b6e4f"
    dkim:
      - {selector: ` + selector + `, key_file: secrets/demo-ed25519.pem}
`

// writeFiles makes the secrets and the Ed25519 DKIM key in dir/secrets.
func writeFiles(dir string) (*files, error) {
	f := &files{dir: dir, configPath: filepath.Join(dir, "careerrelay.yaml")}
	secrets := filepath.Join(dir, "secrets")
	if err := os.MkdirAll(secrets, 0o700); err != nil {
		return nil, err
	}
	for _, name := range []string{"link.key", "admin.token", "webhook.key"} {
		s, err := randomHex(32)
		if err != nil {
			return nil, err
		}
		if err := durable.WriteFile(filepath.Join(secrets, name), []byte(s+"\n"), 0o600); err != nil {
			return nil, err
		}
		switch name {
		case "admin.token":
			f.adminToken = s
		case "webhook.key":
			f.hookSecret = []byte(s)
		}
	}
	key, err := dkim.GenerateKey("ed25519", 0)
	if err != nil {
		return nil, err
	}
	pemKey, err := dkim.MarshalKey(key)
	if err != nil {
		return nil, err
	}
	if err := dkim.WriteKeyFile(filepath.Join(secrets, "demo-ed25519.pem"), pemKey, true); err != nil {
		return nil, err
	}
	f.dkimPub = key.Public().(ed25519.PublicKey)
	return f, nil
}

// config writes the config for httpAddr and hookURL and loads it, checked
// as `careerrelay check-config` would.
func (f *files) config(httpAddr, hookURL string) (*configs.Config, error) {
	text := fmt.Sprintf(configTemplate, httpAddr, hookURL)
	if err := durable.WriteFile(f.configPath, []byte(text), 0o600); err != nil {
		return nil, err
	}
	return configs.Load(f.configPath)
}

// dkimRecord is the DNS record that would publish the demo's key.
func (f *files) dkimRecord() (name, txt string, err error) {
	txt, err = dkim.TXTRecord(f.dkimPub)
	return dkim.RecordName(selector, tenantDomain), txt, err
}

func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// freeAddr returns 127.0.0.1:PORT with a port that was free a moment ago.
// The link base URL must name the HTTP port before the relay starts; if
// another program takes it meanwhile, the demo picks another (see Run).
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// isListenError tells whether err is server.Run failing to open addr.
func isListenError(err error, addr string) bool {
	return err != nil && strings.Contains(err.Error(), "listen") && strings.Contains(err.Error(), addr)
}
