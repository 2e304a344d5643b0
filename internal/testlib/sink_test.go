package testlib

import (
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"
)

func testMessage(id string) string {
	return "From: a@example.jp\r\nTo: b@example.net\r\nSubject: test\r\n" +
		"Message-ID: <" + id + ">\r\n\r\nbody of " + id + "\r\n"
}

func send(addr, from string, rcpts []string, data string) error {
	c, err := gosmtp.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.SendMail(from, rcpts, strings.NewReader(data)); err != nil {
		return err
	}
	return c.Quit()
}

func TestSinkRecords(t *testing.T) {
	s := NewSink(t, nil)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			id := fmt.Sprintf("m%d@test", i%4) // each id sent twice
			if err := send(s.Addr, "a@example.jp", []string{"b@example.net", "c@example.net"}, testMessage(id)); err != nil {
				t.Errorf("send %s: %v", id, err)
			}
		})
	}
	wg.Wait()
	msgs := s.WaitForCount(t, 8, 5*time.Second)
	m := msgs[0]
	if m.From != "a@example.jp" || len(m.Rcpts) != 2 || m.Rcpts[1] != "c@example.net" {
		t.Errorf("envelope = %q %q", m.From, m.Rcpts)
	}
	if !strings.HasPrefix(m.MessageID, "m") || !strings.HasSuffix(m.MessageID, "@test") {
		t.Errorf("MessageID = %q", m.MessageID)
	}
	if want := testMessage(m.MessageID); string(m.Data) != want {
		t.Errorf("Data = %q, want %q", m.Data, want)
	}
	by := s.ByMessageID()
	if len(by) != 4 {
		t.Errorf("ByMessageID has %d ids, want 4: %v", len(by), by)
	}
	for id, n := range by {
		if n != 2 {
			t.Errorf("ByMessageID[%q] = %d, want 2", id, n)
		}
	}
	if s.Attempts() != 8 || s.Count() != 8 {
		t.Errorf("Attempts, Count = %d, %d, want 8, 8", s.Attempts(), s.Count())
	}
}

func TestSinkReply(t *testing.T) {
	deferred := &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 3, 0}, Message: "try later"}
	s := NewSink(t, &SinkOptions{Reply: func(m *SinkMessage) error {
		if m.MessageID == "bad@test" {
			return deferred
		}
		return nil
	}})
	err := send(s.Addr, "a@example.jp", []string{"b@example.net"}, testMessage("bad@test"))
	var se *gosmtp.SMTPError
	if !errors.As(err, &se) || se.Code != 451 || se.EnhancedCode != (gosmtp.EnhancedCode{4, 3, 0}) {
		t.Fatalf("send = %v, want the programmed 451 4.3.0", err)
	}
	if err := send(s.Addr, "a@example.jp", []string{"b@example.net"}, testMessage("good@test")); err != nil {
		t.Fatalf("send: %v", err)
	}
	s.SetReply(func(*SinkMessage) error {
		return &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	})
	err = send(s.Addr, "a@example.jp", []string{"b@example.net"}, testMessage("good2@test"))
	if !errors.As(err, &se) || se.Code != 550 {
		t.Fatalf("send = %v, want 550", err)
	}
	if got := s.ByMessageID(); len(got) != 1 || got["good@test"] != 1 {
		t.Errorf("ByMessageID = %v, want only good@test", got)
	}
	if s.Attempts() != 3 {
		t.Errorf("Attempts = %d, want 3", s.Attempts())
	}
}

func TestSinkTLSAuth(t *testing.T) {
	s := NewSink(t, &SinkOptions{TLS: true, Users: map[string]string{"relay": "secret"}})

	// Plain text: no AUTH.
	c, err := gosmtp.Dial(s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Auth(sasl.NewPlainClient("", "relay", "secret")); err == nil {
		t.Errorf("AUTH over plain text succeeded")
	}
	c.Close()

	conf := &tls.Config{RootCAs: CertPool(t, s.CertPEM())}
	c, err = gosmtp.DialStartTLS(s.Addr, conf)
	if err != nil {
		t.Fatalf("STARTTLS: %v", err)
	}
	defer c.Close()
	var se *gosmtp.SMTPError
	if err := c.Mail("a@example.jp", nil); !errors.As(err, &se) || se.Code != 530 {
		t.Errorf("MAIL before AUTH = %v, want 530", err)
	}
	if err := c.Auth(sasl.NewPlainClient("", "relay", "wrong")); !errors.As(err, &se) || se.Code != 535 {
		t.Errorf("AUTH with a wrong password = %v, want 535", err)
	}
	if err := c.Auth(sasl.NewPlainClient("", "relay", "secret")); err != nil {
		t.Fatalf("AUTH: %v", err)
	}
	if err := c.SendMail("a@example.jp", []string{"b@example.net"}, strings.NewReader(testMessage("tls@test"))); err != nil {
		t.Fatalf("send: %v", err)
	}
	m := s.WaitForCount(t, 1, 5*time.Second)[0]
	if !m.TLS || m.User != "relay" || m.MessageID != "tls@test" {
		t.Errorf("message TLS=%v User=%q MessageID=%q", m.TLS, m.User, m.MessageID)
	}
}

func TestMessageID(t *testing.T) {
	for in, want := range map[string]string{
		"Message-Id:  <a@b> \r\n\r\nx":          "a@b",
		"Subject: x\r\n\r\nMessage-ID: <no@no>": "",
		"not a message":                         "",
	} {
		if got := MessageID([]byte(in)); got != want {
			t.Errorf("MessageID(%q) = %q, want %q", in, got, want)
		}
	}
}
