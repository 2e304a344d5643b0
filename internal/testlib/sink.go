package testlib

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/mail"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"
)

// SinkMessage is one message a Sink received in a mail transaction.
type SinkMessage struct {
	From  string   // envelope sender (MAIL FROM), "" for <>
	Rcpts []string // envelope recipients, in RCPT order
	Data  []byte   // the message as received, dot-unstuffed, CRLF line ends
	// MessageID is the Message-ID header's value without the angle
	// brackets, "" when there is none or the header cannot be parsed.
	MessageID string
	TLS       bool   // the transaction ran over TLS (STARTTLS)
	User      string // the AUTH user name, "" when not authenticated
	At        time.Time
}

// SinkOptions configure NewSink. The zero value is a plain sink that
// accepts everything.
type SinkOptions struct {
	// TLS offers STARTTLS with a self-signed certificate for localhost and
	// 127.0.0.1 (Sink.CertPEM returns it, for the client's trust roots).
	TLS bool
	// Users, when not empty, enables AUTH PLAIN with these user names and
	// passwords and refuses MAIL before a successful AUTH (530 5.7.0).
	// Without TLS, AUTH is allowed over plain text.
	Users map[string]string
	// Reply, when set, decides the reply to each message's DATA: nil for
	// 250 (the message is recorded), or an error, usually a
	// *gosmtp.SMTPError such as a 451 or a 550, returned to the client
	// (the message is then not recorded in Messages). It may be called
	// concurrently. Sink.SetReply changes it later.
	Reply func(m *SinkMessage) error
	// Domain is the host name in the greeting, "sink.test" by default.
	Domain string
}

// Sink is an in-process SMTP server on a free port of 127.0.0.1 that
// records every message it accepts. It is safe for concurrent use and is
// closed when the test that made it ends.
type Sink struct {
	Addr string // host:port it listens on

	srv     *gosmtp.Server
	certPEM []byte
	users   map[string]string

	mu       sync.Mutex
	reply    func(m *SinkMessage) error
	msgs     []SinkMessage
	attempts int
}

// NewSink starts a Sink; opts may be nil.
func NewSink(t testing.TB, opts *SinkOptions) *Sink {
	t.Helper()
	if opts == nil {
		opts = &SinkOptions{}
	}
	s := &Sink{users: opts.Users, reply: opts.Reply}
	srv := gosmtp.NewServer(gosmtp.BackendFunc(s.newSession))
	srv.Domain = opts.Domain
	if srv.Domain == "" {
		srv.Domain = "sink.test"
	}
	srv.ErrorLog = log.New(io.Discard, "", 0)
	srv.ReadTimeout = time.Minute
	srv.WriteTimeout = time.Minute
	srv.MaxLineLength = 0 // the sink records; policing lines is not its job
	if opts.TLS {
		var cert tls.Certificate
		s.certPEM, _, cert = SelfSignedCert(t, "localhost", "127.0.0.1")
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	} else {
		srv.AllowInsecureAuth = true
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testlib: sink listen: %v", err)
	}
	s.Addr = l.Addr().String()
	s.srv = srv
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return s
}

// CertPEM returns the sink's self-signed certificate (nil without TLS).
func (s *Sink) CertPEM() []byte { return s.certPEM }

// Port returns the port the sink listens on.
func (s *Sink) Port() int {
	_, port, _ := net.SplitHostPort(s.Addr)
	n, _ := strconv.Atoi(port)
	return n
}

// SetReply replaces the function that decides each message's reply (nil:
// accept everything).
func (s *Sink) SetReply(f func(m *SinkMessage) error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reply = f
}

// Messages returns a copy of the messages accepted so far, in order.
func (s *Sink) Messages() []SinkMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.msgs)
}

// Count returns how many messages were accepted so far.
func (s *Sink) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.msgs)
}

// Attempts returns how many messages were offered (DATA completed),
// accepted or not.
func (s *Sink) Attempts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.attempts
}

// ByMessageID counts the accepted messages per Message-ID (see
// SinkMessage.MessageID); a count above 1 is a duplicate delivery.
func (s *Sink) ByMessageID() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := make(map[string]int, len(s.msgs))
	for _, msg := range s.msgs {
		m[msg.MessageID]++
	}
	return m
}

// WaitForCount waits until at least n messages were accepted and returns
// them; it fails t when timeout passes first.
func (s *Sink) WaitForCount(t testing.TB, n int, timeout time.Duration) []SinkMessage {
	t.Helper()
	start := time.Now()
	if !Poll(timeout, func() bool { return s.Count() >= n }) {
		t.Fatalf("testlib: sink %s: timed out after %v waiting for %d messages, have %d (%d offered)",
			s.Addr, time.Since(start).Round(time.Millisecond), n, s.Count(), s.Attempts())
	}
	return s.Messages()
}

func (s *Sink) record(m *SinkMessage) error {
	s.mu.Lock()
	reply := s.reply
	s.attempts++
	s.mu.Unlock()
	if reply != nil {
		if err := reply(m); err != nil {
			return err
		}
	}
	s.mu.Lock()
	s.msgs = append(s.msgs, *m)
	s.mu.Unlock()
	return nil
}

func (s *Sink) newSession(c *gosmtp.Conn) (gosmtp.Session, error) {
	_, isTLS := c.TLSConnectionState()
	return &sinkSession{sink: s, tls: isTLS}, nil
}

// MessageID returns the Message-ID header of the raw message data without
// angle brackets and surrounding space, or "" when there is none.
func MessageID(data []byte) string {
	m, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		return ""
	}
	id := strings.TrimSpace(m.Header.Get("Message-Id"))
	id = strings.TrimPrefix(id, "<")
	id = strings.TrimSuffix(id, ">")
	return strings.TrimSpace(id)
}

var errAuthRequired = &gosmtp.SMTPError{
	Code:         530,
	EnhancedCode: gosmtp.EnhancedCode{5, 7, 0},
	Message:      "Authentication required",
}

type sinkSession struct {
	sink  *Sink
	tls   bool
	user  string
	from  string
	rcpts []string
}

var _ gosmtp.AuthSession = (*sinkSession)(nil)

func (ss *sinkSession) AuthMechanisms() []string {
	if len(ss.sink.users) == 0 {
		return nil
	}
	return []string{sasl.Plain}
}

func (ss *sinkSession) Auth(mech string) (sasl.Server, error) {
	if len(ss.sink.users) == 0 || mech != sasl.Plain {
		return nil, gosmtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if identity != "" && identity != username {
			return errors.New("identity differs from user name")
		}
		want, ok := ss.sink.users[username]
		if !ok || want != password {
			return gosmtp.ErrAuthFailed
		}
		ss.user = username
		return nil
	}), nil
}

func (ss *sinkSession) Mail(from string, _ *gosmtp.MailOptions) error {
	if len(ss.sink.users) > 0 && ss.user == "" {
		return errAuthRequired
	}
	ss.from = from
	ss.rcpts = nil
	return nil
}

func (ss *sinkSession) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	ss.rcpts = append(ss.rcpts, to)
	return nil
}

func (ss *sinkSession) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("reading data: %w", err)
	}
	m := &SinkMessage{
		From:      ss.from,
		Rcpts:     slices.Clone(ss.rcpts),
		Data:      data,
		MessageID: MessageID(data),
		TLS:       ss.tls,
		User:      ss.user,
		At:        time.Now(),
	}
	return ss.sink.record(m)
}

func (ss *sinkSession) Reset() {
	ss.from = ""
	ss.rcpts = nil
}

func (ss *sinkSession) Logout() error { return nil }
