package configs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Defaults of the keys that have one. Durations use Go syntax in the file.
const (
	DefaultMaxMessageBytes         = 26214400
	DefaultMaxRecipients           = 100
	DefaultMaxLineLength           = 2000
	DefaultMaxHeaderBytes          = 102400
	DefaultMaxConnections          = 1000
	DefaultMaxConnectionsPerClient = 50
	DefaultSMTPTimeout             = 5 * time.Minute
	DefaultPreAuthTimeout          = 30 * time.Second
	DefaultDeliveryMode            = "relay"
	DefaultRelayTLS                = "starttls"
	DefaultLifetime                = 120 * time.Hour
	DefaultWorkers                 = 16
	DefaultConnectTimeout          = 30 * time.Second
	DefaultCommandTimeout          = 5 * time.Minute
	DefaultLinkTTL                 = 4320 * time.Hour
	DefaultBotWindow               = 10 * time.Second
	DefaultRetention               = 9360 * time.Hour
	DefaultTag                     = "[[career-relay]]"
	DefaultReferralsPerCredit      = 10
	DefaultLogLevel                = "info"
	DefaultLogFormat               = "text"
	DefaultMaxHops                 = 30
	DefaultMaxSignatureAge         = time.Hour
)

// DefaultDeliveryShutdownGrace is no key of the file: how long the
// delivery queue waits at shutdown for the attempts in flight before it
// interrupts them.
const DefaultDeliveryShutdownGrace = 30 * time.Second

// DefaultRetrySchedule is delivery.retry_schedule when the file sets none.
func DefaultRetrySchedule() []time.Duration {
	return []time.Duration{
		time.Minute, 5 * time.Minute, 15 * time.Minute, 30 * time.Minute,
		time.Hour, 2 * time.Hour, 4 * time.Hour,
	}
}

// DeliveryDefaults returns c.Delivery with every setting that has a
// default and is left zero set to it, as Load sets a key the file leaves
// out: the retry schedule, lifetime, workers, timeouts, and the hello
// name (smtp.hostname, else the system's host name, else "localhost").
// Load keeps a zero the file sets explicitly, for validation to refuse;
// this serves configurations built by hand (tests), and is what the
// delivery queue and transports read, so that configs holds the only copy
// of the defaults. The mode and the relay's settings have none here.
func (c *Config) DeliveryDefaults() Delivery {
	d := c.Delivery
	if len(d.RetrySchedule) == 0 {
		d.RetrySchedule = DefaultRetrySchedule()
	}
	if d.Lifetime <= 0 {
		d.Lifetime = DefaultLifetime
	}
	if d.Workers <= 0 {
		d.Workers = DefaultWorkers
	}
	if d.ConnectTimeout <= 0 {
		d.ConnectTimeout = DefaultConnectTimeout
	}
	if d.CommandTimeout <= 0 {
		d.CommandTimeout = DefaultCommandTimeout
	}
	if d.HelloName == "" {
		d.HelloName = c.SMTP.Hostname
	}
	if d.HelloName == "" {
		d.HelloName, _ = hostname()
	}
	if d.HelloName == "" {
		d.HelloName = "localhost"
	}
	return d
}

// hostname is os.Hostname; tests replace it.
var hostname = os.Hostname

// Load reads the config file at path, applies defaults, resolves relative
// paths against the file's folder, reads secret files and keys, and checks
// everything. When the file can be read but is not valid, the error is an
// *Errors listing every problem found, each with its line and a hint.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return load(path, abs, data)
}

// load does Load's work on data; name is used in error messages and abs
// is the absolute path of the file.
func load(name, abs string, data []byte) (*Config, error) {
	ps := &problems{doc: &doc{}}

	// The node tree gives line numbers and tells which keys are present.
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		ps.addDecode(syntaxProblem(err), nil)
		return nil, ps.result(name)
	}
	if len(root.Content) > 0 {
		top := root.Content[0]
		if top.Kind != yaml.MappingNode {
			ps.addDecode(Problem{Line: top.Line, Msg: "the file is not a YAML mapping of keys",
				Hint: "start with top-level keys such as data_dir:, smtp:, tenants:, as in configs/careerrelay.example.yaml"}, nil)
			return nil, ps.result(name)
		}
		ps.doc.root = top
	}

	cfg := &Config{Path: abs}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	err := dec.Decode(cfg)
	var te *yaml.TypeError
	switch {
	case err == nil, errors.Is(err, io.EOF):
	case errors.As(err, &te):
		for _, msg := range te.Errors {
			ps.addDecode(ps.doc.typeProblem(msg))
		}
	default:
		ps.addDecode(syntaxProblem(err), nil)
		return nil, ps.result(name)
	}
	if err == nil {
		var extra yaml.Node
		if dec.Decode(&extra) == nil {
			ps.addDecode(Problem{Line: extra.Line, Msg: "the file holds more than one YAML document",
				Hint: "remove the second document, from its --- line on; careerrelay reads one"}, nil)
		}
	}

	applyDefaults(cfg, ps.doc, ps)
	resolvePaths(cfg, filepath.Dir(abs))
	validate(cfg, ps)
	if err := ps.result(name); err != nil {
		return nil, err
	}
	return cfg, nil
}

var (
	lineRE     = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)
	unknownRE  = regexp.MustCompile(`^field (.+) not found in type (\S+)$`)
	dupFieldRE = regexp.MustCompile(`^field (.+) already set in type (\S+)$`)
	dupKeyRE   = regexp.MustCompile(`^mapping key "(.*)" already defined at line (\d+)$`)
	unmarshRE  = regexp.MustCompile("^cannot unmarshal (!!\\w+)(?: `(.*)`)? into (.+)$")
)

// syntaxProblem turns a YAML syntax error into a problem.
func syntaxProblem(err error) Problem {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	p := Problem{Line: 1, Msg: "not valid YAML: " + msg,
		Hint: "fix the YAML syntax: indent with spaces, never tabs, and quote values that contain ': ' or start with a special character such as *, &, [, {"}
	if m := lineRE.FindStringSubmatch(err.Error()); m != nil {
		p.Line, _ = strconv.Atoi(m[1])
		p.Msg = "not valid YAML: " + m[2]
	}
	return p
}

// typeProblem turns one message of a *yaml.TypeError ("line N: ...") into
// a problem with its key path and a hint. It also returns the key whose
// value yaml left undecoded ("" for the whole file, nil for none).
func (d *doc) typeProblem(msg string) (Problem, *string) {
	m := lineRE.FindStringSubmatch(msg)
	if m == nil {
		return Problem{Msg: msg, Hint: "fix the value to match configs/careerrelay.example.yaml"}, nil
	}
	line, _ := strconv.Atoi(m[1])
	text := m[2]
	p := Problem{Line: line, Msg: text, Hint: "fix the value to match configs/careerrelay.example.yaml"}

	if u := unknownRE.FindStringSubmatch(text); u != nil {
		name := u[1]
		e := d.keyAt(line, name)
		parent := ""
		if e != nil {
			p.Key, parent = e.path, e.parent
		}
		p.Msg = fmt.Sprintf("unknown key %q", name)
		known := keysOf(derefType(typeAt(parent)))
		p.Hint = "remove it or fix its spelling"
		if c := closest(name, known); c != "" {
			p.Hint = fmt.Sprintf("did you mean %q?", c)
		}
		if len(known) > 0 {
			where := "at the top level"
			if parent != "" {
				where = "under " + parent
			}
			p.Hint += fmt.Sprintf("; the keys allowed %s are: %s", where, strings.Join(known, ", "))
		}
		return p, nil
	}
	if u := dupFieldRE.FindStringSubmatch(text); u != nil {
		// A key set both directly and through a << merge.
		if e := d.keyAt(line, u[1]); e != nil {
			p.Key = e.path
		}
		p.Msg = fmt.Sprintf("key %q is set twice in the same mapping", u[1])
		p.Hint = "keep one of them"
		return p, nil
	}
	if u := dupKeyRE.FindStringSubmatch(text); u != nil {
		// yaml skips the whole mapping that holds a duplicate key.
		p.Msg = fmt.Sprintf("key %q is set twice in the same mapping (first at line %s)", u[1], u[2])
		p.Hint = "keep one of them"
		if e := d.keyAt(line, u[1]); e != nil {
			p.Key = e.path
			return p, &e.parent
		}
		return p, nil
	}
	if u := unmarshRE.FindStringSubmatch(text); u != nil {
		tag, shown, into := u[1], u[2], u[3]
		e := d.valueAt(line, tag, shown)
		value := shown
		p.Msg, p.Hint = describeMismatch(tag, value, into)
		if e != nil {
			p.Key = e.path
			p.Msg, p.Hint = describeMismatch(tag, e.val.Value, into)
			return p, &e.path
		}
		return p, nil
	}
	return p, nil
}

// describeMismatch explains a value of the wrong type.
func describeMismatch(tag, value, into string) (msg, hint string) {
	found := map[string]string{"!!seq": "a list", "!!map": "a mapping", "!!null": "nothing"}[tag]
	if found == "" {
		found = strconv.Quote(value)
	}
	switch {
	case into == "time.Duration":
		return found + " is not a duration",
			"use Go duration syntax, a number with a unit such as 90s, 5m or 120h; the units are ms, s, m and h, with none for days: 5 days is 120h"
	case strings.HasPrefix(into, "int") || strings.HasPrefix(into, "uint"):
		return found + " is not a whole number",
			"write digits only, without quotes or units, e.g. 100"
	case into == "bool":
		return found + " is not a boolean", "write true or false"
	case into == "string":
		return "expected a single value, found " + found,
			"write one value; quote it if it contains ': ' or starts with [ or {"
	case strings.HasPrefix(into, "[]"):
		return "expected a list, found " + found,
			"write a list, e.g. [a, b] or one '- item' per line"
	case strings.HasPrefix(into, "map[") || strings.HasPrefix(into, "configs."):
		return "expected a mapping of keys, found " + found,
			"write key: value pairs indented under this key, as in configs/careerrelay.example.yaml"
	}
	return fmt.Sprintf("cannot use %s as %s", found, into), "fix the value to match configs/careerrelay.example.yaml"
}

// keyAt finds the mapping key name written on line.
func (d *doc) keyAt(line int, name string) *entry {
	for _, e := range d.entries() {
		if e.key != nil && e.key.Line == line && e.key.Value == name {
			return &e
		}
	}
	return nil
}

// valueAt finds the value on line that yaml refused: shown is the value as
// yaml quoted it (cut to 7 characters and "..." when long).
func (d *doc) valueAt(line int, tag, shown string) *entry {
	var fallback *entry
	for _, e := range d.entries() {
		v := e.val
		if v.Line != line {
			continue
		}
		if fallback == nil {
			fallback = &e
		}
		if v.ShortTag() != tag {
			continue
		}
		if v.Kind != yaml.ScalarNode || v.Value == shown ||
			(strings.HasSuffix(shown, "...") && strings.HasPrefix(v.Value, strings.TrimSuffix(shown, "..."))) {
			return &e
		}
	}
	return fallback
}

func derefType(t reflect.Type) reflect.Type {
	for t != nil && (t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice) {
		t = t.Elem()
	}
	return t
}

// applyDefaults fills in every key the file leaves out. A key the file sets
// explicitly keeps its value, even zero, so that validation can refuse it.
func applyDefaults(c *Config, d *doc, ps *problems) {
	def := func(key string, apply func()) {
		if !d.has(key) {
			apply()
		}
	}
	def("log.level", func() { c.Log.Level = DefaultLogLevel })
	def("log.format", func() { c.Log.Format = DefaultLogFormat })

	def("smtp.hostname", func() {
		h, err := hostname()
		if err != nil || h == "" {
			ps.add("smtp.hostname", fmt.Sprintf("not set, and the system host name is unknown (%v)", err),
				"set smtp.hostname to the name this relay is known by, e.g. relay.example.jp")
			return
		}
		c.SMTP.Hostname = h
	})
	def("smtp.max_message_bytes", func() { c.SMTP.MaxMessageBytes = DefaultMaxMessageBytes })
	def("smtp.max_recipients", func() { c.SMTP.MaxRecipients = DefaultMaxRecipients })
	def("smtp.max_line_length", func() { c.SMTP.MaxLineLength = DefaultMaxLineLength })
	def("smtp.max_header_bytes", func() { c.SMTP.MaxHeaderBytes = DefaultMaxHeaderBytes })
	def("smtp.max_connections", func() { c.SMTP.MaxConnections = DefaultMaxConnections })
	def("smtp.max_connections_per_client", func() { c.SMTP.MaxConnectionsPerClient = DefaultMaxConnectionsPerClient })
	def("smtp.read_timeout", func() { c.SMTP.ReadTimeout = DefaultSMTPTimeout })
	def("smtp.write_timeout", func() { c.SMTP.WriteTimeout = DefaultSMTPTimeout })
	def("smtp.preauth_timeout", func() { c.SMTP.PreAuthTimeout = DefaultPreAuthTimeout })
	def("smtp.max_hops", func() { c.SMTP.MaxHops = DefaultMaxHops })

	def("delivery.mode", func() { c.Delivery.Mode = DefaultDeliveryMode })
	def("delivery.relay.tls", func() { c.Delivery.Relay.TLS = DefaultRelayTLS })
	def("delivery.retry_schedule", func() { c.Delivery.RetrySchedule = DefaultRetrySchedule() })
	def("delivery.lifetime", func() { c.Delivery.Lifetime = DefaultLifetime })
	def("delivery.workers", func() { c.Delivery.Workers = DefaultWorkers })
	def("delivery.connect_timeout", func() { c.Delivery.ConnectTimeout = DefaultConnectTimeout })
	def("delivery.command_timeout", func() { c.Delivery.CommandTimeout = DefaultCommandTimeout })
	def("delivery.hello_name", func() { c.Delivery.HelloName = c.SMTP.Hostname })

	def("links.ttl", func() { c.Links.TTL = DefaultLinkTTL })
	def("links.bot_window", func() { c.Links.BotWindow = DefaultBotWindow })
	def("privacy.retention", func() { c.Privacy.Retention = DefaultRetention })
	if d.has("http.tls.acme") {
		def("http.tls.acme.directory_url", func() { c.HTTP.TLS.ACME.DirectoryURL = DefaultACMEDirectory })
		def("http.tls.acme.cache_dir", func() {
			if c.DataDir != "" {
				c.HTTP.TLS.ACME.CacheDir = filepath.Join(c.DataDir, "acme")
			}
		})
	}

	for i := range c.Tenants {
		t := &c.Tenants[i]
		p := index("tenants", i)
		def(join(p, "tag"), func() { t.Tag = DefaultTag })
		def(join(p, "referrals_per_credit"), func() { t.ReferralsPerCredit = DefaultReferralsPerCredit })
		def(p+".ingress.max_signature_age", func() { t.Ingress.MaxSignatureAge = DefaultMaxSignatureAge })
		def(p+".delivery.relay.tls", func() { t.Delivery.Relay.TLS = DefaultRelayTLS })
	}
}

// resolvePaths makes every relative file or folder name relative to dir,
// the config file's folder.
func resolvePaths(c *Config, dir string) {
	abs := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	abs(&c.DataDir)
	abs(&c.SMTP.TLS.CertFile)
	abs(&c.SMTP.TLS.KeyFile)
	abs(&c.SMTP.CloudNetworksFile)
	relay := func(r *Relay) {
		abs(&r.PasswordFile)
		abs(&r.CAFile)
		abs(&r.ClientCertFile)
		abs(&r.ClientKeyFile)
	}
	relay(&c.Delivery.Relay)
	abs(&c.Delivery.CaptureDir)
	for i := range c.Links.Keys {
		abs(&c.Links.Keys[i].SecretFile)
	}
	for i := range c.HTTP.TLS.Certificates {
		abs(&c.HTTP.TLS.Certificates[i].CertFile)
		abs(&c.HTTP.TLS.Certificates[i].KeyFile)
	}
	abs(&c.HTTP.TLS.ACME.CacheDir)
	abs(&c.HTTP.TLS.ACME.CAFile)
	abs(&c.Admin.TokenFile)
	abs(&c.Privacy.HashKeyFile)
	abs(&c.Store.Shared.DSNFile)
	abs(&c.Agency.Webhook.SecretFile)
	for i := range c.Tenants {
		for j := range c.Tenants[i].DKIM {
			abs(&c.Tenants[i].DKIM[j].KeyFile)
		}
		abs(&c.Tenants[i].Ingress.HeaderSecretFile)
		relay(&c.Tenants[i].Delivery.Relay)
	}
}
