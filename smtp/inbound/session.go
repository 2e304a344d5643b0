package inbound

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/careerrelay/careerrelay/configs"
	"github.com/careerrelay/careerrelay/internal/address"
	"github.com/careerrelay/careerrelay/internal/bufpool"
	"github.com/careerrelay/careerrelay/internal/metrics"
	"github.com/careerrelay/careerrelay/internal/pipeline"
	"github.com/careerrelay/careerrelay/internal/spill"
	"github.com/careerrelay/careerrelay/smtp/ingress"
	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"
)

// session is one SMTP connection (go-smtp makes a new one after STARTTLS).
type session struct {
	srv  *Server
	conn *gosmtp.Conn
	id   string
	ip   netip.Addr
	log  *slog.Logger

	tls  bool
	user string // authenticated user, "" when none
	seq  int    // transactions so far, for ids

	// authFails counts this connection's failed AUTH attempts.
	authFails int
	// denied counts the MAIL commands refused by the relay policy.
	denied int

	// the transaction in progress
	from     string
	fromSeen bool
	utf8     bool // the client said SMTPUTF8 on MAIL
	rcpts    []string
}

func newSessionID() string {
	var b [6]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (s *session) AuthMechanisms() []string { return []string{sasl.Plain, sasl.Login} }

func (s *session) Auth(mech string) (sasl.Server, error) {
	check := func(user, pass string) error {
		reason, reply := "auth_blocked", errAuthBlocked
		if !s.srv.auth.blocked(s.ip, user) {
			wait := s.srv.cfg.SMTP.WriteTimeout
			if wait <= 0 {
				wait = 30 * time.Second
			}
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			err := s.srv.users.check(ctx, user, pass)
			cancel()
			if err == nil {
				s.user = user
				s.log.Info("authenticated", "user", user)
				if c := s.limited(); c != nil {
					c.authenticated()
				}
				return nil
			}
			if errors.Is(err, gosmtp.ErrAuthFailed) {
				s.srv.auth.fail(s.ip, user)
				reason, reply = "auth_failed", gosmtp.ErrAuthFailed
			}
		}
		s.authFails++
		s.log.Warn("auth failed", "user", user, "reason", reason, "failures", s.authFails)
		if s.authFails >= maxAuthFails {
			s.closeAfterReply()
			reply = errAuthTooMany
		}
		return s.reject(reason, reply)
	}
	switch mech {
	case sasl.Plain:
		return plainServer(check), nil
	case sasl.Login:
		return &loginServer{check: check}, nil
	}
	return nil, gosmtp.ErrAuthUnknownMechanism
}

// closeAfterReply makes the connection close once the next reply is
// written (see limitedConn).
func (s *session) closeAfterReply() {
	if c := s.limited(); c != nil {
		c.closeAfterWrite.Store(true)
		return
	}
	// Not from our listener: the next read fails at once, and go-smtp
	// closes the connection.
	s.conn.Conn().SetReadDeadline(time.Now())
}

// limited is the session's connection as our listener accepted it, under
// any TLS; nil when it did not come from one.
func (s *session) limited() *limitedConn {
	nc := s.conn.Conn()
	for {
		switch c := nc.(type) {
		case *limitedConn:
			return c
		case interface{ NetConn() net.Conn }: // TLS
			nc = c.NetConn()
		default:
			return nil
		}
	}
}

func (s *session) reject(reason string, err *gosmtp.SMTPError) error {
	metrics.Rejected.WithLabelValues(reason).Inc()
	s.log.Info("refused", "reason", reason, "code", err.Code)
	return err
}

func (s *session) Mail(from string, opts *gosmtp.MailOptions) error {
	if !s.srv.ingress.Admit(s.client()) {
		// A client that may not relay has nothing more to do here: its
		// last try is answered 421 and the connection closed, so that
		// it does not keep a place other clients need (issue 13).
		s.denied++
		if s.denied >= maxRelayDenied {
			s.closeAfterReply()
			return s.reject("relay_denied", errRelayDeniedClose)
		}
		return s.reject("relay_denied", errRelayDenied)
	}
	utf8 := opts != nil && opts.UTF8
	if from != "" {
		var err error
		if from, err = address.Check(from, utf8); err != nil {
			return s.refuseAddress("MAIL", err)
		}
	}
	if opts != nil && opts.Size > s.srv.cfg.SMTP.MaxMessageBytes {
		return s.reject("too_large", gosmtp.ErrDataTooLarge)
	}
	s.from, s.fromSeen, s.utf8, s.rcpts = from, true, utf8, nil
	return nil
}

func (s *session) Rcpt(to string, opts *gosmtp.RcptOptions) error {
	to, err := address.Check(to, s.utf8)
	if err == nil {
		err = address.Deliverable(to[strings.LastIndexByte(to, '@')+1:])
	}
	if err != nil {
		return s.refuseAddress("RCPT", err)
	}
	if max := s.srv.cfg.SMTP.MaxRecipients; max > 0 && len(s.rcpts) >= max {
		return s.reject("too_many_rcpts", errTooManyRcpts)
	}
	s.rcpts = append(s.rcpts, to)
	return nil
}

// refuseAddress answers an address that address.Check or Deliverable
// refused: 553 5.6.7 for non-ASCII without SMTPUTF8, 550 5.1.2 for a
// domain careerrelay never delivers to, 501 5.1.3 for the rest.
func (s *session) refuseAddress(cmd string, err error) error {
	s.log.Info("address refused", "cmd", cmd, "err", err)
	switch {
	case errors.Is(err, address.ErrNeedsUTF8):
		return s.reject("bad_address", errNeedsUTF8)
	case errors.Is(err, address.ErrUndeliverable):
		return s.reject("bad_domain", errUndeliverable)
	}
	return s.reject("bad_address", errBadAddress)
}

func (s *session) Data(r io.Reader) error {
	s.seq++
	txID := s.id + "-" + strconv.Itoa(s.seq)
	log := s.log.With("tx", txID)
	now := s.srv.now()
	buf := spill.New(spill.DefaultLimit, s.srv.tempFile)
	defer buf.Close()
	// The trace field first, so that the message needs no copy to get it.
	received := receivedHeader(s.conn.Hostname(), s.ip, s.srv.cfg.SMTP.Hostname, txID, s.tls, s.user != "", now) +
		ingress.ProcessedHeader + ": " + s.srv.cfg.SMTP.Hostname + "\r\n"
	io.WriteString(buf, received)
	norm := &crlfWriter{w: buf}
	cp := copyBuffers.Get()
	_, err := io.CopyBuffer(norm, r, *cp)
	copyBuffers.Put(cp)
	if err == nil {
		err = norm.Close()
	}
	if err != nil {
		if errors.Is(err, gosmtp.ErrDataTooLarge) {
			return s.reject("too_large", gosmtp.ErrDataTooLarge)
		}
		if errors.Is(err, gosmtp.ErrTooLongLine) {
			return s.reject("line_too_long", errLineTooLong)
		}
		log.Warn("reading DATA failed", "err", err)
		return Reply(err)
	}
	// A large message is mapped from its file: this may wait while other
	// large messages are processed (see package spill).
	msg, err := buf.Bytes()
	if err != nil {
		log.Error("reading back DATA failed", "err", err)
		return Reply(err)
	}
	recv := len(received)
	header := msg[recv : recv+headerEnd(msg[recv:])]
	// Before anything reads the header: its size bounds what parsing,
	// verifying and signing it cost (issue 13).
	if max := s.srv.cfg.SMTP.MaxHeaderBytes; max > 0 && headerSize(header) > max {
		return s.reject("header_too_large", errHeaderTooLarge)
	}

	ctx, cancel := context.WithTimeout(context.Background(), s.srv.cfg.SMTP.WriteTimeout)
	defer cancel()
	verdict, refusal := s.srv.ingress.Check(ctx, s.client(), s.from, s.rcpts, msg[recv:])
	if refusal != nil {
		return s.reject(refusal.Reason, refusal.Reply)
	}
	tenant := verdict.Tenant
	if tenant != nil {
		metrics.Ingress.WithLabelValues(tenant.ID, verdict.Proof).Inc()
	}

	env := pipeline.Envelope{From: s.from, Rcpts: s.rcpts, Tenant: tenant, SessionID: txID, Received: now}
	ids, err := s.srv.enqueue(ctx, log, env, verdict.Proof, msg, recv, header)
	if err != nil {
		return Reply(err)
	}
	return queued(ids[0])
}

// enqueue is the end of every accepted message, from SMTP DATA or the
// tenant API: the ingress header goes, a Message-ID is added when the
// client sent none, and the pipeline queues the copies. msg is the
// message after careerrelay's own fields (recv octets), header its
// header section. An error is local trouble (451, or 503 over HTTP).
func (s *Server) enqueue(ctx context.Context, log *slog.Logger, env pipeline.Envelope, proof string, msg []byte, recv int, header []byte) ([]string, error) {
	// The proof header never travels on.
	full := ingress.Strip(msg, ingress.IngressHeader)
	msgID, ok := headerValue(header, "Message-ID")
	if !ok {
		msgID = newMessageID(s.cfg.SMTP.Hostname)
		field := "Message-ID: " + msgID + "\r\n"
		withID := make([]byte, 0, len(full)+len(field))
		full = append(append(append(withID, full[:recv]...), field...), full[recv:]...)
	}
	env.MessageID = msgID
	ids, err := s.accept.Accept(ctx, env, full)
	if err != nil {
		metrics.Rejected.WithLabelValues("local_error").Inc()
		log.Error("message not accepted", "err", err)
		return nil, err
	}
	metrics.MessagesReceived.WithLabelValues(tenantID(env.Tenant)).Inc()
	log.Info("queued", "ids", ids, "tenant", tenantID(env.Tenant), "proof", proof, "rcpts", len(env.Rcpts), "size", len(full))
	return ids, nil
}

// copyBuffers are the buffers DATA is read through (io.Copy would make a
// new 32 KB one per message), kept across garbage collections.
var copyBuffers = bufpool.New(64, 32<<10, 32<<10)

func (s *session) Reset() {
	s.from, s.fromSeen, s.utf8, s.rcpts = "", false, false, nil
}

func (s *session) Logout() error { return nil }

// client is what the ingress rules know of the peer.
func (s *session) client() ingress.Client { return ingress.Client{IP: s.ip, User: s.user} }

func tenantID(t *configs.Tenant) string {
	if t == nil {
		return ""
	}
	return t.ID
}
