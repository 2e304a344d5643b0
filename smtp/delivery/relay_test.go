package delivery

import (
	"bytes"
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/careerrelay/careerrelay/configs"
)

func TestRelayStartTLSAuth(t *testing.T) {
	cert, certPEM := selfSigned(t)
	s := newSink(t, sinkOptions{
		TLS:   &tls.Config{Certificates: []tls.Certificate{cert}},
		Users: map[string]string{"postfix": "s3cret"},
	})
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(c *configs.Config, _ *Options) {
		c.Delivery.Relay = configs.Relay{Address: s.Addr, TLS: "starttls", Username: "postfix", Password: "s3cret", CAFile: caFile}
	})
	before := counter("delivered")
	id := e.enqueue("hr@acme.example", []string{"taro@example.jp", "hanako@example.jp"}, testBody)
	e.runDue(1)

	msgs := s.messages()
	if len(msgs) != 1 {
		t.Fatalf("sink got %d messages, want 1", len(msgs))
	}
	got := msgs[0]
	if !bytes.Equal(got.Data, []byte(testBody)) {
		t.Errorf("body changed in transit:\n got %q\nwant %q", got.Data, testBody)
	}
	if got.From != "hr@acme.example" || strings.Join(got.To, ",") != "taro@example.jp,hanako@example.jp" {
		t.Errorf("envelope = %q -> %q", got.From, got.To)
	}
	if !got.TLS || got.AuthUser != "postfix" || got.Helo != "out.relay.test" {
		t.Errorf("TLS=%v auth=%q helo=%q, want TLS, postfix, out.relay.test", got.TLS, got.AuthUser, got.Helo)
	}
	if m := e.get(id); m != nil {
		t.Errorf("message still queued after delivery: %+v", m)
	}
	if d := counter("delivered") - before; d != 1 {
		t.Errorf("delivered counter moved by %v, want 1", d)
	}
	if g := gauge(); g != 0 {
		t.Errorf("queue gauge = %v, want 0", g)
	}
}

func TestRelayImplicitTLSWithRootCAs(t *testing.T) {
	cert, certPEM := selfSigned(t)
	s := newSink(t, sinkOptions{TLS: &tls.Config{Certificates: []tls.Certificate{cert}}, Implicit: true})
	e := newEnv(t, func(c *configs.Config, o *Options) {
		c.Delivery.Relay = configs.Relay{Address: s.Addr, TLS: "tls"}
		o.RootCAs = poolOf(t, certPEM)
	})
	e.enqueue("hr@acme.example", []string{"taro@example.jp"}, testBody)
	e.runDue(1)
	if msgs := s.messages(); len(msgs) != 1 || !msgs[0].TLS {
		t.Fatalf("sink got %+v, want one message over TLS", msgs)
	}
}

// The relay's certificate is verified: an unknown issuer is a temporary
// failure and the password is never sent.
func TestRelayUntrustedCertificateDefers(t *testing.T) {
	cert, _ := selfSigned(t)
	s := newSink(t, sinkOptions{
		TLS:   &tls.Config{Certificates: []tls.Certificate{cert}},
		Users: map[string]string{"postfix": "s3cret"},
	})
	e := newEnv(t, func(c *configs.Config, _ *Options) {
		c.Delivery.Relay = configs.Relay{Address: s.Addr, TLS: "starttls", Username: "postfix", Password: "s3cret"}
	})
	id := e.enqueue("hr@acme.example", []string{"taro@example.jp"}, testBody)
	e.runDue(1)
	m := e.get(id)
	if m == nil || m.Rcpts[0].State != 0 {
		t.Fatalf("message = %+v, want still pending", m)
	}
	if !strings.Contains(m.LastError, "certificate") {
		t.Errorf("LastError = %q, want a certificate error", m.LastError)
	}
	if len(s.messages()) != 0 {
		t.Error("delivered despite an untrusted certificate")
	}
}

// A relay that does not offer STARTTLS is not used in starttls mode.
func TestRelayStartTLSRequired(t *testing.T) {
	s := newSink(t, sinkOptions{})
	e := newEnv(t, func(c *configs.Config, _ *Options) {
		c.Delivery.Relay = configs.Relay{Address: s.Addr, TLS: "starttls"}
	})
	id := e.enqueue("hr@acme.example", []string{"taro@example.jp"}, testBody)
	e.runDue(1)
	if m := e.get(id); m == nil || !strings.Contains(m.LastError, "STARTTLS") {
		t.Fatalf("message = %+v, want pending with a STARTTLS error", m)
	}
}

// Each RCPT reply counts: one recipient refused with 550 fails, the other
// is delivered in the same transaction.
func TestRelayPerRecipientReplies(t *testing.T) {
	s := newSink(t, sinkOptions{})
	s.setHooks(sinkHooks{Rcpt: func(to string) error {
		switch to {
		case "gone@example.jp":
			return reply(550, "5.1.1", "no such user")
		case "full@example.jp":
			return reply(452, "4.2.2", "mailbox full")
		}
		return nil
	}})
	e := newEnv(t, func(c *configs.Config, _ *Options) {
		c.Delivery.Relay = configs.Relay{Address: s.Addr, TLS: "none"}
	})
	id := e.enqueue("hr@acme.example", []string{"taro@example.jp", "gone@example.jp", "full@example.jp"}, testBody)
	e.runDue(2) // the message, then the DSN for gone@
	m := e.get(id)
	if m == nil {
		t.Fatal("message gone, want full@ still pending")
	}
	want := []string{"delivered", "failed", "pending"}
	for i, r := range m.Rcpts {
		if stateName(r.State) != want[i] {
			t.Errorf("rcpt %s is %s, want %s (%s)", r.Addr, stateName(r.State), want[i], r.LastError)
		}
	}
	if !strings.HasPrefix(m.Rcpts[2].LastError, "452 4.2.2") {
		t.Errorf("LastError of full@ = %q", m.Rcpts[2].LastError)
	}
	msgs := s.messages()
	if len(msgs) != 2 || strings.Join(msgs[0].To, ",") != "taro@example.jp" || msgs[1].From != "" {
		t.Fatalf("sink got %+v, want the message to taro@ and a DSN from <>", msgs)
	}
}
