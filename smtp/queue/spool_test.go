package queue_test

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/careerrelay/careerrelay/configs"
	"github.com/careerrelay/careerrelay/internal/testlib"
	"github.com/careerrelay/careerrelay/smtp/queue/queuetest"
	"github.com/careerrelay/careerrelay/smtp/transport/transporttest"
	"github.com/careerrelay/careerrelay/store"
)

// Large bodies are spool files: the transports stream them from the file
// (Body.Open per session) and the file goes with the message.

// spooledBody is a message of about n octets with CRLF line ends, lines
// that need dot-stuffing, and non-ASCII text.
func spooledBody(n int) []byte {
	var b bytes.Buffer
	b.WriteString("From: HR <hr@acme.example>\r\n" +
		"To: Taro <taro@example.jp>\r\n" +
		"Subject: =?UTF-8?B?5aSn44GN44Gq5re75LuY?=\r\n" +
		"Message-ID: <big@acme.example>\r\n" +
		"X-Long: " + strings.Repeat("h", 200) + "\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n" +
		"\r\n")
	for i := 0; b.Len() < n; i++ {
		switch i % 50 {
		case 7:
			b.WriteString(".a line that starts with a dot\r\n")
		case 8:
			b.WriteString(".\r\n")
		default:
			fmt.Fprintf(&b, "%07d 山田様 the quick brown fox jumps over the lazy dog 0123456789\r\n", i)
		}
	}
	return b.Bytes()
}

func gone(t *testing.T, path string) bool {
	t.Helper()
	_, err := os.Stat(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return err != nil
}

func TestRelaySpooledBody(t *testing.T) {
	s := testlib.NewSink(t, nil)
	e := queuetest.New(t, func(c *configs.Config, _ *queuetest.Options) {
		c.Delivery.Relay = configs.Relay{Address: s.Addr, TLS: "none"}
	})
	body := spooledBody(3 << 20)
	m, path := e.EnqueueSpooled("hr@acme.example", []string{"taro@example.jp", "hanako@example.jp"}, body)
	e.RunDue(1)

	msgs := s.Messages()
	if len(msgs) != 1 {
		t.Fatalf("sink got %d messages, want 1", len(msgs))
	}
	if !bytes.Equal(msgs[0].Data, body) {
		t.Errorf("body changed in transit: got %d octets, want %d", len(msgs[0].Data), len(body))
	}
	if got := strings.Join(msgs[0].Rcpts, ","); got != "taro@example.jp,hanako@example.jp" {
		t.Errorf("rcpts %s", got)
	}
	if e.Get(m.ID) != nil {
		t.Error("message still queued after delivery")
	}
	if !gone(t, path) {
		t.Error("spool file still there after delivery")
	}
}

// mx mode may try several hosts in one attempt: each session sends the
// body from its first octet.
func TestMXSpooledBodyAfterDeferral(t *testing.T) {
	busy := testlib.NewSink(t, &testlib.SinkOptions{Reply: func(*testlib.SinkMessage) error {
		return testlib.SMTPReply(451, "4.3.0", "try later")
	}})
	good := testlib.NewSink(t, nil)
	n := &transporttest.Net{Routes: map[string]string{"192.0.2.1:25": busy.Addr, "192.0.2.2:25": good.Addr}}
	dns := &transporttest.DNS{
		MX: map[string][]*net.MX{"example.jp": {{Host: "mx1.example.jp.", Pref: 10}, {Host: "mx2.example.jp.", Pref: 20}}},
		IP: map[string][]string{"mx1.example.jp": {"192.0.2.1"}, "mx2.example.jp": {"192.0.2.2"}},
	}
	e := queuetest.New(t, func(c *configs.Config, o *queuetest.Options) {
		c.Delivery.Mode = "mx"
		o.Transport.Resolver = dns
		o.Transport.Dial = n.Dial
	})
	body := spooledBody(1 << 20)
	m, path := e.EnqueueSpooled("hr@acme.example", []string{"taro@example.jp"}, body)
	e.RunDue(1)
	if busy.Attempts() != 1 {
		t.Errorf("mx1 saw %d attempts, want 1", busy.Attempts())
	}
	msgs := good.Messages()
	if len(msgs) != 1 || !bytes.Equal(msgs[0].Data, body) {
		t.Fatalf("mx2 got %d messages, want the body byte for byte", len(msgs))
	}
	if e.Get(m.ID) != nil || !gone(t, path) {
		t.Error("message or spool file still there after delivery")
	}
}

// The DSN of a spooled message returns the original's header section,
// read from the file, and the file goes with the bounced message.
func TestDSNForSpooledMessage(t *testing.T) {
	s := testlib.NewSink(t, &testlib.SinkOptions{RcptReply: func(to string) error {
		if to == "gone@example.jp" {
			return testlib.SMTPReply(550, "5.1.1", "no such user")
		}
		return nil
	}})
	e := queuetest.New(t, func(c *configs.Config, _ *queuetest.Options) {
		c.Delivery.Relay = configs.Relay{Address: s.Addr, TLS: "none"}
	})
	body := spooledBody(2 << 20)
	m, path := e.EnqueueSpooled("hr@acme.example", []string{"gone@example.jp"}, body)
	e.RunDue(2)

	msgs := s.Messages()
	if len(msgs) != 1 || msgs[0].From != "" {
		t.Fatalf("sink got %d messages, want the DSN only", len(msgs))
	}
	if len(msgs[0].Data) > 64<<10 {
		t.Errorf("DSN of %d octets: it carries more than the header", len(msgs[0].Data))
	}
	d := queuetest.ParseDSN(t, msgs[0].Data)
	queuetest.WantContains(t, "delivery-status", d.Status, "Final-Recipient: rfc822; gone@example.jp\r\n", "Status: 5.1.1\r\n")
	queuetest.WantContains(t, "headers part", d.Headers,
		"From: HR <hr@acme.example>\r\n",
		"Subject: =?UTF-8?B?5aSn44GN44Gq5re75LuY?=\r\n",
		"Message-ID: <big@acme.example>\r\n",
		"X-Long: "+strings.Repeat("h", 200)+"\r\n",
		"Content-Type: text/plain; charset=utf-8\r\n")
	if strings.Contains(d.Headers, "山田様") || strings.Contains(d.Headers, "quick brown fox") {
		t.Error("the headers part carries the original body")
	}
	if e.Get(m.ID) != nil || !gone(t, path) {
		t.Error("bounced message or its spool file still there")
	}
	if q := e.Queued(); len(q) != 0 {
		t.Errorf("queue holds %d messages, want none", len(q))
	}
}

// A spool file that has gone cannot be delivered, ever: the recipients
// fail at once and the sender gets a DSN (without the headers).
func TestMissingSpoolFileBounces(t *testing.T) {
	s := testlib.NewSink(t, nil)
	e := queuetest.New(t, func(c *configs.Config, _ *queuetest.Options) {
		c.Delivery.Relay = configs.Relay{Address: s.Addr, TLS: "none"}
	})
	m, path := e.EnqueueSpooled("hr@acme.example", []string{"taro@example.jp"}, spooledBody(300<<10))
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	e.RunDue(2)
	msgs := s.Messages()
	if len(msgs) != 1 || msgs[0].From != "" || strings.Join(msgs[0].Rcpts, ",") != "hr@acme.example" {
		t.Fatalf("sink got %+v, want only a DSN to hr@acme.example", msgs)
	}
	d := queuetest.ParseDSN(t, msgs[0].Data)
	queuetest.WantContains(t, "delivery-status", d.Status, "Final-Recipient: rfc822; taro@example.jp\r\n", "Status: 5.3.0\r\n", "spool file gone")
	if e.Get(m.ID) != nil {
		t.Error("message still queued")
	}
}

// A body that reads short (a damaged spool file) is never sent as it is:
// the session is dropped before the end of DATA, so the peer discards the
// transaction, and the recipient is deferred.
func TestTruncatedSpoolFileIsNotSent(t *testing.T) {
	s := testlib.NewSink(t, nil)
	e := queuetest.New(t, func(c *configs.Config, _ *queuetest.Options) {
		c.Delivery.Relay = configs.Relay{Address: s.Addr, TLS: "none"}
	})
	body := spooledBody(500 << 10)
	m, path := e.EnqueueSpooled("hr@acme.example", []string{"taro@example.jp"}, body)
	if err := os.Truncate(path, int64(len(body)/2)); err != nil {
		t.Fatal(err)
	}
	e.RunDue(1)
	if n := s.Count(); n != 0 {
		t.Fatalf("sink recorded %d messages from a truncated body", n)
	}
	cur := e.Get(m.ID)
	if cur == nil || cur.Rcpts[0].State != store.Pending || !strings.Contains(cur.LastError, "read queued body") {
		t.Fatalf("message = %+v, want pending with a read error", cur)
	}
	if gone(t, path) {
		t.Error("spool file of a queued message removed")
	}
}

// Capture mode (development) reads a spooled body whole and writes it as
// it does an inline one.
func TestCaptureSpooledBody(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "capture", "out")
	e := queuetest.New(t, func(c *configs.Config, _ *queuetest.Options) {
		c.Delivery.Mode = "capture"
		c.Delivery.CaptureDir = dir
	})
	body := spooledBody(400 << 10)
	m, path := e.EnqueueSpooled("hr@acme.example", []string{"taro@example.jp"}, body)
	e.RunDue(1)
	got, err := os.ReadFile(filepath.Join(dir, m.ID+"-1.eml"))
	if err != nil {
		t.Fatal(err)
	}
	want := "Return-Path: <hr@acme.example>\r\nDelivered-To: taro@example.jp\r\n" + string(body)
	if string(got) != want {
		t.Errorf("captured %d octets, want %d", len(got), len(want))
	}
	if e.Get(m.ID) != nil || !gone(t, path) {
		t.Error("message or spool file still there")
	}
}
