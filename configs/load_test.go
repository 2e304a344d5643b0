package configs

import (
	"crypto/ed25519"
	"crypto/rsa"
	"errors"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// minimal is the smallest valid config; every other key takes its default.
const minimal = `data_dir: data
smtp:
  listen: ":2525"
  allow_networks: [127.0.0.1, "2001:db8::/32"]
delivery:
  mode: capture
  capture_dir: mail
links:
  base_url: https://careers.example.jp/
  keys: [{id: k1, secret_file: secrets/link.key}]
agency:
  name: Example Career Agency
  registration_url: https://agency.example/register
tenants:
  - id: acme
    name: 株式会社アクメ
    domains: [Acme.Example, mail.acme.example]
`

func fakeHostname(t *testing.T, name string, err error) {
	t.Helper()
	old := hostname
	hostname = func() (string, error) { return name, err }
	t.Cleanup(func() { hostname = old })
}

func mustLoad(t *testing.T, path string) *Config {
	t.Helper()
	cfg, err := Load(path)
	if err != nil {
		t.Fatalf("Load(%s):\n%v", path, err)
	}
	return cfg
}

func TestDefaults(t *testing.T) {
	fakeHostname(t, "relay.test.example", nil)
	path := writeConfig(t, minimal)
	dir := filepath.Dir(path)
	c := mustLoad(t, path)

	checks := []struct {
		name      string
		got, want any
	}{
		{"Path", c.Path, path},
		{"DataDir", c.DataDir, filepath.Join(dir, "data")},
		{"Log.Level", c.Log.Level, "info"},
		{"Log.Format", c.Log.Format, "text"},
		{"SMTP.Hostname", c.SMTP.Hostname, "relay.test.example"},
		{"SMTP.ListenTLS", c.SMTP.ListenTLS, ""},
		{"SMTP.Networks", c.SMTP.Networks, []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("2001:db8::/32")}},
		{"SMTP.MaxMessageBytes", c.SMTP.MaxMessageBytes, int64(26214400)},
		{"SMTP.MaxRecipients", c.SMTP.MaxRecipients, 100},
		{"SMTP.MaxLineLength", c.SMTP.MaxLineLength, 2000},
		{"SMTP.MaxHeaderBytes", c.SMTP.MaxHeaderBytes, 102400},
		{"SMTP.MaxConnections", c.SMTP.MaxConnections, 1000},
		{"SMTP.MaxConnectionsPerClient", c.SMTP.MaxConnectionsPerClient, 50},
		{"SMTP.ReadTimeout", c.SMTP.ReadTimeout, 5 * time.Minute},
		{"SMTP.WriteTimeout", c.SMTP.WriteTimeout, 5 * time.Minute},
		{"SMTP.PreAuthTimeout", c.SMTP.PreAuthTimeout, 30 * time.Second},
		{"SMTP.TLS.Certificate", c.SMTP.TLS.Certificate == nil, true},
		{"Delivery.Mode", c.Delivery.Mode, "capture"},
		{"Delivery.CaptureDir", c.Delivery.CaptureDir, filepath.Join(dir, "mail")},
		{"Delivery.Relay.TLS", c.Delivery.Relay.TLS, "starttls"},
		{"Delivery.RetrySchedule", c.Delivery.RetrySchedule, []time.Duration{
			time.Minute, 5 * time.Minute, 15 * time.Minute, 30 * time.Minute, time.Hour, 2 * time.Hour, 4 * time.Hour}},
		{"Delivery.Lifetime", c.Delivery.Lifetime, 120 * time.Hour},
		{"Delivery.Workers", c.Delivery.Workers, 16},
		{"Delivery.HelloName", c.Delivery.HelloName, "relay.test.example"},
		{"Delivery.ConnectTimeout", c.Delivery.ConnectTimeout, 30 * time.Second},
		{"Delivery.CommandTimeout", c.Delivery.CommandTimeout, 5 * time.Minute},
		{"Links.BaseURL", c.Links.BaseURL, "https://careers.example.jp"},
		{"Links.Keys[0].SecretFile", c.Links.Keys[0].SecretFile, filepath.Join(dir, "secrets", "link.key")},
		{"Links.Keys[0].Secret", string(c.Links.Keys[0].Secret), strings.TrimSpace(secrets["link.key"])},
		{"Links.TTL", c.Links.TTL, 4320 * time.Hour},
		{"Links.BotWindow", c.Links.BotWindow, 10 * time.Second},
		{"HTTP.Listen", c.HTTP.Listen, ""},
		{"Admin.Listen", c.Admin.Listen, ""},
		{"Agency.Webhook.URL", c.Agency.Webhook.URL, ""},
		{"Tenants[0].Domains", c.Tenants[0].Domains, []string{"acme.example", "mail.acme.example"}},
		{"Tenants[0].Tag", c.Tenants[0].Tag, "[[career-relay]]"},
		{"Tenants[0].ReferralsPerCredit", c.Tenants[0].ReferralsPerCredit, 10},
	}
	for _, ch := range checks {
		if !reflect.DeepEqual(ch.got, ch.want) {
			t.Errorf("%s = %#v, want %#v", ch.name, ch.got, ch.want)
		}
	}
}

// A configuration built by hand gets from DeliveryDefaults the delivery
// settings Load gives a file that leaves them out; set ones are kept.
func TestDeliveryDefaults(t *testing.T) {
	fakeHostname(t, "relay.test.example", nil)
	loaded := mustLoad(t, writeConfig(t, minimal))
	byHand := &Config{SMTP: SMTP{Hostname: loaded.SMTP.Hostname},
		Delivery: Delivery{Mode: loaded.Delivery.Mode, CaptureDir: loaded.Delivery.CaptureDir, Relay: loaded.Delivery.Relay}}
	if got := byHand.DeliveryDefaults(); !reflect.DeepEqual(got, loaded.Delivery) {
		t.Errorf("DeliveryDefaults() = %+v,\nLoad gives %+v", got, loaded.Delivery)
	}
	if byHand.Delivery.Workers != 0 || byHand.Delivery.RetrySchedule != nil {
		t.Error("DeliveryDefaults changed the config")
	}
	set := Delivery{RetrySchedule: []time.Duration{time.Second}, Lifetime: time.Hour, Workers: 2,
		HelloName: "out.example", ConnectTimeout: time.Second, CommandTimeout: 2 * time.Second}
	if got := (&Config{Delivery: set}).DeliveryDefaults(); !reflect.DeepEqual(got, set) {
		t.Errorf("DeliveryDefaults() = %+v, want the settings kept: %+v", got, set)
	}
	// Without smtp.hostname, the hello name is the system's host name,
	// else localhost.
	if got := (&Config{}).DeliveryDefaults().HelloName; got != "relay.test.example" {
		t.Errorf("HelloName = %q, want the host name", got)
	}
	fakeHostname(t, "", errors.New("no name"))
	if got := (&Config{}).DeliveryDefaults().HelloName; got != "localhost" {
		t.Errorf("HelloName = %q, want localhost", got)
	}
}

// TestDefaultsAreNotShared checks that changing one config's default
// retry schedule does not change another's.
func TestDefaultsAreNotShared(t *testing.T) {
	fakeHostname(t, "relay.test.example", nil)
	a := mustLoad(t, writeConfig(t, minimal))
	a.Delivery.RetrySchedule[0] = time.Hour
	if got := DefaultRetrySchedule()[0]; got != time.Minute {
		t.Errorf("default schedule changed to %v", got)
	}
}

func TestHostnameUnknown(t *testing.T) {
	fakeHostname(t, "", errors.New("no name"))
	_, err := Load(writeConfig(t, minimal))
	assertProblems(t, err, "2: smtp.hostname: not set, and the system host name is unknown")
	fakeHostname(t, "build_box", nil)
	_, err = Load(writeConfig(t, minimal))
	assertProblems(t, err, `2: smtp.hostname: not set, and the system host name "build_box" is not a valid host name`)
	// Setting it explicitly needs no system name.
	mustLoad(t, writeConfig(t, strings.Replace(minimal, "smtp:\n", "smtp:\n  hostname: relay.example.jp\n", 1)))
}

func TestAbsolutePathsKept(t *testing.T) {
	fakeHostname(t, "relay.test.example", nil)
	dir := fixtureDir(t)
	abs := filepath.Join(dir, "secrets", "link.key")
	text := strings.Replace(minimal, "secret_file: secrets/link.key", "secret_file: "+abs, 1)
	text = strings.Replace(text, "data_dir: data", "data_dir: /var/lib/careerrelay", 1)
	// The config sits in another folder than the secrets.
	other := t.TempDir()
	p := filepath.Join(other, "c.yaml")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	c := mustLoad(t, p)
	if c.DataDir != "/var/lib/careerrelay" || c.Links.Keys[0].SecretFile != abs {
		t.Errorf("absolute paths changed: %q, %q", c.DataDir, c.Links.Keys[0].SecretFile)
	}
}

func TestRelativeToConfigNotCwd(t *testing.T) {
	fakeHostname(t, "relay.test.example", nil)
	path := writeConfig(t, minimal)
	cwd := t.TempDir()
	t.Chdir(cwd)
	rel, err := filepath.Rel(cwd, path)
	if err != nil {
		t.Fatal(err)
	}
	c := mustLoad(t, rel)
	if c.Path != path {
		t.Errorf("Path = %q, want %q", c.Path, path)
	}
	if want := filepath.Join(filepath.Dir(path), "data"); c.DataDir != want {
		t.Errorf("DataDir = %q, want %q", c.DataDir, want)
	}
}

// TestThreeProblems checks that problems in different sections are all
// reported, in line order, each on its own line.
func TestThreeProblems(t *testing.T) {
	fakeHostname(t, "relay.test.example", nil)
	text := `data_dir: data
smtp:
  listen: ":2525"
  allow_networks: [127.0.0.1, 10.0.0.0/40]
delivery:
  mode: capture
  capture_dir: mail
  lifetime: 3d
links:
  base_url: https://careers.example.jp/
  keys: [{id: k1, secret_file: secrets/link.key}]
agency:
  name: Example Career Agency
  registration_url: https://agency.example/register
tenants:
  - id: acme
    name: 株式会社アクメ
    domains: [acme.example]
    colour: "#ff0000"
`
	path := writeConfig(t, text)
	_, err := Load(path)
	assertProblems(t, err,
		`4: smtp.allow_networks[1]: "10.0.0.0/40" is not a network in CIDR form`,
		`8: delivery.lifetime: "3d" is not a duration`,
		`19: tenants[0].colour: unknown key "colour" (hint: did you mean "color"?`,
	)
	// The text form: one line per problem, each with the file name.
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != 3 {
		t.Fatalf("want 3 lines, got:\n%v", err)
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, path+":") || !strings.Contains(l, " (hint: ") {
			t.Errorf("line %q lacks %s: prefix or hint", l, path)
		}
	}
}

// TestMissingKeysLines checks the lines of missing keys: the line of the
// mapping they belong in.
func TestMissingKeysLines(t *testing.T) {
	text := `data_dir: data
smtp:
  hostname: relay.example.jp
  allow_networks: [127.0.0.1]
delivery:
  mode: relay
links:
  base_url: https://careers.example.jp
  keys:
    - id: k1
agency:
  registration_url: https://agency.example/register
tenants:
  - id: acme
    domains: []
`
	_, err := Load(writeConfig(t, text))
	assertProblems(t, err,
		"2: smtp.listen: required but not set",
		"5: delivery.relay.address: required but not set",
		"10: links.keys[0].secret_file: required but not set",
		"11: agency.name: required but not set",
		"14: tenants[0].name: required but not set",
		"15: tenants[0].domains: no domain",
	)
}

// TestFollowOnProblemsDropped checks that a value yaml cannot decode gives
// one problem, not also the complaints about the zero value left behind.
func TestFollowOnProblemsDropped(t *testing.T) {
	fakeHostname(t, "relay.test.example", nil)
	text := strings.Replace(minimal, "  capture_dir: mail\n", "  capture_dir: mail\n  workers: lots\n  retry_schedule: {first: 1m}\n", 1)
	_, err := Load(writeConfig(t, text))
	assertProblems(t, err,
		`8: delivery.workers: "lots" is not a whole number`,
		`9: delivery.retry_schedule: expected a list, found a mapping`,
	)
}

func TestExplicitZeroRefused(t *testing.T) {
	fakeHostname(t, "relay.test.example", nil)
	text := strings.Replace(minimal, "  capture_dir: mail\n", "  capture_dir: mail\n  lifetime: 0s\n  retry_schedule: [1m, 0s]\n", 1)
	text = strings.Replace(text, "  listen: \":2525\"\n", "  listen: \":2525\"\n  max_message_bytes: 0\n", 1)
	_, err := Load(writeConfig(t, text))
	assertProblems(t, err,
		"4: smtp.max_message_bytes: must be at least 1, is 0",
		"9: delivery.lifetime: must be more than 0, is 0s",
		"10: delivery.retry_schedule[1]: must be more than 0, is 0s",
	)
}

// TestMaxHeaderBytesMinimum: smtp.max_header_bytes under 1000 is refused
// (a header of a few fields needs that much), 1000 is taken.
func TestMaxHeaderBytesMinimum(t *testing.T) {
	fakeHostname(t, "relay.test.example", nil)
	for _, tc := range []struct {
		value   string
		problem string
	}{
		{"999", "4: smtp.max_header_bytes: must be at least 1000, is 999"},
		{"0", "4: smtp.max_header_bytes: must be at least 1000, is 0"},
		{"1000", ""},
	} {
		text := strings.Replace(minimal, "  listen: \":2525\"\n", "  listen: \":2525\"\n  max_header_bytes: "+tc.value+"\n", 1)
		c, err := Load(writeConfig(t, text))
		if tc.problem != "" {
			assertProblems(t, err, tc.problem)
			continue
		}
		if err != nil {
			t.Errorf("max_header_bytes: %s: %v", tc.value, err)
		} else if c.SMTP.MaxHeaderBytes != 1000 {
			t.Errorf("max_header_bytes: %s loaded as %d", tc.value, c.SMTP.MaxHeaderBytes)
		}
	}
}

func TestMXOverridesLowerCased(t *testing.T) {
	fakeHostname(t, "relay.test.example", nil)
	text := strings.Replace(minimal, "  mode: capture\n  capture_dir: mail\n",
		"  mode: mx\n  mx_overrides:\n    Example.NET: \"[::1]:2525\"\n    example.org: 127.0.0.1:25\n", 1)
	c := mustLoad(t, writeConfig(t, text))
	want := map[string]string{"example.net": "[::1]:2525", "example.org": "127.0.0.1:25"}
	if !reflect.DeepEqual(c.Delivery.MXOverrides, want) {
		t.Errorf("MXOverrides = %v, want %v", c.Delivery.MXOverrides, want)
	}

	text = strings.Replace(text, "    example.org: 127.0.0.1:25\n", "    example.net: 127.0.0.1:25\n", 1)
	_, err := Load(writeConfig(t, text))
	assertProblems(t, err, `9: delivery.mx_overrides["example.net"]: "example.net" and "Example.NET" are the same domain`)
}

func TestRelayModeFiles(t *testing.T) {
	fakeHostname(t, "relay.test.example", nil)
	text := strings.Replace(minimal, "  mode: capture\n  capture_dir: mail\n", `  mode: relay
  relay:
    address: "smtp.upstream.example:465"
    tls: tls
    username: careerrelay
    password_file: relay.pass
    ca_file: tls.crt
`, 1)
	c := mustLoad(t, writeConfig(t, text))
	r := c.Delivery.Relay
	if r.Password != "TEST-ONLY-upstream-password" || r.RootCAs == nil || r.TLS != "tls" {
		t.Errorf("relay = %+v", r)
	}
}

// TestExample loads the annotated example next to throwaway copies of the
// files it names.
func TestExample(t *testing.T) {
	dir := fixtureDir(t)
	c := mustLoad(t, copyInto(t, "careerrelay.example.yaml", dir))

	if c.SMTP.TLS.Certificate == nil || c.Delivery.Relay.RootCAs == nil {
		t.Error("TLS certificate or upstream CA not loaded")
	}
	if c.Delivery.Relay.Password == "" || c.Admin.Token == "" || len(c.Agency.Webhook.Secret) == 0 {
		t.Error("relay password, admin token or webhook secret not read")
	}
	if len(c.Links.Keys) != 2 || string(c.Links.Keys[1].Secret) != strings.TrimSpace(secrets["link2.key"]) {
		t.Errorf("link keys = %+v", c.Links.Keys)
	}
	if len(c.SMTP.Users) != 1 || len(c.SMTP.Networks) != 2 {
		t.Errorf("users %v, networks %v", c.SMTP.Users, c.SMTP.Networks)
	}
	dk := c.TenantByID("acme").DKIM
	if len(dk) != 2 {
		t.Fatalf("dkim = %+v", dk)
	}
	if _, ok := dk[0].Signer.(*rsa.PrivateKey); !ok {
		t.Errorf("dkim[0] signer is %T", dk[0].Signer)
	}
	if _, ok := dk[1].Signer.(ed25519.PrivateKey); !ok {
		t.Errorf("dkim[1] signer is %T", dk[1].Signer)
	}

	// Every key the schema has is shown in the example.
	data, err := os.ReadFile("careerrelay.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		t.Fatal(err)
	}
	d := &doc{root: root.Content[0]}
	for _, key := range allKeys() {
		if n, _ := d.find(key); n == nil {
			t.Errorf("careerrelay.example.yaml does not show %s", key)
		}
	}
}

// allKeys lists the key paths of every field of Config, lists as [0].
func allKeys() []string {
	var out []string
	for _, k := range Schema() {
		out = append(out, strings.ReplaceAll(k.Path, "[]", "[0]"))
	}
	return out
}

func TestDevConfig(t *testing.T) {
	c := mustLoad(t, "dev.yaml")
	top, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(top, "var", "dev", "data"); c.DataDir != want {
		t.Errorf("DataDir = %q, want %q", c.DataDir, want)
	}
	if want := filepath.Join(top, "var", "dev", "mail"); c.Delivery.Mode != "capture" || c.Delivery.CaptureDir != want {
		t.Errorf("delivery = %s into %q, want capture into %q", c.Delivery.Mode, c.Delivery.CaptureDir, want)
	}
	if c.SMTP.Listen != "127.0.0.1:2525" || c.HTTP.Listen != "127.0.0.1:8080" || c.Admin.Listen != "127.0.0.1:8025" {
		t.Errorf("listeners %q %q %q", c.SMTP.Listen, c.HTTP.Listen, c.Admin.Listen)
	}
	if len(c.SMTP.Users) != 0 || c.SMTP.TLS.CertFile != "" {
		t.Errorf("dev has users or TLS")
	}
	loop4, loop6 := netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("::1")
	if len(c.SMTP.Networks) != 2 || !c.SMTP.Networks[0].Contains(loop4) || !c.SMTP.Networks[1].Contains(loop6) {
		t.Errorf("networks = %v", c.SMTP.Networks)
	}
	if !slices.Equal(c.TenantIDs(), []string{"demo"}) || c.TenantByDomain("example.jp") == nil {
		t.Errorf("tenants = %v", c.Tenants)
	}
	d := c.TenantByID("demo")
	if d.Tag != DefaultTag || len(d.DKIM) != 2 {
		t.Fatalf("demo tenant = %+v, want the default tag and two DKIM keys", d)
	}
	// Dual signing with TEST-ONLY keys: RSA (dev2026), then Ed25519 (dev2026e).
	if k := d.DKIM[0]; k.Selector != "dev2026" {
		t.Errorf("first dev DKIM key: selector %q, want dev2026", k.Selector)
	} else if rk, ok := k.Signer.(*rsa.PrivateKey); !ok || rk.N.BitLen() < MinRSABits {
		t.Errorf("dev DKIM key %s is a %T, want RSA of %d bits or more", k.Selector, k.Signer, MinRSABits)
	}
	if k := d.DKIM[1]; k.Selector != "dev2026e" {
		t.Errorf("second dev DKIM key: selector %q, want dev2026e", k.Selector)
	} else if _, ok := k.Signer.(ed25519.PrivateKey); !ok {
		t.Errorf("dev DKIM key %s is a %T, want Ed25519", k.Selector, k.Signer)
	}
	for _, k := range d.DKIM {
		if want := filepath.Join(top, "configs", "dev"); filepath.Dir(k.KeyFile) != want || !strings.Contains(filepath.Base(k.KeyFile), ".TEST-ONLY.") {
			t.Errorf("dev DKIM key file %s is not a TEST-ONLY file in %s", k.KeyFile, want)
		}
		if pem, err := os.ReadFile(k.KeyFile); err != nil || !strings.HasPrefix(string(pem), "TEST-ONLY ") {
			t.Errorf("dev DKIM key file %s does not start with its TEST-ONLY note (%v)", k.KeyFile, err)
		}
	}
	if c.Agency.Webhook.URL != "" {
		t.Errorf("dev has a webhook")
	}
	for _, s := range []string{string(c.Links.Keys[0].Secret), c.Admin.Token} {
		if !strings.HasPrefix(s, "TEST-ONLY-") {
			t.Errorf("dev secret %q is not marked TEST-ONLY", s)
		}
	}
	// Loading the config creates nothing.
	for _, d := range []string{c.DataDir, c.Delivery.CaptureDir} {
		if _, err := os.Stat(d); err == nil {
			t.Logf("%s exists (made by an earlier make run?)", d)
		} else if !errors.Is(err, fs.ErrNotExist) {
			t.Error(err)
		}
	}
}

func TestTenantLookup(t *testing.T) {
	c := &Config{Tenants: []Tenant{
		{ID: "acme", Domains: []string{"acme.example", "mail.acme.example"}},
		{ID: "beta", Domains: []string{"beta.example"}},
	}}
	for _, tc := range []struct{ domain, want string }{
		{"acme.example", "acme"},
		{"ACME.Example", "acme"},
		{"mail.acme.example.", "acme"},
		{"beta.example", "beta"},
		{"sub.beta.example", ""},
		{"example", ""},
		{"", ""},
	} {
		got := ""
		if tn := c.TenantByDomain(tc.domain); tn != nil {
			got = tn.ID
		}
		if got != tc.want {
			t.Errorf("TenantByDomain(%q) = %q, want %q", tc.domain, got, tc.want)
		}
	}
	if c.TenantByID("beta") != &c.Tenants[1] || c.TenantByID("nope") != nil {
		t.Error("TenantByID")
	}
	if got := c.TenantIDs(); !slices.Equal(got, []string{"acme", "beta"}) {
		t.Errorf("TenantIDs = %v", got)
	}
}

func TestDKIMKeyFormats(t *testing.T) {
	fakeHostname(t, "relay.test.example", nil)
	text := minimal + `    dkim:
      - {selector: pkcs1, key_file: keys/rsa2048-pkcs1.pem}
      - {selector: pkcs8, key_file: keys/rsa2048.pem}
      - {selector: ed, key_file: keys/ed25519.pem}
      - {selector: eu.cr2026, key_file: keys/ed25519.pem}
`
	c := mustLoad(t, writeConfig(t, text))
	for i, k := range c.Tenants[0].DKIM {
		if k.Signer == nil {
			t.Errorf("dkim[%d] has no signer", i)
		}
	}
}

func TestFileErrors(t *testing.T) {
	if _, err := Load(filepath.Join(t.TempDir(), "missing.yaml")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	for text, want := range map[string]string{
		"":                    "1: data_dir: required but not set",
		"- a\n- b\n":          "1: the file is not a YAML mapping of keys",
		minimal + "---\n{}\n": "18: the file holds more than one YAML document",
	} {
		fakeHostname(t, "relay.test.example", nil)
		_, err := Load(writeConfig(t, text))
		var errs *Errors
		if !errors.As(err, &errs) || errs.Problems[0].String()[:len(want)] != want {
			t.Errorf("for %q: got %v, want first problem %q", text, err, want)
		}
	}
}

// assertProblems checks that err is *Errors whose problems, in order, start
// with want (each "<line>: <key>: <msg>...").
func assertProblems(t *testing.T, err error, want ...string) {
	t.Helper()
	var errs *Errors
	if !errors.As(err, &errs) {
		t.Fatalf("want *Errors, got %T: %v", err, err)
	}
	var got []string
	for _, p := range errs.Problems {
		got = append(got, p.String())
	}
	if len(got) != len(want) {
		t.Fatalf("want %d problems, got %d:\n%s", len(want), len(got), strings.Join(got, "\n"))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("problem %d:\n got %s\nwant %s...", i, got[i], want[i])
		}
	}
}

// TestListenersPortZero: every listener may ask for port 0 (any free port;
// `serve -ready-file` tells the ports bound), and the addresses are kept
// as written.
func TestListenersPortZero(t *testing.T) {
	fakeHostname(t, "relay.test.example", nil)
	text := strings.Replace(minimal, "  listen: \":2525\"\n", `  listen: "127.0.0.1:0"
  listen_tls: "127.0.0.1:0"
  tls: {cert_file: tls.crt, key_file: tls.key}
`, 1) + `http:
  listen: "127.0.0.1:0"
admin:
  listen: ":0"
  token_file: admin.token
`
	c := mustLoad(t, writeConfig(t, text))
	if c.SMTP.Listen != "127.0.0.1:0" || c.SMTP.ListenTLS != "127.0.0.1:0" || c.HTTP.Listen != "127.0.0.1:0" || c.Admin.Listen != ":0" {
		t.Errorf("listeners %q %q %q %q", c.SMTP.Listen, c.SMTP.ListenTLS, c.HTTP.Listen, c.Admin.Listen)
	}
}
