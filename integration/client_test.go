package integration

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"
)

// SendOptions say how a client connects before the mail transaction.
type SendOptions struct {
	// StartTLS, when set, makes the client issue STARTTLS with this config.
	StartTLS *tls.Config
	// User and Password, when User is set, authenticate with AUTH PLAIN,
	// or LOGIN when Login is set.
	User, Password string
	Login          bool
}

// SendError is a failed step of a client session: Stage is one of connect,
// starttls, auth, mail, rcpt, data, dot (the reply to the final dot), quit.
type SendError struct {
	Stage string
	Err   error
}

func (e *SendError) Error() string { return e.Stage + ": " + e.Err.Error() }
func (e *SendError) Unwrap() error { return e.Err }

// Reply is an SMTP reply seen by the client.
type Reply struct {
	Stage    string
	Code     int
	Enhanced gosmtp.EnhancedCode
	Text     string
}

func (r Reply) String() string {
	return fmt.Sprintf("%s: %d %d.%d.%d %s", r.Stage, r.Code, r.Enhanced[0], r.Enhanced[1], r.Enhanced[2], r.Text)
}

// replyOf extracts the server's reply from a send error; ok is false when
// err is not an SMTP reply (a network error, say).
func replyOf(err error) (Reply, bool) {
	var se *gosmtp.SMTPError
	if !errors.As(err, &se) {
		return Reply{}, false
	}
	r := Reply{Code: se.Code, Enhanced: se.EnhancedCode, Text: se.Message}
	var sendErr *SendError
	if errors.As(err, &sendErr) {
		r.Stage = sendErr.Stage
	}
	return r, true
}

// wantReply fails t unless err is a reply with code and enhanced code, at
// one of stages (any stage when none are given).
func wantReply(t *testing.T, err error, code int, enhanced gosmtp.EnhancedCode, stages ...string) Reply {
	t.Helper()
	if err == nil {
		t.Fatalf("the session succeeded, want %d %d.%d.%d", code, enhanced[0], enhanced[1], enhanced[2])
	}
	r, ok := replyOf(err)
	if !ok {
		t.Fatalf("got %v, want the reply %d %d.%d.%d", err, code, enhanced[0], enhanced[1], enhanced[2])
	}
	if r.Code != code || r.Enhanced != enhanced {
		t.Fatalf("got reply %v, want %d %d.%d.%d", r, code, enhanced[0], enhanced[1], enhanced[2])
	}
	if len(stages) > 0 && !contains(stages, r.Stage) {
		t.Fatalf("got reply %v at %s, want it at %s", r, r.Stage, strings.Join(stages, " or "))
	}
	return r
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Client is one SMTP client connection to the relay.
type Client struct {
	c *gosmtp.Client
}

// Dial connects to addr, says EHLO and applies opts (STARTTLS, AUTH).
func Dial(addr string, opts SendOptions) (*Client, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, &SendError{"connect", err}
	}
	var c *gosmtp.Client
	if opts.StartTLS != nil {
		conf := opts.StartTLS.Clone()
		if conf.ServerName == "" {
			conf.ServerName, _, _ = net.SplitHostPort(addr)
		}
		// NewClientStartTLS says EHLO as "localhost", STARTTLS, and leaves
		// the second EHLO to Hello below.
		c, err = gosmtp.NewClientStartTLS(conn, conf)
		if err != nil {
			conn.Close()
			return nil, &SendError{"starttls", err}
		}
	} else {
		c = gosmtp.NewClient(conn)
	}
	c.CommandTimeout = 30 * time.Second
	c.SubmissionTimeout = 60 * time.Second
	if err := c.Hello("client.test"); err != nil {
		c.Close()
		return nil, &SendError{"ehlo", err}
	}
	if opts.User != "" {
		mech := sasl.NewPlainClient("", opts.User, opts.Password)
		if opts.Login {
			mech = sasl.NewLoginClient(opts.User, opts.Password)
		}
		if err := c.Auth(mech); err != nil {
			c.Close()
			return nil, &SendError{"auth", err}
		}
	}
	return &Client{c: c}, nil
}

// Extension reports whether the server advertised ext in its last EHLO
// reply, and its parameter.
func (cl *Client) Extension(ext string) (bool, string) { return cl.c.Extension(ext) }

// Send runs one mail transaction and returns the text of the reply to the
// final dot (e.g. "2.0.0 queued as X"). A refusal is a *SendError wrapping
// a *gosmtp.SMTPError.
func (cl *Client) Send(from string, rcpts []string, data []byte) (string, error) {
	if err := cl.c.Mail(from, nil); err != nil {
		return "", &SendError{"mail", err}
	}
	for _, to := range rcpts {
		if err := cl.c.Rcpt(to, nil); err != nil {
			return "", &SendError{"rcpt", err}
		}
	}
	w, err := cl.c.Data()
	if err != nil {
		return "", &SendError{"data", err}
	}
	if _, err := w.Write(data); err != nil {
		w.Close()
		return "", &SendError{"data", err}
	}
	resp, err := w.CloseWithResponse()
	if err != nil {
		return "", &SendError{"dot", err}
	}
	return resp.StatusText, nil
}

// Reset sends RSET, ending a failed transaction so the next can start.
func (cl *Client) Reset() error { return cl.c.Reset() }

// Close quits politely and closes the connection.
func (cl *Client) Close() error {
	err := cl.c.Quit()
	cl.c.Close()
	return err
}

// sendMail connects, runs one transaction and quits.
func sendMail(addr string, opts SendOptions, from string, rcpts []string, data []byte) (string, error) {
	cl, err := Dial(addr, opts)
	if err != nil {
		return "", err
	}
	defer cl.Close()
	return cl.Send(from, rcpts, data)
}

// newMessageID returns a fresh Message-ID value without angle brackets.
func newMessageID() string {
	b := make([]byte, 12)
	rand.Read(b)
	return hex.EncodeToString(b) + "@test.careerrelay"
}

// newMessage returns a small text/plain message with CRLF line ends, a
// fresh Message-ID (returned without angle brackets) and body.
func newMessage(from, to, subject, body string) ([]byte, string) {
	id := newMessageID()
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: <%s>\r\n", from)
	fmt.Fprintf(&b, "To: <%s>\r\n", to)
	fmt.Fprintf(&b, "Subject: %s\r\n", subject)
	fmt.Fprintf(&b, "Date: %s\r\n", time.Now().Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Message-ID: <%s>\r\n", id)
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n")
	b.WriteString(strings.ReplaceAll(strings.TrimRight(body, "\n"), "\n", "\r\n"))
	b.WriteString("\r\n")
	return b.Bytes(), id
}
