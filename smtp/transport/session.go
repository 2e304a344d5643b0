package transport

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/textproto"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"github.com/careerrelay/careerrelay/internal/address"
	"github.com/careerrelay/careerrelay/internal/bufpool"
	"github.com/careerrelay/careerrelay/store"
)

// tlsPolicy is how a session uses TLS.
type tlsPolicy int

const (
	// tlsNone: plain text throughout.
	tlsNone tlsPolicy = iota
	// tlsImplicit: TLS from the first byte (port 465 style).
	tlsImplicit
	// tlsStartTLS: STARTTLS is required; without it or when the handshake
	// fails the attempt fails (temporarily).
	tlsStartTLS
	// tlsOpportunistic: STARTTLS when offered; a failed handshake is
	// reported as a *tlsError so that the caller can reconnect in plain.
	tlsOpportunistic
)

// peer is one SMTP server to talk to.
type peer struct {
	addr        string      // host:port to dial
	name        string      // host name, for TLS ServerName, logs and Remote-MTA
	policy      tlsPolicy   //
	tlsConfig   *tls.Config // verification settings; ServerName is filled in
	auth        sasl.Client // AUTH after TLS, nil for none
	user        string      // the AUTH identity, for the connection cache's key
	password    string      // the AUTH password, for the connection cache's key (hashed there)
	authPlainOK bool        // AUTH allowed without TLS (loopback peers)
	hello       string      // the EHLO name for this peer; "" is the dialer's
	// route names the configured route the peer belongs to: "" for the
	// global delivery, else the id of the tenant whose own relay it is.
	// Sessions of different routes are never shared (cacheKey).
	route string
}

// helloFor is the EHLO name to give p.
func (d *dialer) helloFor(p peer) string {
	if p.hello != "" {
		return p.hello
	}
	return d.helloName
}

// tlsError marks a failed TLS negotiation.
type tlsError struct{ err error }

func (e *tlsError) Error() string { return "TLS: " + e.err.Error() }
func (e *tlsError) Unwrap() error { return e.err }

// dialer opens SMTP sessions, and keeps those that stay healthy after a
// transaction in its connection cache for the next one (reuse.go).
type dialer struct {
	dial           func(ctx context.Context, network, addr string) (net.Conn, error)
	helloName      string // the EHLO name of peers that name none
	connectTimeout time.Duration
	commandTimeout time.Duration
	cache          *connCache
	log            *slog.Logger
}

// session is an open SMTP client connection. While a transaction runs on
// it, canceling that attempt's context closes the connection, so that a
// shutdown interrupts it; an idle session in the cache belongs to no
// attempt.
type session struct {
	c       *gosmtp.Client
	conn    net.Conn // the TCP connection, for deadlines
	wire    net.Conn // what c speaks over (TLS, or conn), for RSET
	timeout time.Duration
	tls     bool
	release func() bool // unbinds the session from its attempt's context

	// For the connection cache.
	key       cacheKey
	opened    time.Time // when the connection was opened
	idleSince time.Time // when it was last put in the cache
	uses      int       // mail transactions begun on it
}

// bind ties the connection to ctx: canceling ctx closes it.
func (s *session) bind(ctx context.Context) {
	s.release = context.AfterFunc(ctx, func() { s.conn.Close() })
}

// unbind undoes bind; false when ctx was canceled (the connection is
// closed, or being closed).
func (s *session) unbind() bool {
	if s.release == nil {
		return true
	}
	ok := s.release()
	s.release = nil
	return ok
}

// quit ends a healthy session politely: QUIT, waiting for the reply at
// most quitTimeout, then close.
func (s *session) quit() {
	s.unbind()
	s.c.CommandTimeout = min(s.timeout, quitTimeout)
	if err := s.c.Quit(); err != nil {
		s.c.Close()
	}
}

// drop closes a session whose state is unknown (a network error, a
// timeout, a 421), without a word: nothing it would say can be trusted.
func (s *session) drop() {
	s.unbind()
	s.c.Close()
}

// open connects to p, negotiates TLS as p.policy says, says EHLO and
// authenticates. Errors from the server are *gosmtp.SMTPError.
func (d *dialer) open(ctx context.Context, p peer) (*session, error) {
	dctx, cancel := context.WithTimeout(ctx, d.connectTimeout)
	conn, err := d.dial(dctx, "tcp", p.addr)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", p.addr, err)
	}
	release := context.AfterFunc(ctx, func() { conn.Close() })
	s, err := d.negotiate(ctx, conn, p)
	if err != nil {
		release()
		conn.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	s.conn, s.timeout, s.release = conn, d.commandTimeout, release
	return s, nil
}

func (d *dialer) tlsConfig(p peer) *tls.Config {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if p.tlsConfig != nil {
		cfg = p.tlsConfig.Clone()
	}
	if cfg.ServerName == "" {
		cfg.ServerName = p.name
	}
	return cfg
}

func (d *dialer) negotiate(ctx context.Context, conn net.Conn, p peer) (*session, error) {
	s := &session{}
	switch p.policy {
	case tlsImplicit:
		tc, err := d.handshake(ctx, conn, p)
		if err != nil {
			return nil, err
		}
		s.setClient(d, tc)
		s.tls = true
	case tlsStartTLS, tlsOpportunistic:
		tc, plain, err := d.startTLS(ctx, conn, p)
		switch {
		case err != nil:
			return nil, err
		case tc != nil:
			s.setClient(d, greeted(tc, tc))
			s.tls = true
		default:
			// Not offered, and allowed: carry on in plain text.
			s.setClient(d, plain)
		}
	default:
		s.setClient(d, conn)
	}
	if err := s.c.Hello(d.helloFor(p)); err != nil {
		s.c.Close()
		return nil, fmt.Errorf("EHLO: %w", err)
	}
	if p.auth != nil {
		if !s.tls && !p.authPlainOK {
			s.c.Close()
			return nil, errors.New("refusing to send the relay password over an unencrypted connection")
		}
		if ok, _ := s.c.Extension("AUTH"); !ok {
			s.c.Close()
			return nil, errors.New("server does not offer AUTH")
		}
		if err := s.c.Auth(p.auth); err != nil {
			s.c.Close()
			// An authentication failure is our misconfiguration, not the
			// message's fault: keep the mail and retry, never bounce.
			return nil, fmt.Errorf("AUTH: %w", asTemporary(err))
		}
	}
	return s, nil
}

func (s *session) setClient(d *dialer, conn net.Conn) {
	c := gosmtp.NewClient(conn)
	c.CommandTimeout = d.commandTimeout
	c.SubmissionTimeout = d.commandTimeout
	s.c, s.wire = c, conn
}

func (d *dialer) handshake(ctx context.Context, conn net.Conn, p peer) (*tls.Conn, error) {
	tc := tls.Client(conn, d.tlsConfig(p))
	hctx, cancel := context.WithTimeout(ctx, d.commandTimeout)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		return nil, &tlsError{err}
	}
	return tc, nil
}

// startTLS reads the greeting, says EHLO and, when the server offers
// STARTTLS, upgrades conn. When STARTTLS is not offered and p.policy is
// opportunistic, it returns the plain connection to carry on with instead.
// go-smtp's client cannot say our EHLO name before STARTTLS, so this part
// of the dialogue is ours.
func (d *dialer) startTLS(ctx context.Context, conn net.Conn, p peer) (*tls.Conn, net.Conn, error) {
	conn.SetDeadline(time.Now().Add(d.commandTimeout))
	defer conn.SetDeadline(time.Time{})
	br := bufio.NewReader(conn)
	tp := textproto.NewConn(struct {
		io.Reader
		io.WriteCloser
	}{br, conn})
	if _, _, err := tp.ReadResponse(220); err != nil {
		return nil, nil, fmt.Errorf("greeting: %w", smtpError(err))
	}
	if err := tp.PrintfLine("EHLO %s", d.helloFor(p)); err != nil {
		return nil, nil, fmt.Errorf("EHLO: %w", err)
	}
	code, msg, err := tp.ReadResponse(250)
	if err != nil {
		if p.policy == tlsOpportunistic && (code == 500 || code == 502) {
			// No ESMTP, so no STARTTLS: go-smtp's client says HELO.
			return nil, helloed(conn, br, code, msg), nil
		}
		return nil, nil, fmt.Errorf("EHLO: %w", smtpError(err))
	}
	offered := false
	for _, line := range strings.Split(msg, "\n")[1:] {
		if strings.EqualFold(strings.TrimSpace(line), "STARTTLS") {
			offered = true
		}
	}
	if !offered {
		if p.policy == tlsOpportunistic {
			return nil, helloed(conn, br, code, msg), nil
		}
		return nil, nil, errors.New("server does not offer STARTTLS")
	}
	if err := tp.PrintfLine("STARTTLS"); err != nil {
		return nil, nil, fmt.Errorf("STARTTLS: %w", err)
	}
	if _, _, err := tp.ReadResponse(220); err != nil {
		// Offered but refused (454): a TLS failure, so that an
		// opportunistic caller goes on without TLS.
		return nil, nil, &tlsError{fmt.Errorf("STARTTLS: %w", smtpError(err))}
	}
	if br.Buffered() > 0 {
		// Plain text sent after the 220 would be read as if it came
		// through TLS (the STARTTLS injection attack): refuse.
		return nil, nil, &tlsError{errors.New("server sent data after STARTTLS reply")}
	}
	conn.SetDeadline(time.Time{})
	tc, err := d.handshake(ctx, conn, p)
	return tc, nil, err
}

// greeted wraps a connection whose greeting was already read (before
// STARTTLS) so that go-smtp's client, which always reads one, gets one.
func greeted(conn net.Conn, r io.Reader) net.Conn {
	return &prefixConn{Conn: conn, r: io.MultiReader(strings.NewReader("220 TLS established\r\n"), r)}
}

// helloed wraps a plain connection on which our EHLO was already said and
// answered (code, msg as textproto read them), so that go-smtp's client
// does not say it a second time on the same session: the client's EHLO is
// not sent, and it reads the greeting and the reply that EHLO had. After a
// 500 or 502 it then says HELO itself.
func helloed(conn net.Conn, r io.Reader, code int, msg string) net.Conn {
	var reply strings.Builder
	lines := strings.Split(msg, "\n")
	for i, line := range lines {
		sep := '-'
		if i == len(lines)-1 {
			sep = ' '
		}
		fmt.Fprintf(&reply, "%03d%c%s\r\n", code, sep, line)
	}
	c := greeted(conn, io.MultiReader(strings.NewReader(reply.String()), r)).(*prefixConn)
	c.skipEHLO = true
	return c
}

type prefixConn struct {
	net.Conn
	r        io.Reader
	skipEHLO bool // the first write, the client's EHLO, is not sent (helloed)
}

func (c *prefixConn) Read(b []byte) (int, error) { return c.r.Read(b) }

func (c *prefixConn) Write(b []byte) (int, error) {
	if c.skipEHLO {
		c.skipEHLO = false
		if len(b) >= 5 && strings.EqualFold(string(b[:5]), "EHLO ") {
			return len(b), nil
		}
	}
	return c.Conn.Write(b)
}

// smtpError turns a textproto reply error into go-smtp's error type.
func smtpError(err error) error {
	var pe *textproto.Error
	if !errors.As(err, &pe) {
		return err
	}
	se := &gosmtp.SMTPError{Code: pe.Code, Message: pe.Msg}
	if code, msg, ok := strings.Cut(pe.Msg, " "); ok {
		var ec gosmtp.EnhancedCode
		if n, _ := fmt.Sscanf(code, "%d.%d.%d", &ec[0], &ec[1], &ec[2]); n == 3 && ec[0] == pe.Code/100 {
			se.EnhancedCode, se.Message = ec, msg
		}
	}
	return se
}

// asTemporary downgrades a permanent SMTP reply to a temporary one.
func asTemporary(err error) error {
	var se *gosmtp.SMTPError
	if errors.As(err, &se) && se.Code >= 500 {
		return fmt.Errorf("refused: %s", formatReply(se))
	}
	return err
}

// sessionState is what a transaction left its session in.
type sessionState int

const (
	// sessionOK: the server answered every command, and no transaction
	// is open: the session may carry another one.
	sessionOK sessionState = iota
	// sessionBroken: its state is unknown (a network error, a timeout, a
	// reply that does not parse, a 421, a failed RSET): close it.
	sessionBroken
	// sessionStale: MAIL, the transaction's first command, failed with a
	// network error, EOF or 421, or was refused and the RSET after it
	// failed so: the connection was dead before the transaction began, and
	// nothing was accepted on it. On a reused session the transaction is
	// run again on a new connection (dialer.send); otherwise it is broken.
	sessionStale
)

// transact runs one mail transaction on s: MAIL, a RCPT per address, DATA.
// It returns one result per address, honouring each RCPT reply, and the
// state it left s in. It opens the body afresh, so each session sends it
// from the first octet. A transaction refused before DATA is ended with
// RSET, so that the session can carry the next one.
func (s *session) transact(from string, rcpts []string, body store.Body, remote string) ([]Result, sessionState) {
	r, err := body.Open()
	if err != nil {
		// Nothing was said: the session is as it was.
		return resultsFor(rcpts, bodyError(err), ""), sessionOK
	}
	defer r.Close()
	opts := &gosmtp.MailOptions{Size: body.Size()}
	from = wireAddress(from)
	wire := make([]string, len(rcpts))
	for i, a := range rcpts {
		wire[i] = wireAddress(a)
	}
	if !isASCII(from) || !allASCII(wire) {
		opts.UTF8 = true
	}
	s.uses++
	if err := s.c.Mail(from, opts); err != nil {
		st := sessionBroken
		switch {
		case deadSession(err):
			st = sessionStale
		case isRefusal(err):
			if err := s.rset(); err == nil {
				st = sessionOK
			} else if deadSession(err) {
				// Some servers answer their idle timeout with a 4xx
				// (not 421) before hanging up: the refusal was not
				// about this message.
				st = sessionStale
			}
		}
		return resultsFor(rcpts, mailError(err), remote), st
	}
	results := make([]Result, 0, len(rcpts))
	var accepted []string
	healthy := true
	for i, a := range rcpts {
		if err := s.c.Rcpt(wire[i], nil); err != nil {
			healthy = healthy && isRefusal(err)
			results = append(results, resultFor(a, err, remote))
			continue
		}
		accepted = append(accepted, a)
	}
	if len(accepted) == 0 {
		if healthy && s.rset() == nil {
			return results, sessionOK
		}
		return results, sessionBroken
	}
	w, err := s.c.Data()
	if err != nil {
		st := sessionBroken
		if healthy && isRefusal(err) && s.rset() == nil {
			st = sessionOK
		}
		return append(results, resultsFor(accepted, err, remote)...), st
	}
	if err := s.writeBody(w, r, body.Size()); err != nil {
		// Never end DATA after a partial body: the peer would accept a
		// truncated message. Dropping the connection makes it discard the
		// transaction.
		s.abort()
		var be *bodyReadError
		if errors.As(err, &be) {
			return append(results, resultsFor(accepted, be.err, "")...), sessionBroken
		}
		return append(results, resultsFor(accepted, fmt.Errorf("DATA: %w", err), remote)...), sessionBroken
	}
	resp, err := w.CloseWithResponse()
	out := resultsFor(accepted, err, remote)
	if err == nil {
		for i := range out {
			out[i].Reply = "250 " + oneLine(resp.StatusText)
		}
	}
	// The server answered the end of DATA: whatever it said, the
	// transaction is over and the session is in a known state.
	st := sessionOK
	if !healthy || (err != nil && !isRefusal(err)) {
		st = sessionBroken
	}
	return append(results, out...), st
}

// isRefusal reports whether err is an ordinary SMTP reply refusing a
// command, one after which the session goes on: any reply but 421, with
// which the server announces that it is closing the connection.
func isRefusal(err error) bool {
	var se *gosmtp.SMTPError
	return errors.As(err, &se) && se.Code != 421
}

// deadSession reports whether err says that the connection is gone: the
// peer closed or reset it (EOF, a network error, a timeout) or announced
// that it is closing it (421).
func deadSession(err error) bool {
	var se *gosmtp.SMTPError
	if errors.As(err, &se) {
		return se.Code == 421
	}
	var ne net.Error
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) || errors.As(err, &ne)
}

// rset ends the transaction in progress. go-smtp's Client.Reset would also
// forget the EHLO, so that the next MAIL says EHLO again: a round trip
// more, and a server may forget the AUTH with it. So RSET is said here,
// over the connection the client speaks on: the client has flushed what
// it wrote and, the server having answered, has nothing buffered to read.
// The reply is read an octet at a time so that nothing past it is taken
// from the client.
func (s *session) rset() error {
	s.conn.SetDeadline(time.Now().Add(s.timeout))
	defer s.conn.SetDeadline(time.Time{})
	if _, err := io.WriteString(s.wire, "RSET\r\n"); err != nil {
		return err
	}
	tp := textproto.NewReader(bufio.NewReader(octetReader{s.wire}))
	if _, _, err := tp.ReadResponse(250); err != nil {
		return smtpError(err)
	}
	return nil
}

// octetReader reads at most one octet at a time.
type octetReader struct{ r io.Reader }

func (o octetReader) Read(p []byte) (int, error) {
	if len(p) > 1 {
		p = p[:1]
	}
	return o.r.Read(p)
}

// bodyChunk is the most of a body written under one write deadline, and
// the size of the buffers in bodyBufs.
const bodyChunk = 64 << 10

// bodyBufs hold the buffers through which bodies go to the network, so
// that concurrent deliveries of large bodies cost bodyChunk each, not
// their size; up to 64 are kept across garbage collections.
var bodyBufs = bufpool.New(64, bodyChunk, bodyChunk)

// bodyReadError is a failure to read the queued body (a local problem, not
// the peer's).
type bodyReadError struct{ err error }

func (e *bodyReadError) Error() string { return e.err.Error() }
func (e *bodyReadError) Unwrap() error { return e.err }

// bodyError describes a failure to read a queued body. A spool file that
// is gone will not come back, so its recipients fail at once (and their
// sender learns of it) instead of being retried until the lifetime ends;
// any other failure is temporary.
func bodyError(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return &permanentError{status: "5.3.0", msg: "the queued copy of the message is missing (spool file gone)"}
	}
	return fmt.Errorf("read queued body: %w", err)
}

// writeBody copies the body from r in chunks, each under a fresh write
// deadline: go-smtp bounds commands and replies but not the body, and a
// peer that stops reading must not hold a worker for ever, while a large
// body on a slow link that keeps moving is fine. A body that is not size
// octets long is an error (a damaged spool file): it is not sent as it is.
func (s *session) writeBody(w io.Writer, r io.Reader, size int64) error {
	bp := bodyBufs.Get()
	defer bodyBufs.Put(bp)
	buf := *bp
	defer s.conn.SetWriteDeadline(time.Time{})
	var sent int64
	for {
		n, rerr := io.ReadFull(r, buf)
		if n > 0 {
			s.conn.SetWriteDeadline(time.Now().Add(s.timeout))
			if _, err := w.Write(buf[:n]); err != nil {
				return err
			}
			sent += int64(n)
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			return &bodyReadError{bodyError(rerr)}
		}
	}
	if sent != size {
		return &bodyReadError{fmt.Errorf("read queued body: %d octets, want %d", sent, size)}
	}
	return nil
}

// abort drops the connection in the middle of a transaction.
func (s *session) abort() {
	s.conn.Close()
}

// mailError turns go-smtp's local refusal of a UTF-8 envelope into the
// permanent failure RFC 6531 asks for.
func mailError(err error) error {
	if strings.Contains(err.Error(), "SMTPUTF8") {
		return &permanentError{status: "5.6.7", msg: "the remote server does not support SMTPUTF8 (non-ASCII address)"}
	}
	return err
}

// wireAddress is addr as it is sent: an IDN domain as its A-labels
// (punycode) when the local part is ASCII, so that such an address needs
// no SMTPUTF8 from the peer (RFC 6531 section 3.2: the two forms name the
// same domain). The stored address is never changed; anything else, or a
// domain that does not convert, is sent as it is.
func wireAddress(addr string) string {
	at := strings.LastIndexByte(addr, '@')
	if at < 0 || isASCII(addr[at+1:]) || !isASCII(addr[:at]) {
		return addr
	}
	d, err := address.ASCIIDomain(addr[at+1:])
	if err != nil {
		return addr
	}
	return addr[:at+1] + d
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func allASCII(ss []string) bool {
	for _, s := range ss {
		if !isASCII(s) {
			return false
		}
	}
	return true
}
