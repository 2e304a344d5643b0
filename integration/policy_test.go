package integration

import (
	"crypto/tls"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/careerrelay/careerrelay/internal/testlib"
)

var (
	relayDenied = gosmtp.EnhancedCode{5, 7, 1}
	queuedRE    = regexp.MustCompile(`^2\.0\.0 queued as \S+$`)
)

const deliveryTimeout = 20 * time.Second

// candidate is an envelope recipient outside the tenant's domains.
const candidate = "candidate@example.net"

// noNetworks lets no client relay without AUTH.
func noNetworks(_ string, c *Config) { c.SMTP.AllowNetworks = nil }

// wantOnlyDelivery waits until the sink got the message id, then a moment
// more, and fails t if the sink got anything else.
func wantOnlyDelivery(t *testing.T, sink *testlib.Sink, id string) testlib.SinkMessage {
	t.Helper()
	sink.WaitForCount(t, 1, deliveryTimeout)
	testlib.Poll(300*time.Millisecond, func() bool { return sink.Count() > 1 })
	msgs := sink.Messages()
	if len(msgs) != 1 || msgs[0].MessageID != id {
		var ids []string
		for _, m := range msgs {
			ids = append(ids, m.MessageID)
		}
		t.Fatalf("sink got messages %q, want only %q", ids, id)
	}
	return msgs[0]
}

func TestPolicyRelayDeniedWithoutAuth(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		networks []string
	}{
		{"no networks", nil},
		{"other network", []string{"10.0.0.0/8", "192.0.2.0/24"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sink := newSink(t, nil)
			r := StartRelay(t, sink.Addr, func(dir string, c *Config) {
				c.SMTP.AllowNetworks = tc.networks
				withTLSAuth(t, dir, c) // AUTH is offered, but this client does not use it
			})
			data, _ := newMessage(tenantSender, candidate, "denied", "hello")
			_, err := sendMail(r.SMTPAddr, SendOptions{}, tenantSender, []string{candidate}, data)
			rep := wantReply(t, err, 550, relayDenied, "mail", "rcpt")
			t.Logf("refused as expected: %v", rep)
			waitQueueDrained(t, r)
			if n := sink.Attempts(); n != 0 {
				t.Errorf("the sink was offered %d messages", n)
			}
		})
	}
}

func TestPolicyAuthOverPlainTextRefused(t *testing.T) {
	t.Parallel()
	sink := newSink(t, nil)
	r := StartRelay(t, sink.Addr, noNetworks, func(dir string, c *Config) { withTLSAuth(t, dir, c) })

	cl, err := Dial(r.SMTPAddr, SendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	advertised, mechs := cl.Extension("AUTH")
	cl.Close()
	t.Logf("AUTH advertised before STARTTLS: %v %q", advertised, mechs)

	_, err = Dial(r.SMTPAddr, SendOptions{User: authUser, Password: authPassword})
	if err == nil {
		t.Fatalf("AUTH PLAIN over plain text succeeded")
	}
	var se *SendError
	if !errors.As(err, &se) || se.Stage != "auth" {
		t.Fatalf("got %v, want the AUTH command refused", err)
	}
	rep, ok := replyOf(err)
	if !ok {
		t.Fatalf("got %v, want an SMTP reply to AUTH", err)
	}
	switch {
	case rep.Code == 523:
	case !advertised && rep.Code/100 == 5:
	default:
		t.Fatalf("AUTH over plain text: got %v, want 523 (or a 5xx with AUTH not advertised)", rep)
	}
	t.Logf("refused as expected: %v", rep)
}

func TestPolicyAuthOverStartTLS(t *testing.T) {
	t.Parallel()
	for _, mech := range []string{"PLAIN", "LOGIN"} {
		t.Run(mech, func(t *testing.T) {
			t.Parallel()
			sink := newSink(t, nil)
			var certPEM []byte
			r := StartRelay(t, sink.Addr, noNetworks, func(dir string, c *Config) { certPEM = withTLSAuth(t, dir, c) })
			tlsConf := &tls.Config{RootCAs: testlib.CertPool(t, certPEM), ServerName: relayHost}

			opts := SendOptions{StartTLS: tlsConf, User: authUser, Password: authPassword, Login: mech == "LOGIN"}
			cl, err := Dial(r.SMTPAddr, opts)
			if err != nil {
				t.Fatalf("STARTTLS and AUTH %s: %v", mech, err)
			}
			defer cl.Close()
			data, id := newMessage(tenantSender, candidate, "authenticated", "hello over TLS")
			text, err := cl.Send(tenantSender, []string{candidate}, data)
			if err != nil {
				t.Fatalf("send after AUTH %s: %v", mech, err)
			}
			t.Logf("accepted: 250 %s", text)
			m := wantOnlyDelivery(t, sink, id)
			if m.From != tenantSender || len(m.Rcpts) != 1 || m.Rcpts[0] != candidate {
				t.Errorf("sink envelope = %q -> %q, want %q -> [%q]", m.From, m.Rcpts, tenantSender, candidate)
			}
		})
	}
}

func TestPolicyWrongPassword(t *testing.T) {
	t.Parallel()
	sink := newSink(t, nil)
	var certPEM []byte
	r := StartRelay(t, sink.Addr, noNetworks, func(dir string, c *Config) { certPEM = withTLSAuth(t, dir, c) })
	tlsConf := &tls.Config{RootCAs: testlib.CertPool(t, certPEM), ServerName: relayHost}

	_, err := Dial(r.SMTPAddr, SendOptions{StartTLS: tlsConf, User: authUser, Password: "not the password"})
	rep, ok := replyOf(err)
	if !ok || rep.Stage != "auth" || rep.Code != 535 {
		t.Fatalf("AUTH with a wrong password: got %v, want 535 to AUTH", err)
	}
	t.Logf("refused as expected: %v", rep)
}

func TestPolicyUnknownSenderRefused(t *testing.T) {
	t.Parallel()
	sink := newSink(t, nil)
	r := StartRelay(t, sink.Addr)
	const stranger = "someone@stranger.example"
	data, _ := newMessage(stranger, candidate, "not a tenant", "hello")
	_, err := sendMail(r.SMTPAddr, SendOptions{}, stranger, []string{candidate}, data)
	rep := wantReply(t, err, 550, relayDenied, "mail", "rcpt", "dot")
	t.Logf("refused as expected: %v", rep)

	// The relay works for a tenant's sender, and only that message leaves.
	data, id := newMessage(tenantSender, candidate, "tenant", "hello")
	if _, err := sendMail(r.SMTPAddr, SendOptions{}, tenantSender, []string{candidate}, data); err != nil {
		t.Fatalf("tenant sender: %v", err)
	}
	wantOnlyDelivery(t, sink, id)
}

func TestPolicyAllowedNetworkRelays(t *testing.T) {
	t.Parallel()
	sink := newSink(t, nil)
	r := StartRelay(t, sink.Addr, func(_ string, c *Config) {
		c.SMTP.AllowNetworks = []string{"192.0.2.0/24", "127.0.0.1/32"}
	})
	const body = "Thank you for applying."
	data, id := newMessage(tenantSender, candidate, "allowed network", body)
	text, err := sendMail(r.SMTPAddr, SendOptions{}, tenantSender, []string{candidate}, data)
	if err != nil {
		t.Fatalf("send from an allowed network: %v", err)
	}
	if !queuedRE.MatchString(text) {
		t.Errorf("reply to the final dot = 250 %q, want 250 2.0.0 queued as <id>", text)
	}
	m := wantOnlyDelivery(t, sink, id)
	if m.From != tenantSender || len(m.Rcpts) != 1 || m.Rcpts[0] != candidate {
		t.Errorf("sink envelope = %q -> %q, want %q -> [%q]", m.From, m.Rcpts, tenantSender, candidate)
	}
	if !strings.Contains(string(m.Data), body) {
		t.Errorf("delivered message lacks the body %q:\n%s", body, m.Data)
	}
}
