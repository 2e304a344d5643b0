// Package inbound is careerrelay's SMTP server side: the listeners the
// company's MTA connects to, the relay policy (AUTH or an allowed network,
// and a tenant's sender), limits, and the handing of each accepted message
// to the pipeline, answering 250 only once it is durable.
package inbound

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/careerrelay/careerrelay/configs"
	"github.com/careerrelay/careerrelay/internal/pipeline"
	"github.com/careerrelay/careerrelay/internal/spill"
	"github.com/careerrelay/careerrelay/smtp/ingress"
	gosmtp "github.com/emersion/go-smtp"
)

// Acceptor takes an accepted message; the pipeline is the real one.
type Acceptor interface {
	Accept(ctx context.Context, env pipeline.Envelope, msg []byte) ([]string, error)
}

// Server holds the SMTP listeners.
type Server struct {
	cfg    *configs.Config
	accept Acceptor
	log    *slog.Logger
	users  *users
	auth   *authGuard // AUTH failure budgets
	tls    *tls.Config
	now    func() time.Time
	// tempFile makes the unlinked file a large DATA spills to (see
	// package spill; Options.TempFile).
	tempFile func() (*os.File, error)
	ingress  *ingress.Checker

	// limits count the connections of all listeners together.
	limits *connLimits

	mu      sync.Mutex
	servers []*gosmtp.Server
	addrs   []net.Addr
}

// Options tune a Server. The zero value holds large messages in the
// system's temporary folder.
type Options struct {
	// Ingress decides whose mail each message is; nil is
	// ingress.New(cfg) with the system resolver.
	Ingress *ingress.Checker
	// TempFile returns an unlinked file for a large message while it is
	// received (store.DB.TempFile does, in the store's folder); nil is
	// spill.TempFile.
	TempFile func() (*os.File, error)
}

// New prepares a server; Listen opens its listeners.
func New(cfg *configs.Config, accept Acceptor, log *slog.Logger, opts Options) (*Server, error) {
	s := &Server{cfg: cfg, accept: accept, log: log, users: newUsers(cfg.SMTP.Users), now: time.Now, tempFile: opts.TempFile}
	s.auth = newAuthGuard(func() time.Time { return s.now() })
	if n := costs(s.users.hashes); len(n) > 1 {
		s.log.Warn("smtp.users: the password hashes have different bcrypt costs; AUTH's answer time tells users of a cost other than the most common one apart from unknown names: rehash them at one cost", "hashes_by_cost", fmt.Sprint(n))
	}
	if s.tempFile == nil {
		s.tempFile = spill.TempFile
	}
	s.ingress = opts.Ingress
	if s.ingress == nil {
		s.ingress = ingress.New(cfg, ingress.Options{})
	}
	s.limits = newConnLimits(cfg.SMTP.MaxConnections, cfg.SMTP.MaxConnectionsPerClient, s.ingress.Trusted)
	if cfg.SMTP.TLS.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.SMTP.TLS.CertFile, cfg.SMTP.TLS.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("smtp tls: %w", err)
		}
		s.tls = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	return s, nil
}

func (s *Server) newGoSMTP() *gosmtp.Server {
	c := s.cfg.SMTP
	gs := gosmtp.NewServer(gosmtp.BackendFunc(s.newSession))
	gs.Domain = c.Hostname
	gs.TLSConfig = s.tls
	gs.MaxMessageBytes = c.MaxMessageBytes
	gs.MaxLineLength = c.MaxLineLength
	gs.AllowInsecureAuth = c.AllowInsecureAuth
	gs.ReadTimeout = c.ReadTimeout
	gs.WriteTimeout = c.WriteTimeout
	gs.EnableSMTPUTF8 = true
	gs.ErrorLog = slogPrinter{s.log}
	// MaxRecipients stays 0: Session.Rcpt enforces it, so that refusals
	// are counted in careerrelay_smtp_rejected_total.
	return gs
}

// Listen opens smtp.listen (STARTTLS when a certificate is configured) and
// smtp.listen_tls (implicit TLS) and serves them in the background.
func (s *Server) Listen() error {
	if err := s.listen(s.cfg.SMTP.Listen, false); err != nil {
		s.Close()
		return err
	}
	if s.cfg.SMTP.ListenTLS != "" {
		if err := s.listen(s.cfg.SMTP.ListenTLS, true); err != nil {
			s.Close()
			return err
		}
	}
	return nil
}

func (s *Server) listen(addr string, implicitTLS bool) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("smtp listen %s: %w", addr, err)
	}
	var ln net.Listener = &limitListener{Listener: l, limits: s.limits, preAuth: s.cfg.SMTP.PreAuthTimeout,
		admitted: func(ip netip.Addr) bool { return s.ingress.Admit(ingress.Client{IP: ip}) }}
	if implicitTLS {
		ln = tls.NewListener(ln, s.tls)
	}
	gs := s.newGoSMTP()
	s.mu.Lock()
	s.servers = append(s.servers, gs)
	s.addrs = append(s.addrs, l.Addr())
	s.mu.Unlock()
	go func() {
		if err := gs.Serve(ln); err != nil && !errors.Is(err, net.ErrClosed) {
			s.log.Error("smtp listener stopped", "addr", addr, "err", err)
		}
	}()
	return nil
}

// Addrs are the addresses actually listened on (plain first).
func (s *Server) Addrs() []net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]net.Addr(nil), s.addrs...)
}

// Shutdown stops accepting and waits for sessions to end until ctx is done,
// then closes what is left. A session cut off mid-DATA got no 250, so the
// client keeps its message and retries.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	servers := s.servers
	s.mu.Unlock()
	var errs []error
	for _, gs := range servers {
		if err := gs.Shutdown(ctx); err != nil {
			gs.Close()
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, net.ErrClosed) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// Close stops everything at once.
func (s *Server) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, gs := range s.servers {
		gs.Close()
	}
}

func (s *Server) newSession(c *gosmtp.Conn) (gosmtp.Session, error) {
	ip := remoteIP(c.Conn().RemoteAddr())
	_, isTLS := c.TLSConnectionState()
	sess := &session{srv: s, conn: c, id: newSessionID(), ip: ip, tls: isTLS}
	sess.log = s.log.With("conn", sess.id)
	if sess.log.Enabled(context.Background(), slog.LevelDebug) {
		sess.log.Debug("session", "client", ip.String(), "helo", c.Hostname(), "tls", isTLS, "admitted", s.ingress.Admit(sess.client()))
	}
	return sess, nil
}

// slogPrinter lets go-smtp's own messages reach our logger.
type slogPrinter struct{ log *slog.Logger }

func (p slogPrinter) Printf(format string, v ...interface{}) {
	p.log.Debug("smtp: " + fmt.Sprintf(format, v...))
}

func (p slogPrinter) Println(v ...interface{}) { p.log.Debug("smtp: " + fmt.Sprint(v...)) }
