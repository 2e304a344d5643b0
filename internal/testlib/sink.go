package testlib

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
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
	TLS       bool   // the transaction ran over TLS (STARTTLS or implicit)
	User      string // the AUTH user name, "" when not authenticated
	Helo      string // the name the client gave in its last EHLO or HELO
	// ClientCert is the certificate the client showed in the TLS
	// handshake (the leaf), nil when it showed none or without TLS. A
	// sink asks for one with a TLSConfig whose ClientAuth says so.
	ClientCert *x509.Certificate
	At         time.Time
}

// SinkOptions configure NewSink. The zero value is a plain sink that
// accepts everything.
type SinkOptions struct {
	// TLS offers STARTTLS with a self-signed certificate for localhost and
	// 127.0.0.1 (Sink.CertPEM returns it, for the client's trust roots).
	TLS bool
	// Implicit speaks TLS from the first byte (SMTPS, as on port 465)
	// instead of offering STARTTLS. It implies TLS, with the same
	// certificate unless TLSConfig is set.
	Implicit bool
	// TLSConfig, when set, is the server's TLS configuration in place of
	// the generated certificate, for a certificate the test made itself
	// or a handshake made to fail (a GetCertificate that returns an
	// error). It implies TLS; Sink.CertPEM then returns nil.
	TLSConfig *tls.Config
	// Users, when not empty, enables AUTH PLAIN with these user names and
	// passwords and refuses MAIL before a successful AUTH (530 5.7.0).
	// Without TLS, AUTH is allowed over plain text.
	Users map[string]string
	// Reply, when set, decides the reply to each message's DATA: nil for
	// 250 (the message is recorded), or an error, usually a
	// *gosmtp.SMTPError such as a 451 or a 550, returned to the client
	// (the message is then not recorded in Messages). It may be called
	// concurrently, and may block to hold a transaction open (the message
	// is already read). Sink.SetReply changes it later.
	Reply func(m *SinkMessage) error
	// RcptReply, when set, decides the reply to each RCPT TO: nil for 250
	// (the recipient joins the message's Rcpts), or an error, usually a
	// *gosmtp.SMTPError from SMTPReply such as a 452 or a 550, returned to
	// the client (the recipient is left out; the transaction goes on). It
	// may be called concurrently, and may block to hold a transaction
	// open. Sink.SetRcptReply changes it later.
	RcptReply func(to string) error
	// StallData makes the sink answer DATA with 354 and then read nothing
	// of the message until the sink is closed, like a peer that stops
	// reading in the middle of the body: a client sending more than the
	// socket buffers hold blocks in its writes. Nothing is recorded or
	// counted as offered.
	StallData bool
	// Domain is the host name in the greeting, "sink.test" by default.
	Domain string
	// Timeout is how long the server waits for a command or a write
	// (go-smtp's ReadTimeout and WriteTimeout), a minute by default; in
	// a synctest bubble a minute of idle time passes quickly.
	Timeout time.Duration
	// Listener, when set, is what the sink serves on (a PipeListener, for
	// a synctest bubble) instead of a free port of 127.0.0.1; Addr is then
	// its address. The sink closes it when the test ends.
	Listener net.Listener
}

// Sink is an in-process SMTP server on a free port of 127.0.0.1 (or on
// SinkOptions.Listener) that records every message it accepts. It is safe
// for concurrent use and is closed when the test that made it ends.
type Sink struct {
	Addr string // host:port it listens on

	srv     *gosmtp.Server
	certPEM []byte
	users   map[string]string
	stall   bool
	closed  chan struct{} // closed when the test ends, before the server
	hellos  helloCounter

	mu        sync.Mutex
	reply     func(m *SinkMessage) error
	rcptReply func(to string) error
	msgs      []SinkMessage
	attempts  int
	sessions  int
	changed   chan struct{} // closed and replaced when a message is recorded
}

// NewSink starts a Sink; opts may be nil.
func NewSink(t testing.TB, opts *SinkOptions) *Sink {
	t.Helper()
	if opts == nil {
		opts = &SinkOptions{}
	}
	s := &Sink{
		users:     opts.Users,
		stall:     opts.StallData,
		closed:    make(chan struct{}),
		reply:     opts.Reply,
		rcptReply: opts.RcptReply,
		changed:   make(chan struct{}),
	}
	srv := gosmtp.NewServer(gosmtp.BackendFunc(s.newSession))
	srv.Domain = opts.Domain
	if srv.Domain == "" {
		srv.Domain = "sink.test"
	}
	srv.ErrorLog = log.New(io.Discard, "", 0)
	srv.Debug = &s.hellos // go-smtp copies the dialogue there, in plain text also under TLS
	srv.ReadTimeout = time.Minute
	if opts.Timeout > 0 {
		srv.ReadTimeout = opts.Timeout
	}
	srv.WriteTimeout = srv.ReadTimeout
	srv.MaxLineLength = 0 // the sink records; policing lines is not its job
	switch {
	case opts.TLSConfig != nil:
		srv.TLSConfig = opts.TLSConfig
	case opts.TLS || opts.Implicit:
		var cert tls.Certificate
		s.certPEM, _, cert = SelfSignedCert(t, "localhost", "127.0.0.1")
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	default:
		srv.AllowInsecureAuth = true
	}
	l := opts.Listener
	if l == nil {
		var err error
		if l, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatalf("testlib: sink listen: %v", err)
		}
	}
	s.Addr = l.Addr().String()
	if opts.Implicit {
		l = tls.NewListener(l, srv.TLSConfig)
	}
	s.srv = srv
	go srv.Serve(l)
	t.Cleanup(func() {
		close(s.closed) // releases stalled DATA commands
		srv.Close()
	})
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

// SetRcptReply replaces the function that decides each RCPT TO's reply
// (nil: accept every recipient).
func (s *Sink) SetRcptReply(f func(to string) error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rcptReply = f
}

func (s *Sink) rcptReplyFunc() func(to string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rcptReply
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

// Sessions returns how many SMTP sessions the sink has started: one per
// EHLO or HELO that opens a connection's session, and one more after each
// STARTTLS (which ends the plain-text session). A client that reuses a
// connection for several messages adds none.
func (s *Sink) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions
}

// Hellos returns how many EHLO and HELO commands the sink has read so far,
// on all its connections together (before and after STARTTLS). Unlike
// Sessions, it counts an EHLO said again within a session. A message
// line that starts with "EHLO " counts too: tests do not send such mail.
func (s *Sink) Hellos() int { return s.hellos.count() }

// helloCounter is the sink server's Debug writer: it counts the lines
// that start with EHLO or HELO. The server writes it the bytes it reads
// and the replies it writes (which start with a digit), each chunk ending
// at a line's end in practice, as an SMTP dialogue goes one line after
// the other.
type helloCounter struct {
	mu      sync.Mutex
	n       int
	head    []byte // the start of the current line, up to 5 bytes
	started bool   // head is past the first bytes of the line (not a hello)
}

func (h *helloCounter) Write(p []byte) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, b := range p {
		switch {
		case b == '\n':
			h.head, h.started = h.head[:0], false
		case h.started:
		case len(h.head) < 5:
			h.head = append(h.head, b)
			if len(h.head) == 5 {
				if w := strings.ToUpper(string(h.head)); w == "EHLO " || w == "HELO " {
					h.n++
				}
				h.started = true
			}
		}
	}
	return len(p), nil
}

func (h *helloCounter) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n
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
// them (all of them, in order, so the n-th is at index n-1); it fails t
// when timeout passes first. It wakes as each message is recorded, without
// polling.
func (s *Sink) WaitForCount(t testing.TB, n int, timeout time.Duration) []SinkMessage {
	t.Helper()
	start := time.Now()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		s.mu.Lock()
		have, changed := len(s.msgs), s.changed
		s.mu.Unlock()
		if have >= n {
			return s.Messages()
		}
		select {
		case <-changed:
		case <-timer.C:
			t.Fatalf("testlib: sink %s: timed out after %v waiting for %d messages, have %d (%d offered)",
				s.Addr, time.Since(start).Round(time.Millisecond), n, s.Count(), s.Attempts())
			return nil
		}
	}
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
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
	return nil
}

// newSession runs at a session's first EHLO or HELO, and again after
// STARTTLS.
func (s *Sink) newSession(c *gosmtp.Conn) (gosmtp.Session, error) {
	s.mu.Lock()
	s.sessions++
	s.mu.Unlock()
	state, isTLS := c.TLSConnectionState()
	ss := &sinkSession{sink: s, conn: c, tls: isTLS}
	if isTLS && len(state.PeerCertificates) > 0 {
		ss.clientCert = state.PeerCertificates[0]
	}
	return ss, nil
}

// SMTPReply makes an SMTP error reply (code, enhanced status code, text)
// for a Sink's Reply or RcptReply to return, as in
// SMTPReply(550, "5.1.1", "no such user"). enhanced is
// "class.subject.detail", or "" for a reply without an enhanced status
// code; anything else panics, as a mistake in the test.
func SMTPReply(code int, enhanced, text string) *gosmtp.SMTPError {
	ec := gosmtp.NoEnhancedCode
	if enhanced != "" {
		parts := strings.Split(enhanced, ".")
		if len(parts) != 3 {
			panic(fmt.Sprintf("testlib: SMTPReply: enhanced code %q is not class.subject.detail", enhanced))
		}
		for i, p := range parts {
			n, err := strconv.Atoi(p)
			if err != nil || n < 0 {
				panic(fmt.Sprintf("testlib: SMTPReply: enhanced code %q is not class.subject.detail", enhanced))
			}
			ec[i] = n
		}
	}
	return &gosmtp.SMTPError{Code: code, EnhancedCode: ec, Message: text}
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
	sink       *Sink
	conn       *gosmtp.Conn
	tls        bool
	clientCert *x509.Certificate
	user       string
	helo       string
	from       string
	rcpts      []string
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
	ss.helo = ss.conn.Hostname()
	ss.rcpts = nil
	return nil
}

func (ss *sinkSession) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	if f := ss.sink.rcptReplyFunc(); f != nil {
		if err := f(to); err != nil {
			return err
		}
	}
	ss.rcpts = append(ss.rcpts, to)
	return nil
}

var errSinkClosed = &gosmtp.SMTPError{
	Code:         421,
	EnhancedCode: gosmtp.EnhancedCode{4, 3, 0},
	Message:      "Sink closing",
}

func (ss *sinkSession) Data(r io.Reader) error {
	if ss.sink.stall {
		<-ss.sink.closed
		return errSinkClosed
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("reading data: %w", err)
	}
	m := &SinkMessage{
		From:       ss.from,
		Rcpts:      slices.Clone(ss.rcpts),
		Data:       data,
		MessageID:  MessageID(data),
		TLS:        ss.tls,
		User:       ss.user,
		Helo:       ss.helo,
		ClientCert: ss.clientCert,
		At:         time.Now(),
	}
	return ss.sink.record(m)
}

func (ss *sinkSession) Reset() {
	ss.from = ""
	ss.rcpts = nil
}

func (ss *sinkSession) Logout() error { return nil }
