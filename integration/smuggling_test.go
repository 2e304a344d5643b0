package integration

import (
	"bufio"
	"fmt"
	"net"
	"net/textproto"
	"strings"
	"testing"
	"time"
)

// rawSession is an SMTP session written byte by byte, for payloads a
// client library would normalise.
type rawSession struct {
	t    *testing.T
	conn net.Conn
	r    *textproto.Reader
}

func dialRaw(t *testing.T, addr string) *rawSession {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	s := &rawSession{t: t, conn: conn, r: textproto.NewReader(bufio.NewReader(conn))}
	s.expect("greeting", 220)
	return s
}

// expect reads one (possibly multi-line) reply and fails t unless its code
// is want.
func (s *rawSession) expect(what string, want int) string {
	s.t.Helper()
	code, msg, err := s.r.ReadResponse(0)
	if err != nil && code == 0 {
		s.t.Fatalf("reading the reply to %s: %v", what, err)
	}
	if code != want {
		s.t.Fatalf("reply to %s: %d %s, want %d", what, code, msg, want)
	}
	return msg
}

// cmd writes raw bytes (a command with its CRLF, or DATA payload) and, if
// want is not 0, reads the reply.
func (s *rawSession) cmd(what, raw string, want int) string {
	s.t.Helper()
	if _, err := s.conn.Write([]byte(raw)); err != nil {
		s.t.Fatalf("writing %s: %v", what, err)
	}
	if want == 0 {
		return ""
	}
	return s.expect(what, want)
}

// TestSmugglingEndOfData sends, inside DATA, a fake end of data followed by a
// whole second transaction. The fake ends use bare LF or bare CR, which are
// not the end of data (only CRLF.CRLF is): the relay must answer one 250 for
// one message whose body holds the smuggled text, and deliver no second
// message. The smuggled sender is a tenant's, so a smuggled transaction
// would be accepted if the relay fell for it.
func TestSmugglingEndOfData(t *testing.T) {
	t.Parallel()
	sink := newSink(t, nil)
	r := StartRelay(t, sink.Addr, func(_ string, c *Config) {
		c.Tenants[0].Domains = append(c.Tenants[0].Domains, "example.jp")
	})

	variants := []struct{ name, end string }{
		{"LF.CRLF", "\n.\r\n"},
		{"CRLF.LF", "\r\n.\n"},
		{"LF.LF", "\n.\n"},
		{"CR.CRLF", "\r.\r\n"},
	}
	ids := map[string]string{} // Message-ID -> variant
	for i, v := range variants {
		victim := fmt.Sprintf("victim%d@example.net", i)
		rcpt := fmt.Sprintf("candidate%d@example.net", i)
		id := newMessageID()
		ids[id] = v.name
		smuggled := "MAIL FROM:<x@example.jp>\r\n" +
			"RCPT TO:<" + victim + ">\r\n" +
			"DATA\r\n" +
			"From: <x@example.jp>\r\nTo: <" + victim + ">\r\nSubject: smuggled\r\n\r\n" +
			"smuggled body " + v.name + "\r\n"
		payload := "From: <" + tenantSender + ">\r\n" +
			"To: <" + rcpt + ">\r\n" +
			"Subject: smuggling " + v.name + "\r\n" +
			"Message-ID: <" + id + ">\r\n" +
			"\r\n" +
			"first part" + v.end + smuggled +
			".\r\n" // the real end of data: CRLF (ending the line above) . CRLF

		s := dialRaw(t, r.SMTPAddr)
		s.cmd("EHLO", "EHLO client.test\r\n", 250)
		s.cmd("MAIL", "MAIL FROM:<"+tenantSender+">\r\n", 250)
		s.cmd("RCPT", "RCPT TO:<"+rcpt+">\r\n", 250)
		s.cmd("DATA", "DATA\r\n", 354)
		text := s.cmd("payload with "+v.name, payload, 250)
		t.Logf("%s: 250 %s", v.name, text)
		// Had the relay ended the data early, the smuggled commands would
		// have replies queued before the one to QUIT.
		s.cmd("QUIT after "+v.name, "QUIT\r\n", 221)
	}

	sink.WaitForCount(t, len(variants), deliveryTimeout)
	waitQueueDrained(t, r) // a smuggled message would have been queued and delivered by now
	msgs := sink.Messages()
	if len(msgs) != len(variants) {
		t.Errorf("sink got %d messages, want %d (one per session)", len(msgs), len(variants))
	}
	for _, m := range msgs {
		v, ok := ids[m.MessageID]
		if !ok {
			t.Errorf("unexpected message at the sink (smuggled?): from %q to %q:\n%s", m.From, m.Rcpts, m.Data)
			continue
		}
		body := string(m.Data)
		t.Logf("%s: delivered:\n%q", v, body[strings.Index(body, "\r\n\r\n")+4:])
		for _, want := range []string{"MAIL FROM:<x@example.jp>", "Subject: smuggled", "smuggled body " + v} {
			if !strings.Contains(body, want) {
				t.Errorf("%s: delivered body lacks the smuggled text %q:\n%s", v, want, body)
			}
		}
		for _, to := range m.Rcpts {
			if strings.HasPrefix(to, "victim") {
				t.Errorf("%s: delivered to the smuggled recipient %q", v, to)
			}
		}
	}
	for id, v := range ids {
		if n := sink.ByMessageID()[id]; n != 1 {
			t.Errorf("%s: message delivered %d times, want once", v, n)
		}
	}
}
