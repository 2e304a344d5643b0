package server

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/careerrelay/careerrelay/configs"
	"github.com/careerrelay/careerrelay/internal/metrics"
	"github.com/careerrelay/careerrelay/internal/testlib"
	"github.com/careerrelay/careerrelay/internal/web"
	"github.com/careerrelay/careerrelay/smtp/dkim"
	gosmtp "github.com/emersion/go-smtp"
)

const testToken = "admin-token-for-the-server-test-0123456789"

// testConfig writes a capture-mode config listening on port 0 everywhere
// into dir and loads it.
func testConfig(t *testing.T, dir string) *configs.Config {
	t.Helper()
	key, err := dkim.GenerateKey("ed25519", 0)
	if err != nil {
		t.Fatal(err)
	}
	pemKey, err := dkim.MarshalKey(key)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"link.key":    "link-key-for-the-server-test-0123456789abcdef",
		"admin.token": testToken,
		"acme.pem":    string(pemKey),
		"careerrelay.yaml": `data_dir: data
smtp:
  listen: "127.0.0.1:0"
  hostname: relay.test
  allow_networks: [127.0.0.0/8]
delivery:
  mode: capture
  capture_dir: mail
  retry_schedule: [1s]
links:
  base_url: http://127.0.0.1:1
  keys: [{id: k1, secret_file: link.key}]
http:
  listen: "127.0.0.1:0"
admin:
  listen: "127.0.0.1:0"
  token_file: admin.token
agency:
  name: Test Agency
  registration_url: https://agency.example/register
tenants:
  - id: acme
    name: 株式会社アクメ
    domains: [acme.example]
    dkim: [{selector: t1, key_file: acme.pem}]
`,
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := configs.Load(filepath.Join(dir, "careerrelay.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// running is one server.Run in the background.
type running struct {
	ready Ready
	stop  context.CancelFunc
	done  chan error
}

func start(t *testing.T, cfg *configs.Config) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{stop: cancel, done: make(chan error, 1)}
	readyc := make(chan Ready, 1)
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	go func() {
		r.done <- Run(ctx, cfg, log, Options{OnReady: func(rd Ready) { readyc <- rd }, Console: io.Discard})
	}()
	select {
	case r.ready = <-readyc:
	case err := <-r.done:
		cancel()
		t.Fatalf("Run returned before ready: %v", err)
	case <-time.After(20 * time.Second):
		cancel()
		t.Fatal("Run not ready after 20s")
	}
	return r
}

// wait stops the server and checks that Run returned nil.
func (r *running) wait(t *testing.T) {
	t.Helper()
	r.stop()
	select {
	case err := <-r.done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return 30s after its context ended")
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func get(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func send(t *testing.T, addr, to string) {
	t.Helper()
	msg := "From: hr@acme.example\r\nTo: " + to + "\r\nSubject: test\r\nMessage-ID: <" + to + "@acme.example>\r\n" +
		"Date: Mon, 02 Mar 2026 10:00:00 +0900\r\n\r\nThank you. [[career-relay]]\r\n"
	c, err := gosmtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SendMail("hr@acme.example", []string{to}, strings.NewReader(msg)); err != nil {
		t.Fatalf("sending to %s: %v", to, err)
	}
	c.Quit()
}

// TestRunTwice runs the relay on port 0 everywhere, through the addresses
// Ready gives: it takes mail, delivers it with a link, serves /metrics and
// the admin API (its queue view too); stopped and run again in the same
// process on the same data, it works as before.
func TestRunTwice(t *testing.T) {
	t.Parallel()
	dir := testlib.TempDir(t)
	cfg := testConfig(t, dir)
	for run := 1; run <= 2; run++ {
		r := start(t, cfg)
		for _, a := range []string{r.ready.SMTP, r.ready.HTTP, r.ready.Admin} {
			if _, port, err := net.SplitHostPort(a); err != nil || port == "0" {
				t.Fatalf("run %d: Ready %+v: address %q is not a bound one", run, r.ready, a)
			}
		}
		if r.ready.SMTPTLS != "" {
			t.Errorf("run %d: SMTPTLS %q without listen_tls", run, r.ready.SMTPTLS)
		}
		to := fmt.Sprintf("taro%d@example.com", run)
		send(t, r.ready.SMTP, to)
		mail := filepath.Join(dir, "mail")
		testlib.WaitFor(t, 10*time.Second, "the captured copy", func() bool {
			ents, _ := os.ReadDir(mail)
			return len(ents) == run
		})
		if code, body := get(t, "http://"+r.ready.HTTP+"/metrics", ""); code != 200 ||
			!strings.Contains(body, `careerrelay_smtp_messages_received_total{tenant="acme"}`) ||
			!strings.Contains(body, `careerrelay_rewrite_links_injected_total{tenant="acme"}`) ||
			!strings.Contains(body, `careerrelay_dkim_signer_info{impl="`+dkim.Crypto().Impl+`"} 1`) {
			t.Errorf("run %d: /metrics %d:\n%s", run, code, body)
		}
		if code, body := get(t, "http://"+r.ready.Admin+"/api/balance?tenant=acme", testToken); code != 200 || !strings.Contains(body, `"tenant": "acme"`) {
			t.Errorf("run %d: balance %d %s", run, code, body)
		}
		var code int
		var body string
		if !testlib.Poll(10*time.Second, func() bool {
			code, body = get(t, "http://"+r.ready.Admin+"/api/queue", testToken)
			var q web.QueueReply
			return code == 200 && json.Unmarshal([]byte(body), &q) == nil && q.Count == 0
		}) {
			t.Errorf("run %d: queue not empty: %d %s", run, code, body)
		}
		r.wait(t)
		if testlib.PortOpen(r.ready.SMTP) || testlib.PortOpen(r.ready.HTTP) || testlib.PortOpen(r.ready.Admin) {
			t.Errorf("run %d: a listener is still open after Run returned", run)
		}
	}
	ents, _ := os.ReadDir(filepath.Join(dir, "mail"))
	for _, e := range ents {
		b, _ := os.ReadFile(filepath.Join(dir, "mail", e.Name()))
		if !strings.Contains(string(b), "http://127.0.0.1:1/c/") || !strings.Contains(string(b), "DKIM-Signature:") {
			t.Errorf("%s is not a signed copy with a link:\n%s", e.Name(), b)
		}
	}
}

// TestRunListenError: a port in use stops Run with an error naming it,
// OnReady is not called, and the store is released for the next Run.
func TestRunListenError(t *testing.T) {
	t.Parallel()
	dir := testlib.TempDir(t)
	cfg := testConfig(t, dir)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for _, field := range []*string{&cfg.SMTP.Listen, &cfg.HTTP.Listen, &cfg.Admin.Listen} {
		old := *field
		*field = busy.Addr().String()
		called := false
		err := Run(context.Background(), cfg, nil, Options{OnReady: func(Ready) { called = true }, Console: io.Discard})
		if err == nil || !strings.Contains(err.Error(), busy.Addr().String()) || called {
			t.Errorf("listening on a busy %s: err %v, OnReady called %v", busy.Addr(), err, called)
		}
		*field = old
	}
	r := start(t, cfg)
	r.wait(t)
}

// TestRunBadDataDir: a data_dir that cannot be made is an error.
func TestRunBadDataDir(t *testing.T) {
	t.Parallel()
	dir := testlib.TempDir(t)
	cfg := testConfig(t, dir)
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.DataDir = filepath.Join(file, "data")
	if err := Run(context.Background(), cfg, nil, Options{}); err == nil || !strings.Contains(err.Error(), "data_dir") {
		t.Errorf("Run with data_dir under a file: %v", err)
	}
}

// The start-up log says which route each tenant's mail takes: its own
// relay (with the client certificate's subject and the EHLO name, never
// the user or password), or the global delivery.
func TestTenantRouteLog(t *testing.T) {
	_, _, cert := testlib.SelfSignedCert(t, "acme.example")
	cfg := &configs.Config{
		SMTP:     configs.SMTP{Hostname: "relay.example"},
		Delivery: configs.Delivery{Mode: "relay", Relay: configs.Relay{Address: "smtp.example:587", TLS: "starttls"}},
		Tenants: []configs.Tenant{
			{ID: "acme", Delivery: configs.TenantDelivery{Mode: "relay", Relay: configs.Relay{
				Address: "acme-example.mail.protection.outlook.com:25", TLS: "starttls", ClientCert: &cert,
				Username: "acme-user", Password: "acme-secret"}}},
			{ID: "beta"},
		},
	}
	var buf strings.Builder
	log := slog.New(slog.NewTextHandler(&buf, nil))
	for i := range cfg.Tenants {
		log.Info("tenant", append([]any{"id", cfg.Tenants[i].ID}, tenantRoute(cfg, &cfg.Tenants[i])...)...)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("log:\n%s", buf.String())
	}
	for _, want := range []string{`route="own relay"`, "upstream=acme-example.mail.protection.outlook.com:25", "tls=starttls",
		`client_cert="CN=acme.example,O=careerrelay tests"`, "auth=true", "hello_name=relay.example"} {
		if !strings.Contains(lines[0], want) {
			t.Errorf("acme's line lacks %s:\n%s", want, lines[0])
		}
	}
	if strings.Contains(buf.String(), "acme-user") || strings.Contains(buf.String(), "acme-secret") {
		t.Errorf("the log names the relay user or password:\n%s", buf.String())
	}
	if !strings.Contains(lines[1], `route="global relay"`) {
		t.Errorf("beta's line lacks the global route:\n%s", lines[1])
	}
}

// The start-up log and careerrelay_dkim_signer_info say which code makes
// RSA DKIM signatures: OpenSSL with its version, or Go's crypto with the
// reason (here a load of libcrypto that failed), and each key OpenSSL
// refused.
func TestDKIMSignerLogAndMetric(t *testing.T) {
	if !slices.Equal(dkim.Impls, metrics.DKIMSignerImpls) {
		t.Fatalf("dkim.Impls %v, metrics.DKIMSignerImpls %v", dkim.Impls, metrics.DKIMSignerImpls)
	}
	for _, tc := range []struct {
		info      dkim.CryptoInfo
		fallbacks []error
		want      []string
	}{
		{dkim.CryptoInfo{Impl: dkim.ImplOpenSSL, Version: "OpenSSL 3.0.19 27 Jan 2026"}, nil,
			[]string{`level=INFO msg="dkim signer" impl=openssl openssl="OpenSSL 3.0.19 27 Jan 2026"`}},
		{dkim.CryptoInfo{Impl: dkim.ImplOpenSSL, Version: "OpenSSL 3"}, []error{errors.New("an RSA-2048 key: test")},
			[]string{`impl=openssl`, `level=WARN msg="dkim key signed by Go's crypto" impl=go err="an RSA-2048 key: test"`}},
		{dkim.CryptoInfo{Impl: dkim.ImplGo, Reason: "OpenSSL not loaded: openssl: can't load libcrypto.so.3: test"}, nil,
			[]string{`level=INFO msg="dkim signer" impl=go reason="OpenSSL not loaded: openssl: can't load libcrypto.so.3: test"`}},
	} {
		var buf strings.Builder
		logDKIMSigner(slog.New(slog.NewTextHandler(&buf, nil)), tc.info, tc.fallbacks)
		for _, w := range tc.want {
			if !strings.Contains(buf.String(), w) {
				t.Errorf("log lacks %s:\n%s", w, buf.String())
			}
		}
	}
	reg := metrics.NewRegistry(nil)
	metrics.SetDKIMSigner(dkim.ImplGo)
	defer metrics.SetDKIMSigner(dkim.Crypto().Impl)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() == "careerrelay_dkim_signer_info" {
			for _, m := range mf.GetMetric() {
				got[m.GetLabel()[0].GetValue()] = m.GetGauge().GetValue()
			}
		}
	}
	if got["go"] != 1 || got["openssl"] != 0 || len(got) != 2 {
		t.Errorf("careerrelay_dkim_signer_info %v, want go 1, openssl 0", got)
	}
}

// TestRunTenantRoute: a tenant's own route, loaded from the file
// (client_cert_file, client_key_file, ca_file, hello_name), carries its
// mail to its relay over STARTTLS with its client certificate, while the
// global delivery (capture) gets none of it.
func TestRunTenantRoute(t *testing.T) {
	t.Parallel()
	dir := testlib.TempDir(t)
	testConfig(t, dir) // writes the files
	clientPEM, clientKey, _ := testlib.SelfSignedCert(t, "acme.example")
	serverPEM, _, serverCert := testlib.SelfSignedCert(t)
	sink := testlib.NewSink(t, &testlib.SinkOptions{TLSConfig: &tls.Config{
		Certificates: []tls.Certificate{serverCert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    testlib.CertPool(t, clientPEM),
	}})
	path := filepath.Join(dir, "careerrelay.yaml")
	yaml, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	yaml = append(yaml, `    delivery:
      mode: relay
      relay:
        address: "`+sink.Addr+`"
        tls: starttls
        ca_file: relay-ca.pem
        client_cert_file: acme-cert.pem
        client_key_file: acme-key.pem
        hello_name: acme.example
`...)
	for name, data := range map[string][]byte{"careerrelay.yaml": yaml, "relay-ca.pem": serverPEM, "acme-cert.pem": clientPEM, "acme-key.pem": clientKey} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := configs.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	r := start(t, cfg)
	send(t, r.ready.SMTP, "taro@example.com")
	msgs := sink.WaitForCount(t, 1, 10*time.Second)
	m := msgs[0]
	if !m.TLS || m.ClientCert == nil || m.ClientCert.Subject.CommonName != "acme.example" || m.Helo != "acme.example" {
		t.Errorf("acme's relay got a message: TLS %v, client certificate %v, EHLO %q; want TLS, acme.example's, acme.example",
			m.TLS, m.ClientCert != nil, m.Helo)
	}
	if !strings.Contains(string(m.Data), "DKIM-Signature:") || !strings.Contains(string(m.Data), "http://127.0.0.1:1/c/") {
		t.Errorf("not a signed copy with a link:\n%s", m.Data)
	}
	r.wait(t)
	if ents, _ := os.ReadDir(filepath.Join(dir, "mail")); len(ents) != 0 {
		t.Errorf("the global delivery captured %d copies of acme's mail", len(ents))
	}
}
