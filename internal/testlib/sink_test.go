package testlib

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
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

func TestSinkRcptReplyHeloSessions(t *testing.T) {
	s := NewSink(t, &SinkOptions{RcptReply: func(to string) error {
		if to == "gone@example.net" {
			return SMTPReply(550, "5.1.1", "no such user")
		}
		return nil
	}})
	c, err := gosmtp.Dial(s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("a@example.jp", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("b@example.net", nil); err != nil {
		t.Fatalf("RCPT b@: %v", err)
	}
	var se *gosmtp.SMTPError
	if err := c.Rcpt("gone@example.net", nil); !errors.As(err, &se) || se.Code != 550 || se.EnhancedCode != (gosmtp.EnhancedCode{5, 1, 1}) {
		t.Fatalf("RCPT gone@ = %v, want the programmed 550 5.1.1", err)
	}
	s.SetRcptReply(func(string) error { return SMTPReply(452, "4.2.2", "mailbox full") })
	if err := c.Rcpt("c@example.net", nil); !errors.As(err, &se) || se.Code != 452 {
		t.Fatalf("RCPT c@ after SetRcptReply = %v, want 452", err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte(testMessage("rcpt@test"))); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	// A second message on the same connection is in the same session.
	s.SetRcptReply(nil)
	if err := c.SendMail("a@example.jp", []string{"c@example.net"}, strings.NewReader(testMessage("again@test"))); err != nil {
		t.Fatal(err)
	}
	msgs := s.WaitForCount(t, 2, 5*time.Second)
	if got := strings.Join(msgs[0].Rcpts, ","); got != "b@example.net" {
		t.Errorf("Rcpts = %s, want only the accepted b@example.net", got)
	}
	if msgs[0].Helo != "client.test" || msgs[1].Helo != "client.test" {
		t.Errorf("Helo = %q, %q, want client.test", msgs[0].Helo, msgs[1].Helo)
	}
	if n := s.Sessions(); n != 1 {
		t.Errorf("Sessions = %d after one connection, want 1", n)
	}
	if err := send(s.Addr, "a@example.jp", []string{"b@example.net"}, testMessage("other@test")); err != nil {
		t.Fatal(err)
	}
	if n := s.Sessions(); n != 2 {
		t.Errorf("Sessions = %d after two connections, want 2", n)
	}
}

func TestSinkImplicitTLS(t *testing.T) {
	s := NewSink(t, &SinkOptions{Implicit: true})
	conn, err := tls.Dial("tcp", s.Addr, &tls.Config{RootCAs: CertPool(t, s.CertPEM())})
	if err != nil {
		t.Fatalf("TLS handshake on connect: %v", err)
	}
	c := gosmtp.NewClient(conn)
	defer c.Close()
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		t.Error("STARTTLS offered on a connection that is already TLS")
	}
	if err := c.SendMail("a@example.jp", []string{"b@example.net"}, strings.NewReader(testMessage("implicit@test"))); err != nil {
		t.Fatal(err)
	}
	if m := s.WaitForCount(t, 1, 5*time.Second)[0]; !m.TLS {
		t.Errorf("message TLS = false over implicit TLS")
	}
}

func TestSinkTLSConfig(t *testing.T) {
	certPEM, _, cert := SelfSignedCert(t, "relay.test")
	s := NewSink(t, &SinkOptions{TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}})
	if s.CertPEM() != nil {
		t.Errorf("CertPEM with a TLSConfig of the test's = %q, want nil", s.CertPEM())
	}
	c, err := gosmtp.DialStartTLS(s.Addr, &tls.Config{RootCAs: CertPool(t, certPEM), ServerName: "relay.test"})
	if err != nil {
		t.Fatalf("STARTTLS with the test's certificate: %v", err)
	}
	defer c.Close()
	if err := c.SendMail("a@example.jp", []string{"b@example.net"}, strings.NewReader(testMessage("conf@test"))); err != nil {
		t.Fatal(err)
	}
	if m := s.WaitForCount(t, 1, 5*time.Second)[0]; !m.TLS {
		t.Errorf("message TLS = false after STARTTLS")
	}
	// STARTTLS ends the plain-text session and starts another.
	if n := s.Sessions(); n != 2 {
		t.Errorf("Sessions = %d after EHLO, STARTTLS, EHLO, want 2", n)
	}

	broken := NewSink(t, &SinkOptions{TLSConfig: &tls.Config{GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
		return nil, errors.New("no certificate today")
	}}})
	c, err = gosmtp.DialStartTLS(broken.Addr, &tls.Config{InsecureSkipVerify: true})
	if err == nil {
		err = c.Mail("a@example.jp", nil) // the handshake may wait for the first command
		c.Close()
	}
	if err == nil {
		t.Error("STARTTLS and MAIL succeeded against a failing GetCertificate")
	}
}

// A stalled sink reads nothing after 354, so the client's writes block
// once the socket buffers are full; closing the sink releases it.
func TestSinkStallData(t *testing.T) {
	f := &fakeTB{TB: t}
	s := NewSink(f, &SinkOptions{StallData: true})
	defer f.runCleanups()
	conn, err := net.Dial("tcp", s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	c := gosmtp.NewClient(conn)
	defer c.Close()
	if err := c.Mail("a@example.jp", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("b@example.net", nil); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatalf("DATA: %v, want 354", err)
	}
	conn.SetWriteDeadline(time.Now().Add(300 * time.Millisecond))
	line := []byte(strings.Repeat("x", 1022) + "\r\n")
	var written int
	for written < 256<<20 {
		n, err := w.Write(line)
		written += n
		if err != nil {
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("write after %d bytes: %v, want a timeout", written, err)
			}
			break
		}
	}
	if written >= 256<<20 {
		t.Fatalf("the sink took %d bytes of a stalled body", written)
	}
	if s.Attempts() != 0 || s.Count() != 0 {
		t.Errorf("Attempts, Count = %d, %d, want 0, 0", s.Attempts(), s.Count())
	}
	f.runCleanups()
	f.cleanups = nil
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.Copy(io.Discard, conn); err != nil && !errors.Is(err, net.ErrClosed) && !isConnReset(err) {
		t.Errorf("after the sink closed, reading = %v, want the connection closed", err)
	}
}

func isConnReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

func TestSinkWaitForCountTimesOut(t *testing.T) {
	s := NewSink(t, nil)
	f := &fakeTB{TB: t}
	if msgs := s.WaitForCount(f, 1, 50*time.Millisecond); msgs != nil {
		t.Errorf("WaitForCount returned %v after timing out", msgs)
	}
	if len(f.fatals) != 1 || !strings.Contains(f.fatals[0], "waiting for 1 messages, have 0 (0 offered)") {
		t.Errorf("fatals = %q", f.fatals)
	}
}

func TestSMTPReply(t *testing.T) {
	r := SMTPReply(451, "4.7.1", "greylisted")
	if r.Code != 451 || r.EnhancedCode != (gosmtp.EnhancedCode{4, 7, 1}) || r.Message != "greylisted" {
		t.Errorf("SMTPReply = %+v", r)
	}
	if r := SMTPReply(421, "", "bye"); r.EnhancedCode != gosmtp.NoEnhancedCode {
		t.Errorf("SMTPReply without an enhanced code = %+v", r)
	}
	for _, bad := range []string{"5.1", "5.1.x", "5.1.1.1"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("SMTPReply(550, %q, ...) did not panic", bad)
				}
			}()
			SMTPReply(550, bad, "x")
		}()
	}
}

func TestGreeter(t *testing.T) {
	addr := Greeter(t, "421 4.3.2 busy")
	for range 2 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		got, err := io.ReadAll(c)
		c.Close()
		if err != nil || string(got) != "421 4.3.2 busy\r\n" {
			t.Errorf("greeter said %q (%v), want one line and EOF", got, err)
		}
	}
}
