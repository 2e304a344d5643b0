package queue_test

import (
	"strings"
	"testing"
	"time"

	"github.com/careerrelay/careerrelay/configs"
	"github.com/careerrelay/careerrelay/internal/testlib"
	"github.com/careerrelay/careerrelay/smtp/queue"
	"github.com/careerrelay/careerrelay/smtp/queue/queuetest"
	"github.com/careerrelay/careerrelay/smtp/transport"
	"github.com/careerrelay/careerrelay/store"
)

// A 5xx bounces: the recipient fails, and a DSN from <> goes to the
// envelope sender through the queue.
func TestBounceSendsDSN(t *testing.T) {
	s := testlib.NewSink(t, &testlib.SinkOptions{RcptReply: func(to string) error {
		if to == "gone@example.jp" {
			return testlib.SMTPReply(550, "5.1.1", "<gone@example.jp>: no such user")
		}
		return nil
	}})
	e := queuetest.New(t, func(c *configs.Config, _ *queuetest.Options) {
		c.Delivery.Relay = configs.Relay{Address: s.Addr, TLS: "none"}
	})
	bounced := queuetest.Attempts("bounced")
	id := e.Enqueue("hr@acme.example", []string{"gone@example.jp"}, queuetest.Body)
	e.RunDue(2)
	if m := e.Get(id); m != nil {
		t.Errorf("bounced message still queued: %+v", m)
	}
	if len(e.Queued()) != 0 {
		t.Errorf("queue not empty: %+v", e.Queued())
	}
	if d := queuetest.Attempts("bounced") - bounced; d != 1 {
		t.Errorf("bounced counter moved by %v, want 1", d)
	}
	msgs := s.Messages()
	if len(msgs) != 1 {
		t.Fatalf("sink got %d messages, want the DSN only", len(msgs))
	}
	if msgs[0].From != "" || strings.Join(msgs[0].Rcpts, ",") != "hr@acme.example" {
		t.Fatalf("DSN envelope %q -> %q, want <> -> hr@acme.example", msgs[0].From, msgs[0].Rcpts)
	}
	d := queuetest.ParseDSN(t, msgs[0].Data)
	if from := d.Header.Get("From"); !strings.Contains(from, "MAILER-DAEMON@relay.test") {
		t.Errorf("DSN From = %q", from)
	}
	if irt := d.Header.Get("In-Reply-To"); irt != "<orig@acme.example>" {
		t.Errorf("DSN In-Reply-To = %q", irt)
	}
	queuetest.WantContains(t, "delivery-status", d.Status,
		"Reporting-MTA: dns; relay.test\r\n",
		"Arrival-Date: "+queuetest.T0.Format(queue.MailDate)+"\r\n",
		"Final-Recipient: rfc822; gone@example.jp\r\n",
		"Action: failed\r\n",
		"Status: 5.1.1\r\n",
		"Remote-MTA: dns; 127.0.0.1\r\n",
		"Diagnostic-Code: smtp; 550 5.1.1 <gone@example.jp>: no such user\r\n")
	queuetest.WantContains(t, "text part", d.Text, "gone@example.jp", "550 5.1.1")
	queuetest.WantContains(t, "headers part", d.Headers, "Subject: =?UTF-8?B?6YG46ICD57WQ5p6c?=\r\n", "Message-ID: <orig@acme.example>")
	if strings.Contains(d.Headers, "山田様") {
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
	e := queuetest.New(t, func(c *configs.Config, _ *queuetest.Options) {
		c.Delivery.Relay = configs.Relay{Address: s.Addr, TLS: "none"}
		c.Delivery.Lifetime = time.Hour
		c.Delivery.RetrySchedule = []time.Duration{40 * time.Minute}
	})
	id := e.Enqueue("hr@acme.example", []string{"slow@example.jp"}, queuetest.Body)
	e.RunDue(1)
	if m := e.Get(id); m == nil || m.Rcpts[0].State != store.Pending {
		t.Fatalf("after the first 451: %+v, want pending", m)
	}
	e.Clock.Advance(40 * time.Minute)
	e.RunDue(1)
	if m := e.Get(id); m == nil {
		t.Fatal("gone before its lifetime")
	}
	e.Clock.Advance(40 * time.Minute) // 80 minutes after arrival
	e.RunDue(2)                       // the last try, then the DSN
	if m := e.Get(id); m != nil {
		t.Fatalf("expired message still queued: %+v", m)
	}
	msgs := s.Messages()
	if len(msgs) != 1 || msgs[0].From != "" {
		t.Fatalf("sink got %+v, want one DSN", msgs)
	}
	d := queuetest.ParseDSN(t, msgs[0].Data)
	queuetest.WantContains(t, "delivery-status", d.Status,
		"Final-Recipient: rfc822; slow@example.jp\r\n",
		"Action: failed\r\n",
		"Status: 4.4.7\r\n",
		"Diagnostic-Code: smtp; 451 4.7.1 greylisted\r\n")
	queuetest.WantContains(t, "text part", d.Text, "within 1h0m0s", "451 4.7.1 greylisted")
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
			e := queuetest.New(t, func(c *configs.Config, _ *queuetest.Options) {
				c.Delivery.Relay = configs.Relay{Address: s.Addr, TLS: "none"}
			})
			m := e.Message("", []string{"gone@acme.example"})
			m.DSN = tc.dsn
			e.Put(m, queuetest.Body)
			e.Eng.Notify(m.ID)
			e.RunDue(1)
			if q := e.Queued(); len(q) != 0 {
				t.Fatalf("queue holds %+v, want nothing (no DSN of a DSN)", q)
			}
			if len(s.Messages()) != 0 {
				t.Fatalf("sink got %+v", s.Messages())
			}
		})
	}
}

func TestComposeDSN(t *testing.T) {
	orig := &store.Message{ID: "q1", From: "hr@acme.example", MessageID: "orig@acme.example", Received: queuetest.T0}
	body := []byte("Subject: hello\nFrom: hr@acme.example\n\nbody\n")
	d := queue.DSN{
		ReportingMTA: "relay.test", Orig: orig, OrigHeader: body, Now: queuetest.T0.Add(time.Hour), Lifetime: time.Hour,
		Failed: []transport.Result{
			{Addr: "a@example.jp", Outcome: transport.Bounced, Status: "5.1.10", Detail: "example.jp does not accept mail (null MX)"},
			{Addr: "b@example.jp", Outcome: transport.Bounced, Status: "5.7.1", Reply: "554 5.7.1 " + strings.Repeat("x", 2000), Remote: "mx.example.jp"},
		},
	}
	raw, err := d.Compose("<id@relay.test>")
	if err != nil {
		t.Fatal(err)
	}
	p := queuetest.ParseDSN(t, raw)
	queuetest.WantContains(t, "delivery-status", p.Status,
		"Final-Recipient: rfc822; a@example.jp\r\nAction: failed\r\nStatus: 5.1.10\r\n",
		"Diagnostic-Code: X-CareerRelay; example.jp does not accept mail (null MX)\r\n",
		"Final-Recipient: rfc822; b@example.jp\r\nAction: failed\r\nStatus: 5.7.1\r\nRemote-MTA: dns; mx.example.jp\r\n")
	queuetest.WantContains(t, "headers part", p.Headers, "Subject: hello\r\nFrom: hr@acme.example\r\n")
	queuetest.WantContains(t, "text part", p.Text, "メッセージを次の宛先に配信できませんでした")
	if irt := p.Header.Get("In-Reply-To"); irt != "<orig@acme.example>" {
		t.Errorf("In-Reply-To = %q", irt)
	}
	for _, line := range strings.Split(string(raw), "\r\n") {
		if len(line) > 998 {
			t.Errorf("line of %d octets", len(line))
		}
	}
}

// A DSN about internationalised mail (RFC 6533) says so in its report
// type and its report's content type, and names a non-ASCII recipient
// with the utf-8 address type (as unitext: "+" escaped); an ASCII one
// stays rfc822. Mail that is ASCII throughout keeps the RFC 3464 form.
func TestComposeDSNGlobal(t *testing.T) {
	for _, tc := range []struct {
		name   string
		from   string
		rcpt   string
		header string
		global bool
		want   []string // in the report
	}{
		{name: "ascii", from: "hr@acme.example", rcpt: "b@example.jp", header: "Subject: =?UTF-8?B?5piO?=\n",
			want: []string{"Final-Recipient: rfc822; b@example.jp\r\n"}},
		{name: "utf-8 recipient", from: "hr@acme.example", rcpt: "山田+jobs@例え.jp", header: "Subject: hello\n", global: true,
			want: []string{"Final-Recipient: utf-8; 山田\\x{2B}jobs@例え.jp\r\n", "Final-Recipient: rfc822; a@example.jp\r\n"}},
		{name: "utf-8 sender", from: "人事@acme.example", rcpt: "b@example.jp", header: "Subject: hello\n", global: true,
			want: []string{"Final-Recipient: rfc822; b@example.jp\r\n"}},
		{name: "utf-8 header", from: "hr@acme.example", rcpt: "b@example.jp", header: "Subject: 選考結果\n", global: true,
			want: []string{"Final-Recipient: rfc822; b@example.jp\r\n"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			orig := &store.Message{ID: "q1", From: tc.from, MessageID: "orig@acme.example", Received: queuetest.T0}
			d := queue.DSN{
				ReportingMTA: "relay.test", Orig: orig, OrigHeader: []byte(tc.header + "\nbody\n"),
				Now: queuetest.T0.Add(time.Hour), Lifetime: time.Hour,
				Failed: []transport.Result{
					{Addr: tc.rcpt, Outcome: transport.Bounced, Status: "5.1.1", Reply: "550 5.1.1 unknown", Remote: "mx.example.jp"},
					{Addr: "a@example.jp", Outcome: transport.Bounced, Status: "5.1.1", Reply: "550 5.1.1 unknown", Remote: "mx.example.jp"},
				},
			}
			raw, err := d.Compose("<id@relay.test>")
			if err != nil {
				t.Fatal(err)
			}
			p := queuetest.ParseDSN(t, raw)
			if p.Global != tc.global {
				t.Errorf("global = %v, want %v (parts %v)", p.Global, tc.global, p.Parts)
			}
			queuetest.WantContains(t, "report", p.Status, tc.want...)
			queuetest.WantContains(t, "headers part", p.Headers, strings.TrimSuffix(tc.header, "\n")+"\r\n")
		})
	}
}
