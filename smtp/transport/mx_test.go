package transport_test

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/careerrelay/careerrelay/configs"
	"github.com/careerrelay/careerrelay/internal/testlib"
	"github.com/careerrelay/careerrelay/smtp/queue/queuetest"
	"github.com/careerrelay/careerrelay/smtp/transport/transporttest"
	"github.com/careerrelay/careerrelay/store"
)

// mxEnv is an env in mx mode on a fake DNS and network.
func mxEnv(t *testing.T, dns *transporttest.DNS, n *transporttest.Net, overrides map[string]string) *queuetest.Env {
	return queuetest.New(t, func(c *configs.Config, o *queuetest.Options) {
		c.Delivery.Mode = "mx"
		c.Delivery.MXOverrides = overrides
		o.Transport.Resolver = dns
		o.Transport.Dial = n.Dial
	})
}

// Hosts are tried by preference, lowest first; a host that answers 421,
// defers the recipient or refuses the connection passes the message on to
// the next one.
func TestMXPreferenceAndFallback(t *testing.T) {
	for _, tc := range []struct {
		name  string
		first func(t *testing.T) string // the address behind mx1, "" for connection refused
	}{
		{"421 greeting", func(t *testing.T) string { return testlib.Greeter(t, "421 4.3.2 mx1 busy") }},
		{"450 to RCPT", func(t *testing.T) string {
			return testlib.NewSink(t, &testlib.SinkOptions{RcptReply: func(string) error {
				return testlib.SMTPReply(450, "4.2.1", "try later")
			}}).Addr
		}},
		{"connection refused", func(t *testing.T) string { return "" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			good := testlib.NewSink(t, nil)
			n := &transporttest.Net{Routes: map[string]string{"192.0.2.3:25": good.Addr}}
			if a := tc.first(t); a != "" {
				n.Routes["192.0.2.1:25"] = a
			}
			dns := &transporttest.DNS{
				MX: map[string][]*net.MX{"example.jp": {
					{Host: "mx3.example.jp.", Pref: 30},
					{Host: "mx1.example.jp.", Pref: 10},
					{Host: "mx2.example.jp.", Pref: 20},
				}},
				IP: map[string][]string{
					"mx1.example.jp": {"192.0.2.1"},
					"mx2.example.jp": {"192.0.2.2"}, // nothing listens
					"mx3.example.jp": {"192.0.2.3"},
				},
			}
			e := mxEnv(t, dns, n, nil)
			id := e.Enqueue("hr@acme.example", []string{"taro@example.jp"}, queuetest.Body)
			e.RunDue(1)
			if want := []string{"192.0.2.1:25", "192.0.2.2:25", "192.0.2.3:25"}; !slices.Equal(n.Calls(), want) {
				t.Errorf("dialed %v, want %v", n.Calls(), want)
			}
			if msgs := good.Messages(); len(msgs) != 1 || msgs[0].Helo != "out.relay.test" {
				t.Fatalf("mx3 got %+v, want the message", msgs)
			}
			if m := e.Get(id); m != nil {
				t.Errorf("still queued: %+v", m)
			}
		})
	}
}

// When every host defers, the recipient stays pending with the last answer.
func TestMXAllHostsDefer(t *testing.T) {
	n := &transporttest.Net{Routes: map[string]string{"192.0.2.1:25": testlib.Greeter(t, "421 4.3.2 busy")}}
	dns := &transporttest.DNS{
		MX: map[string][]*net.MX{"example.jp": {{Host: "mx1.example.jp", Pref: 10}, {Host: "mx2.example.jp", Pref: 20}}},
		IP: map[string][]string{"mx1.example.jp": {"192.0.2.1"}, "mx2.example.jp": {"192.0.2.2"}},
	}
	e := mxEnv(t, dns, n, nil)
	id := e.Enqueue("hr@acme.example", []string{"taro@example.jp"}, queuetest.Body)
	e.RunDue(1)
	m := e.Get(id)
	if m == nil || m.Rcpts[0].State != store.Pending || !strings.Contains(m.LastError, "192.0.2.2:25") {
		t.Fatalf("message = %+v, want pending with mx2's connection error", m)
	}
}

// Without MX records the domain's own address is the mail exchanger, asked
// by its absolute name.
func TestMXImplicitAddressFallback(t *testing.T) {
	s := testlib.NewSink(t, nil)
	n := &transporttest.Net{Routes: map[string]string{"192.0.2.9:25": s.Addr}}
	dns := &transporttest.DNS{IP: map[string][]string{"example.jp": {"192.0.2.9"}}}
	e := mxEnv(t, dns, n, nil)
	e.Enqueue("hr@acme.example", []string{"taro@example.jp"}, queuetest.Body)
	e.RunDue(1)
	if len(s.Messages()) != 1 {
		t.Fatalf("sink got %d messages", len(s.Messages()))
	}
	if want := []string{"192.0.2.9:25"}; !slices.Equal(n.Calls(), want) {
		t.Errorf("dialed %v, want %v", n.Calls(), want)
	}
	// The implicit MX is asked by its absolute name, as every MX is.
	if want := []string{"MX example.jp.", "IP example.jp.", "IP example.jp."}; !slices.Equal(dns.Asked(), want) {
		t.Errorf("asked %q, want %q", dns.Asked(), want)
	}
}

// A null MX (RFC 7505) or a domain that does not exist fails the recipient
// at once, without any connection; the DSN goes to the sender's MX.
func TestMXPermanentDNSFailures(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mx     []*net.MX
		status string
	}{
		{"null MX", []*net.MX{{Host: ".", Pref: 0}}, "5.1.10"},
		{"no such domain", nil, "5.1.2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			senderMX := testlib.NewSink(t, nil)
			n := &transporttest.Net{Routes: map[string]string{"192.0.2.5:25": senderMX.Addr}}
			dns := &transporttest.DNS{
				MX: map[string][]*net.MX{"acme.example": {{Host: "mx.acme.example", Pref: 10}}},
				IP: map[string][]string{"mx.acme.example": {"192.0.2.5"}},
			}
			if tc.mx != nil {
				dns.MX["example.jp"] = tc.mx
			}
			e := mxEnv(t, dns, n, nil)
			id := e.Enqueue("hr@acme.example", []string{"taro@example.jp"}, queuetest.Body)
			e.RunDue(2) // the message, then its DSN
			if m := e.Get(id); m != nil {
				t.Fatalf("still queued: %+v", m)
			}
			if want := []string{"192.0.2.5:25"}; !slices.Equal(n.Calls(), want) {
				t.Errorf("dialed %v, want only the sender's MX %v", n.Calls(), want)
			}
			msgs := senderMX.Messages()
			if len(msgs) != 1 || msgs[0].From != "" {
				t.Fatalf("sender's MX got %+v, want one DSN", msgs)
			}
			d := queuetest.ParseDSN(t, msgs[0].Data)
			queuetest.WantContains(t, "delivery-status", d.Status, "Final-Recipient: rfc822; taro@example.jp\r\n", "Status: "+tc.status+"\r\n")
		})
	}
}

// mx_overrides wins over DNS.
func TestMXOverride(t *testing.T) {
	viaDNS := testlib.NewSink(t, nil)
	override := testlib.NewSink(t, nil)
	n := &transporttest.Net{Routes: map[string]string{"192.0.2.1:25": viaDNS.Addr}}
	dns := &transporttest.DNS{
		MX: map[string][]*net.MX{"example.jp": {{Host: "mx1.example.jp", Pref: 10}}},
		IP: map[string][]string{"mx1.example.jp": {"192.0.2.1"}},
	}
	e := mxEnv(t, dns, n, map[string]string{"Example.JP": override.Addr})
	e.Enqueue("hr@acme.example", []string{"taro@EXAMPLE.jp"}, queuetest.Body)
	e.RunDue(1)
	if len(override.Messages()) != 1 || len(viaDNS.Messages()) != 0 {
		t.Fatalf("override got %d, DNS host got %d; want 1 and 0", len(override.Messages()), len(viaDNS.Messages()))
	}
	if len(dns.Asked()) != 0 {
		t.Errorf("DNS asked %v for an overridden domain", dns.Asked())
	}
}

// STARTTLS is used when offered, without verifying the certificate; when
// the handshake fails, the message goes in plain text on a new connection.
// A peer that offers only TLS 1.1 still gets the mail encrypted: refusing
// old TLS would send it in plain text instead.
func TestMXOpportunisticTLS(t *testing.T) {
	_, _, cert := testlib.SelfSignedCert(t, "localhost", "127.0.0.1")
	for _, tc := range []struct {
		name    string
		sink    *testlib.SinkOptions
		wantTLS bool
		dials   int
	}{
		{"self-signed certificate", &testlib.SinkOptions{TLS: true}, true, 1},
		{"broken handshake", &testlib.SinkOptions{TLSConfig: &tls.Config{GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return nil, net.ErrClosed
		}}}, false, 2},
		{"no STARTTLS", nil, false, 1},
		{"TLS 1.1 only", &testlib.SinkOptions{TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert},
			MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}}, true, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := testlib.NewSink(t, tc.sink)
			n := &transporttest.Net{}
			e := mxEnv(t, &transporttest.DNS{}, n, map[string]string{"example.jp": s.Addr})
			id := e.Enqueue("hr@acme.example", []string{"taro@example.jp"}, queuetest.Body)
			e.RunDue(1)
			msgs := s.Messages()
			if len(msgs) != 1 || msgs[0].TLS != tc.wantTLS {
				t.Fatalf("sink got %+v, want one message with TLS=%v (%+v)", msgs, tc.wantTLS, e.Get(id))
			}
			if len(n.Calls()) != tc.dials {
				t.Errorf("dialed %v, want %d connections", n.Calls(), tc.dials)
			}
		})
	}
}

// Recipients are routed per domain within one attempt.
func TestMXSeveralDomains(t *testing.T) {
	a := testlib.NewSink(t, nil)
	b := testlib.NewSink(t, &testlib.SinkOptions{RcptReply: func(string) error { return testlib.SMTPReply(452, "4.2.2", "full") }})
	e := mxEnv(t, &transporttest.DNS{}, &transporttest.Net{}, map[string]string{"a.example": a.Addr, "b.example": b.Addr})
	id := e.Enqueue("hr@acme.example", []string{"x@a.example", "y@b.example", "z@a.example"}, queuetest.Body)
	e.RunDue(1)
	if msgs := a.Messages(); len(msgs) != 1 || strings.Join(msgs[0].Rcpts, ",") != "x@a.example,z@a.example" {
		t.Fatalf("a.example got %+v", msgs)
	}
	m := e.Get(id)
	if m == nil || m.PendingRcpts()[0] != "y@b.example" || len(m.PendingRcpts()) != 1 {
		t.Fatalf("message = %+v, want y@b.example pending", m)
	}
}

// Each failed try of an MX address writes one log line naming the MX, its
// address and the failure (a reply only as its code and enhanced status),
// with no recipient's local part; a successful try writes none.
func TestMXLogsEachFailedTry(t *testing.T) {
	busy := testlib.NewSink(t, &testlib.SinkOptions{RcptReply: func(to string) error {
		return testlib.SMTPReply(450, "4.2.1", "<"+to+">: mailbox busy, try later")
	}})
	good := testlib.NewSink(t, nil)
	n := &transporttest.Net{Routes: map[string]string{"192.0.2.1:25": busy.Addr, "192.0.2.3:25": good.Addr}}
	dns := &transporttest.DNS{
		MX: map[string][]*net.MX{"example.jp": {
			{Host: "mx0.example.jp.", Pref: 5}, // no address record
			{Host: "mx1.example.jp.", Pref: 10},
			{Host: "mx2.example.jp.", Pref: 20},
			{Host: "mx3.example.jp.", Pref: 30},
		}},
		IP: map[string][]string{
			"mx1.example.jp": {"192.0.2.1"},
			"mx2.example.jp": {"192.0.2.2"}, // nothing listens
			"mx3.example.jp": {"192.0.2.3"},
		},
	}
	var buf bytes.Buffer
	var mu sync.Mutex
	e := queuetest.New(t, func(c *configs.Config, o *queuetest.Options) {
		c.Delivery.Mode = "mx"
		o.Transport.Resolver = dns
		o.Transport.Dial = n.Dial
		o.Transport.Log = slog.New(slog.NewTextHandler(&lockedWriter{mu: &mu, w: &buf}, nil))
	})
	e.Enqueue("hr@acme.example", []string{"taro@example.jp", "hanako@example.jp"}, queuetest.Body)
	e.RunDue(1)
	if len(good.Messages()) != 1 {
		t.Fatalf("mx3 got %d messages, want 1", len(good.Messages()))
	}
	mu.Lock()
	out := buf.String()
	mu.Unlock()
	if strings.Contains(out, "taro") || strings.Contains(out, "hanako") {
		t.Errorf("log shows a local part:\n%s", out)
	}
	var failed []string
	for line := range strings.Lines(out) {
		if strings.Contains(line, "msg=\"mail exchanger") {
			failed = append(failed, line)
		}
	}
	want := [][]string{
		{`msg="mail exchanger not tried: no address"`, "domain=example.jp", "mx=mx0.example.jp", "rcpts=2", "err="},
		{`msg="mail exchanger try failed"`, "mx=mx1.example.jp", "mx_addr=192.0.2.1:25", "deferred=2", "reply_code=450", "status=4.2.1"},
		{`msg="mail exchanger try failed"`, "mx=mx2.example.jp", "mx_addr=192.0.2.2:25", "deferred=2", "err="},
	}
	if len(failed) != len(want) {
		t.Fatalf("%d failed-try lines, want %d:\n%s", len(failed), len(want), out)
	}
	for i, parts := range want {
		for _, p := range parts {
			if !strings.Contains(failed[i], p) {
				t.Errorf("line %d %q lacks %q", i, failed[i], p)
			}
		}
	}
}

// lockedWriter serialises writes to w, for a log buffer written by the
// engine's workers and read by the test.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// An MX without ESMTP answers our one EHLO with 502; the session goes on
// with HELO, and the EHLO is not said a second time.
func TestMXNoESMTPOneEHLO(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	var mu sync.Mutex
	var cmds []string
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		r := bufio.NewReader(c)
		io.WriteString(c, "220 old.example.jp\r\n")
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			verb := strings.ToUpper(strings.Fields(line + " x")[0])
			mu.Lock()
			cmds = append(cmds, verb)
			mu.Unlock()
			switch verb {
			case "EHLO":
				io.WriteString(c, "502 5.5.1 no ESMTP here\r\n")
			case "DATA":
				io.WriteString(c, "354 go on\r\n")
				for {
					l, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if l == ".\r\n" {
						break
					}
				}
				io.WriteString(c, "250 queued\r\n")
			case "QUIT":
				io.WriteString(c, "221 bye\r\n")
				return
			default:
				io.WriteString(c, "250 ok\r\n")
			}
		}
	}()
	e := mxEnv(t, &transporttest.DNS{}, &transporttest.Net{}, map[string]string{"example.jp": l.Addr().String()})
	id := e.Enqueue("hr@acme.example", []string{"taro@example.jp"}, queuetest.Body)
	e.RunDue(1)
	if m := e.Get(id); m != nil {
		t.Fatalf("still queued: %+v", m)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"EHLO", "HELO", "MAIL", "RCPT", "DATA"}; !slices.Equal(cmds, want) {
		t.Errorf("commands %q, want %q", cmds, want)
	}
}
