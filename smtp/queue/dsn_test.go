package queue

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message"

	"github.com/careerrelay/careerrelay/configs"
	"github.com/careerrelay/careerrelay/internal/testlib"
	"github.com/careerrelay/careerrelay/smtp/transport"
	"github.com/careerrelay/careerrelay/store"
)

// parsedDSN is a DSN as a mail client sees it.
type parsedDSN struct {
	header  message.Header
	parts   []string // content types, in order
	text    string   // the text/plain part, decoded
	status  string   // the message/delivery-status part
	headers string   // the text/rfc822-headers part
}

func parseDSN(t *testing.T, raw []byte) parsedDSN {
	t.Helper()
	ent, err := message.Read(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("DSN does not parse: %v\n%s", err, raw)
	}
	var d parsedDSN
	d.header = ent.Header
	ct, params, err := ent.Header.ContentType()
	if err != nil || ct != "multipart/report" || params["report-type"] != "delivery-status" {
		t.Fatalf("DSN Content-Type = %q %v (%v), want multipart/report; report-type=delivery-status", ct, params, err)
	}
	mr := ent.MultipartReader()
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("DSN part: %v", err)
		}
		pct, _, _ := p.Header.ContentType()
		b, err := io.ReadAll(p.Body)
		if err != nil {
			t.Fatal(err)
		}
		d.parts = append(d.parts, pct)
		switch pct {
		case "text/plain":
			d.text = string(b)
		case "message/delivery-status":
			d.status = string(b)
		case "text/rfc822-headers":
			d.headers = string(b)
		}
	}
	if got := strings.Join(d.parts, ","); got != "text/plain,message/delivery-status,text/rfc822-headers" {
		t.Errorf("DSN parts = %s", got)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if !strings.HasSuffix(line, "\r") && line != "" {
			t.Errorf("DSN line without CRLF: %q", line)
			break
		}
	}
	return d
}

func wantContains(t *testing.T, what, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			t.Errorf("%s lacks %q:\n%s", what, sub, s)
		}
	}
}

// A 5xx bounces: the recipient fails, and a DSN from <> goes to the
// envelope sender through the queue.
func TestBounceSendsDSN(t *testing.T) {
	s := testlib.NewSink(t, &testlib.SinkOptions{RcptReply: func(to string) error {
		if to == "gone@example.jp" {
			return testlib.SMTPReply(550, "5.1.1", "<gone@example.jp>: no such user")
		}
		return nil
	}})
	e := newEnv(t, func(c *configs.Config, _ *Options) {
		c.Delivery.Relay = configs.Relay{Address: s.Addr, TLS: "none"}
	})
	bounced := counter("bounced")
	id := e.enqueue("hr@acme.example", []string{"gone@example.jp"}, testBody)
	e.runDue(2)
	if m := e.get(id); m != nil {
		t.Errorf("bounced message still queued: %+v", m)
	}
	if len(e.queued()) != 0 {
		t.Errorf("queue not empty: %+v", e.queued())
	}
	if d := counter("bounced") - bounced; d != 1 {
		t.Errorf("bounced counter moved by %v, want 1", d)
	}
	msgs := s.Messages()
	if len(msgs) != 1 {
		t.Fatalf("sink got %d messages, want the DSN only", len(msgs))
	}
	if msgs[0].From != "" || strings.Join(msgs[0].Rcpts, ",") != "hr@acme.example" {
		t.Fatalf("DSN envelope %q -> %q, want <> -> hr@acme.example", msgs[0].From, msgs[0].Rcpts)
	}
	d := parseDSN(t, msgs[0].Data)
	if from := d.header.Get("From"); !strings.Contains(from, "MAILER-DAEMON@relay.test") {
		t.Errorf("DSN From = %q", from)
	}
	if irt := d.header.Get("In-Reply-To"); irt != "<orig@acme.example>" {
		t.Errorf("DSN In-Reply-To = %q", irt)
	}
	wantContains(t, "delivery-status", d.status,
		"Reporting-MTA: dns; relay.test\r\n",
		"Arrival-Date: "+t0.Format(mailDate)+"\r\n",
		"Final-Recipient: rfc822; gone@example.jp\r\n",
		"Action: failed\r\n",
		"Status: 5.1.1\r\n",
		"Remote-MTA: dns; 127.0.0.1\r\n",
		"Diagnostic-Code: smtp; 550 5.1.1 <gone@example.jp>: no such user\r\n")
	wantContains(t, "text part", d.text, "gone@example.jp", "550 5.1.1")
	wantContains(t, "headers part", d.headers, "Subject: =?UTF-8?B?6YG46ICD57WQ5p6c?=\r\n", "Message-ID: <orig@acme.example>")
	if strings.Contains(d.headers, "山田様") {
		t.Error("the headers part carries the original body")
	}
}

// Past the lifetime, a 4xx is final: the recipient fails with 4.4.7 and a
// DSN is sent.
func TestExpiredMessageBounces(t *testing.T) {
	s := testlib.NewSink(t, &testlib.SinkOptions{RcptReply: func(to string) error {
		if to == "slow@example.jp" {
			return testlib.SMTPReply(451, "4.7.1", "greylisted")
		}
		return nil
	}})
	e := newEnv(t, func(c *configs.Config, _ *Options) {
		c.Delivery.Relay = configs.Relay{Address: s.Addr, TLS: "none"}
		c.Delivery.Lifetime = time.Hour
		c.Delivery.RetrySchedule = []time.Duration{40 * time.Minute}
	})
	id := e.enqueue("hr@acme.example", []string{"slow@example.jp"}, testBody)
	e.runDue(1)
	if m := e.get(id); m == nil || m.Rcpts[0].State != store.Pending {
		t.Fatalf("after the first 451: %+v, want pending", m)
	}
	e.clock.Advance(40 * time.Minute)
	e.runDue(1)
	if m := e.get(id); m == nil {
		t.Fatal("gone before its lifetime")
	}
	e.clock.Advance(40 * time.Minute) // 80 minutes after arrival
	e.runDue(2)                       // the last try, then the DSN
	if m := e.get(id); m != nil {
		t.Fatalf("expired message still queued: %+v", m)
	}
	msgs := s.Messages()
	if len(msgs) != 1 || msgs[0].From != "" {
		t.Fatalf("sink got %+v, want one DSN", msgs)
	}
	d := parseDSN(t, msgs[0].Data)
	wantContains(t, "delivery-status", d.status,
		"Final-Recipient: rfc822; slow@example.jp\r\n",
		"Action: failed\r\n",
		"Status: 4.4.7\r\n",
		"Diagnostic-Code: smtp; 451 4.7.1 greylisted\r\n")
	wantContains(t, "text part", d.text, "within 1h0m0s", "451 4.7.1 greylisted")
}

// A DSN that fails is dropped: no DSN is ever sent to <>.
func TestNoDSNToNullSender(t *testing.T) {
	for _, tc := range []struct {
		name string
		dsn  bool
	}{{"dsn", true}, {"null sender", false}} {
		t.Run(tc.name, func(t *testing.T) {
			s := testlib.NewSink(t, &testlib.SinkOptions{RcptReply: func(string) error {
				return testlib.SMTPReply(550, "5.1.1", "no such user")
			}})
			e := newEnv(t, func(c *configs.Config, _ *Options) {
				c.Delivery.Relay = configs.Relay{Address: s.Addr, TLS: "none"}
			})
			m := e.message("", []string{"gone@acme.example"})
			m.DSN = tc.dsn
			e.put(m, testBody)
			e.eng.Notify(m.ID)
			e.runDue(1)
			if q := e.queued(); len(q) != 0 {
				t.Fatalf("queue holds %+v, want nothing (no DSN of a DSN)", q)
			}
			if len(s.Messages()) != 0 {
				t.Fatalf("sink got %+v", s.Messages())
			}
		})
	}
}

func TestComposeDSN(t *testing.T) {
	orig := &store.Message{ID: "q1", From: "hr@acme.example", MessageID: "orig@acme.example", Received: t0}
	body := []byte("Subject: hello\nFrom: hr@acme.example\n\nbody\n")
	d := &dsn{
		reportingMTA: "relay.test", orig: orig, origHeader: body, now: t0.Add(time.Hour), lifetime: time.Hour,
		failed: []transport.Result{
			{Addr: "a@example.jp", Outcome: transport.Bounced, Status: "5.1.10", Detail: "example.jp does not accept mail (null MX)"},
			{Addr: "b@example.jp", Outcome: transport.Bounced, Status: "5.7.1", Reply: "554 5.7.1 " + strings.Repeat("x", 2000), Remote: "mx.example.jp"},
		},
	}
	raw, err := d.compose("<id@relay.test>")
	if err != nil {
		t.Fatal(err)
	}
	p := parseDSN(t, raw)
	wantContains(t, "delivery-status", p.status,
		"Final-Recipient: rfc822; a@example.jp\r\nAction: failed\r\nStatus: 5.1.10\r\n",
		"Diagnostic-Code: X-CareerRelay; example.jp does not accept mail (null MX)\r\n",
		"Final-Recipient: rfc822; b@example.jp\r\nAction: failed\r\nStatus: 5.7.1\r\nRemote-MTA: dns; mx.example.jp\r\n")
	wantContains(t, "headers part", p.headers, "Subject: hello\r\nFrom: hr@acme.example\r\n")
	wantContains(t, "text part", p.text, "メッセージを次の宛先に配信できませんでした")
	if irt := p.header.Get("In-Reply-To"); irt != "<orig@acme.example>" {
		t.Errorf("In-Reply-To = %q", irt)
	}
	for _, line := range strings.Split(string(raw), "\r\n") {
		if len(line) > 998 {
			t.Errorf("line of %d octets", len(line))
		}
	}
}
