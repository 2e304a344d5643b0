package inbound

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"
)

// rawConn speaks SMTP line by line, so that a test can send octets that
// no client library would.
type rawConn struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c := &rawConn{t: t, conn: conn, r: bufio.NewReader(conn)}
	c.reply() // greeting
	return c
}

// cmd sends line and returns the last line of the reply ("" when the
// connection was closed).
func (c *rawConn) cmd(line string) string {
	c.t.Helper()
	c.conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.conn.Write([]byte(line + "\r\n")); err != nil {
		return ""
	}
	return c.reply()
}

func (c *rawConn) reply() string {
	c.t.Helper()
	c.conn.SetDeadline(time.Now().Add(10 * time.Second))
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			return ""
		}
		if len(line) < 4 || line[3] != '-' {
			return strings.TrimRight(line, "\r\n")
		}
	}
}

// closed reports whether the server has closed the connection.
func (c *rawConn) closed() bool {
	c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := c.r.ReadByte()
	return err != nil
}

// Addresses are checked at MAIL and RCPT, before anything is looked up,
// and never changed: octets that are not UTF-8 are not turned into U+FFFD.
func TestAddressesRefusedAtRcpt(t *testing.T) {
	rec := &recorder{}
	addr := startServer(t, testConfig("127.0.0.0/8"), rec)
	for _, tc := range []struct {
		mail, rcpt string
		want       string // reply prefix
	}{
		{"<hr@acme.example>", "<\xff\xfe@x.test>", "501 5.1.3"},
		{"<hr@acme.example> SMTPUTF8", "<\xff\xfe@x.test>", "501 5.1.3"},
		{"<hr@acme.example>", "<a\x00b@x.test>", "501 5.1.3"},
		{"<hr@acme.example>", "<a\x01b@x.test>", "501 5.1.3"},
		{"<hr@acme.example>", "<taro@gmail>", "550 5.1.2"},
		{"<hr@acme.example>", "<user@localhost>", "550 5.1.2"},
		{"<hr@acme.example>", "<user@mx.LOCALHOST>", "550 5.1.2"},
		{"<hr@acme.example>", "<root@[127.0.0.1]>", "550 5.1.2"},
		{"<hr@acme.example>", "<root@[IPv6:::1]>", "550 5.1.2"},
		{"<hr@acme.example>", "<root@127.0.0.1>", "550 5.1.2"},
		{"<hr@acme.example>", "<x@-bad-.test>", "501 5.1.3"},
		{"<hr@acme.example>", "<x@a..test>", "501 5.1.3"},
		{"<hr@acme.example>", "<cand@例え.jp>", "553 5.6.7"},
		{"<hr@acme.example>", "<候補@example.jp>", "553 5.6.7"},
		{"<hr@acme.example> SMTPUTF8", "<cand@例え.jp>", "250 "},
		{"<hr@acme.example> SMTPUTF8", "<候補@例え.jp>", "250 "},
		{"<hr@acme.example>", "<cand@cand.example>", "250 "},
		{"<hr@acme.example>", "<\"a b\"@cand.example>", "250 "},
	} {
		c := dialRaw(t, addr)
		c.cmd("EHLO t")
		if got := c.cmd("MAIL FROM:" + tc.mail); !strings.HasPrefix(got, "250 ") {
			t.Fatalf("MAIL FROM:%s: %q", tc.mail, got)
		}
		if got := c.cmd("RCPT TO:" + tc.rcpt); !strings.HasPrefix(got, tc.want) {
			t.Errorf("MAIL FROM:%s RCPT TO:%q: %q, want %s", tc.mail, tc.rcpt, got, tc.want)
		}
	}
}

func TestSenderChecked(t *testing.T) {
	addr := startServer(t, testConfig("127.0.0.0/8"), &recorder{})
	for mail, want := range map[string]string{
		"<hr\xff@acme.example>":      "501 5.1.3",
		"<hr\x00@acme.example>":      "501 5.1.3",
		"<人事@acme.example>":          "553 5.6.7",
		"<人事@acme.example> SMTPUTF8": "250 ",
		"<hr@-acme-.example>":        "501 5.1.3",
		"<>":                         "250 ",
		"<hr@acme.example>":          "250 ",
	} {
		c := dialRaw(t, addr)
		c.cmd("EHLO t")
		if got := c.cmd("MAIL FROM:" + mail); !strings.HasPrefix(got, want) {
			t.Errorf("MAIL FROM:%q: %q, want %s", mail, got, want)
		}
	}
}

// The envelope keeps what the client sent: an IDN domain as U-labels
// (the transport converts it to punycode), a quoted local part quoted.
func TestAddressesKeptAsSent(t *testing.T) {
	rec := &recorder{}
	addr := startServer(t, testConfig("127.0.0.0/8"), rec)
	c := dialRaw(t, addr)
	c.cmd("EHLO t")
	c.cmd("MAIL FROM:<hr@acme.example> SMTPUTF8")
	for _, r := range []string{"<cand@例え.jp>", "<\"a b\"@cand.example>"} {
		if got := c.cmd("RCPT TO:" + r); !strings.HasPrefix(got, "250 ") {
			t.Fatalf("RCPT TO:%s: %q", r, got)
		}
	}
	c.cmd("DATA")
	if got := c.cmd(strings.TrimSuffix(plainMail, "\r\n") + "\r\n."); !strings.HasPrefix(got, "250 ") {
		t.Fatalf("DATA: %q", got)
	}
	if rcpts := rec.envs[0].Rcpts; len(rcpts) != 2 || rcpts[0] != "cand@例え.jp" || rcpts[1] != `"a b"@cand.example` {
		t.Errorf("recipients %q", rcpts)
	}
}
