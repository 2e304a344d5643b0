package inbound

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/careerrelay/careerrelay/configs"
	"github.com/careerrelay/careerrelay/internal/pipeline"
	"github.com/careerrelay/careerrelay/internal/testlib"
	gosmtp "github.com/emersion/go-smtp"
)

// recorder is an Acceptor that keeps what it was given, or fails.
type recorder struct {
	mu   sync.Mutex
	envs []pipeline.Envelope
	msgs [][]byte
	fail error
}

func (r *recorder) Accept(ctx context.Context, env pipeline.Envelope, msg []byte) ([]string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return nil, r.fail
	}
	r.envs = append(r.envs, env)
	r.msgs = append(r.msgs, append([]byte(nil), msg...))
	return []string{fmt.Sprintf("q%d", len(r.msgs))}, nil
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.msgs)
}

func testConfig(networks ...string) *configs.Config {
	cfg := &configs.Config{}
	cfg.SMTP.Listen = "127.0.0.1:0"
	cfg.SMTP.Hostname = "relay.test"
	cfg.SMTP.MaxMessageBytes = 4096
	cfg.SMTP.MaxRecipients = 3
	cfg.SMTP.MaxLineLength = 2000
	cfg.SMTP.ReadTimeout = 10 * time.Second
	cfg.SMTP.WriteTimeout = 10 * time.Second
	for _, n := range networks {
		cfg.SMTP.Networks = append(cfg.SMTP.Networks, netip.MustParsePrefix(n))
	}
	cfg.Links = configs.Links{BaseURL: "https://careers.test", Keys: []configs.LinkKey{{ID: "k1", Secret: []byte("TEST-ONLY-inbound-link-key-0123456789")}}}
	cfg.Tenants = []configs.Tenant{{ID: "acme", Name: "Acme", Domains: []string{"acme.example"}, Tag: "[[career-relay]]"}}
	return cfg
}

func startServer(t *testing.T, cfg *configs.Config, acc Acceptor) string {
	t.Helper()
	return startServerWith(t, cfg, acc, nil)
}

// withTLS gives cfg a self-signed certificate for 127.0.0.1 and an
// implicit-TLS listener on a free port, and returns the certificate.
func withTLS(t *testing.T, cfg *configs.Config) (certPEM []byte) {
	t.Helper()
	certPEM, keyPEM, _ := testlib.SelfSignedCert(t, "localhost", "127.0.0.1")
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.SMTP.TLS.CertFile, cfg.SMTP.TLS.KeyFile = certFile, keyFile
	cfg.SMTP.ListenTLS = "127.0.0.1:0"
	return certPEM
}

// listening starts a server for cfg and returns it: Addrs()[0] is the
// plain listener, [1] the implicit-TLS one when cfg has it.
func listening(t *testing.T, cfg *configs.Config) *Server {
	t.Helper()
	s, err := New(cfg, &recorder{}, slog.New(slog.NewTextHandler(io.Discard, nil)), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// startServerWith is startServer with setup called before Listen.
func startServerWith(t *testing.T, cfg *configs.Config, acc Acceptor, setup func(*Server)) string {
	t.Helper()
	s, err := New(cfg, acc, slog.New(slog.NewTextHandler(io.Discard, nil)), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if setup != nil {
		setup(s)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s.Addrs()[0].String()
}

// send runs one transaction and returns the error of the first refused step.
func send(t *testing.T, addr, from string, rcpts []string, body string) error {
	t.Helper()
	c, err := gosmtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Mail(from, nil); err != nil {
		return err
	}
	for _, r := range rcpts {
		if err := c.Rcpt(r, nil); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	io.WriteString(w, body)
	return w.Close()
}

func code(err error) int {
	var se *gosmtp.SMTPError
	if errors.As(err, &se) {
		return se.Code
	}
	return 0
}

const plainMail = "From: hr@acme.example\r\nTo: c@cand.example\r\nSubject: x\r\nMessage-ID: <m1@acme.example>\r\n\r\nbody\r\n"

func TestAllowedNetworkRelaysTenantSender(t *testing.T) {
	rec := &recorder{}
	addr := startServer(t, testConfig("127.0.0.0/8"), rec)
	if err := send(t, addr, "hr@acme.example", []string{"c@cand.example"}, plainMail); err != nil {
		t.Fatalf("send: %v", err)
	}
	env := rec.envs[0]
	if env.Tenant == nil || env.Tenant.ID != "acme" || env.From != "hr@acme.example" || env.MessageID != "<m1@acme.example>" {
		t.Errorf("envelope %+v", env)
	}
	msg := string(rec.msgs[0])
	if !strings.HasPrefix(msg, "Received: from ") || !strings.Contains(msg, "by relay.test (careerrelay) with ESMTP id ") {
		t.Errorf("no Received: header first:\n%s", msg)
	}
	if !strings.HasSuffix(msg, plainMail) {
		t.Errorf("message changed beyond the added header:\n%q", msg)
	}
}

func TestOutsideNetworkWithoutAuthIsRefused(t *testing.T) {
	rec := &recorder{}
	addr := startServer(t, testConfig("10.0.0.0/8"), rec)
	err := send(t, addr, "hr@acme.example", []string{"c@cand.example"}, plainMail)
	var se *gosmtp.SMTPError
	if !errors.As(err, &se) || se.Code != 550 || se.EnhancedCode != (gosmtp.EnhancedCode{5, 7, 1}) {
		t.Fatalf("got %v, want 550 5.7.1", err)
	}
	if rec.count() != 0 {
		t.Error("a refused message was accepted")
	}
}

func TestUnknownSenderRefusedUnlessConfigured(t *testing.T) {
	rec := &recorder{}
	cfg := testConfig("127.0.0.0/8")
	addr := startServer(t, cfg, rec)
	other := strings.ReplaceAll(plainMail, "acme.example", "other.example")
	if err := send(t, addr, "x@other.example", []string{"c@cand.example"}, other); code(err) != 550 {
		t.Fatalf("unknown sender: %v, want 550", err)
	}
	// An ATS with its own bounce address: the From header decides.
	if err := send(t, addr, "bounce-1@ats.example", []string{"c@cand.example"}, plainMail); err != nil {
		t.Fatalf("tenant From header with a foreign envelope sender: %v", err)
	}
	if rec.envs[0].Tenant == nil || rec.envs[0].Tenant.ID != "acme" {
		t.Errorf("tenant from From header: %+v", rec.envs[0].Tenant)
	}

	cfg2 := testConfig("127.0.0.0/8")
	cfg2.SMTP.RelayUnknownSenders = true
	rec2 := &recorder{}
	addr2 := startServer(t, cfg2, rec2)
	if err := send(t, addr2, "x@other.example", []string{"c@cand.example"}, other); err != nil {
		t.Fatalf("relay_unknown_senders: %v", err)
	}
	if rec2.envs[0].Tenant != nil {
		t.Error("unknown sender got a tenant")
	}
}

func TestLocalFailureAnswers451WithoutDetail(t *testing.T) {
	rec := &recorder{fail: errors.New("bolt: input/output error at /secret/path")}
	addr := startServer(t, testConfig("127.0.0.0/8"), rec)
	err := send(t, addr, "hr@acme.example", []string{"c@cand.example"}, plainMail)
	var se *gosmtp.SMTPError
	if !errors.As(err, &se) || se.Code != 451 || se.EnhancedCode != (gosmtp.EnhancedCode{4, 3, 0}) {
		t.Fatalf("got %v, want 451 4.3.0", err)
	}
	if strings.Contains(se.Message, "bolt") || strings.Contains(se.Message, "/secret") {
		t.Errorf("reply leaks the internal error: %q", se.Message)
	}
}

func TestLimits(t *testing.T) {
	rec := &recorder{}
	addr := startServer(t, testConfig("127.0.0.0/8"), rec)
	big := plainMail + strings.Repeat(strings.Repeat("x", 70)+"\r\n", 70)
	if err := send(t, addr, "hr@acme.example", []string{"c@cand.example"}, big); code(err) != 552 {
		t.Errorf("oversized message: %v, want 552", err)
	}
	long := plainMail + strings.Repeat("y", 2100) + "\r\n"
	var se *gosmtp.SMTPError
	if err := send(t, addr, "hr@acme.example", []string{"c@cand.example"}, long); !errors.As(err, &se) || se.Code != 552 || !strings.Contains(se.Message, "line") {
		t.Errorf("line over max_line_length: %v, want 552 naming the line", err)
	}
	err := send(t, addr, "hr@acme.example", []string{"a@x.example", "b@x.example", "c@x.example", "d@x.example"}, plainMail)
	if code(err) != 452 {
		t.Errorf("4th recipient of max 3: %v, want 452", err)
	}
	if rec.count() != 0 {
		t.Errorf("%d messages accepted past limits", rec.count())
	}
}

func TestMissingMessageIDIsAdded(t *testing.T) {
	rec := &recorder{}
	addr := startServer(t, testConfig("127.0.0.0/8"), rec)
	noID := strings.Replace(plainMail, "Message-ID: <m1@acme.example>\r\n", "", 1)
	if err := send(t, addr, "hr@acme.example", []string{"c@cand.example"}, noID); err != nil {
		t.Fatal(err)
	}
	id := rec.envs[0].MessageID
	if !strings.HasSuffix(id, "@relay.test>") || !strings.Contains(string(rec.msgs[0]), "Message-ID: "+id+"\r\n") {
		t.Errorf("Message-ID %q not added to the message", id)
	}
}

// TestSmuggling sends raw DATA with the end-of-data look-alikes of SMTP
// smuggling: each must stay inside one message, normalised to CRLF.
func TestSmuggling(t *testing.T) {
	for _, eod := range []string{"\n.\r\n", "\r\n.\n", "\n.\n", "\r.\r\n", "\r\n.\r"} {
		t.Run(fmt.Sprintf("%q", eod), func(t *testing.T) {
			rec := &recorder{}
			addr := startServer(t, testConfig("127.0.0.0/8"), rec)
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			r := bufio.NewReader(conn)
			smuggled := "MAIL FROM:<hr@acme.example>\r\nRCPT TO:<victim@x.example>\r\nDATA\r\nFrom: hr@acme.example\r\n\r\nsmuggled\r\n"
			script := "EHLO t\r\nMAIL FROM:<hr@acme.example>\r\nRCPT TO:<c@cand.example>\r\nDATA\r\n" +
				plainMail + "before" + eod + smuggled + ".\r\nQUIT\r\n"
			if _, err := io.WriteString(conn, script); err != nil {
				t.Fatal(err)
			}
			var replies []string
			for {
				line, err := r.ReadString('\n')
				if err != nil {
					break
				}
				replies = append(replies, strings.TrimSpace(line))
			}
			if rec.count() != 1 {
				t.Fatalf("%d messages accepted, want exactly 1; replies %q", rec.count(), replies)
			}
			if got := string(rec.msgs[0]); !strings.Contains(got, "RCPT TO:<victim@x.example>\r\n") || strings.ContainsAny(strings.ReplaceAll(got, "\r\n", ""), "\r\n") {
				t.Errorf("smuggled text not kept as CRLF-normalised body:\n%q", got)
			}
			if n := len(rec.envs[0].Rcpts); n != 1 {
				t.Errorf("%d recipients, want 1", n)
			}
		})
	}
}
