package delivery

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"
)

// sinkMsg is one message a sink accepted.
type sinkMsg struct {
	From     string
	To       []string
	Data     []byte
	TLS      bool
	AuthUser string
	Helo     string
}

// sinkHooks decide the sink's replies; nil accepts. They run on the
// sink's connection goroutines.
type sinkHooks struct {
	Mail func(from string) error
	Rcpt func(to string) error
	Data func() error
}

// sink is an in-process SMTP server on 127.0.0.1 that records what it
// accepts.
type sink struct {
	t     testing.TB
	Addr  string
	users map[string]string

	mu       sync.Mutex
	hooks    sinkHooks
	msgs     []sinkMsg
	sessions int
	got      chan sinkMsg
}

type sinkOptions struct {
	TLS      *tls.Config       // STARTTLS (or implicit TLS) with this config
	Implicit bool              // TLS from the first byte
	Users    map[string]string // AUTH PLAIN accounts
}

func newSink(t testing.TB, o sinkOptions) *sink {
	t.Helper()
	s := &sink{t: t, users: o.Users, got: make(chan sinkMsg, 100)}
	srv := gosmtp.NewServer(gosmtp.BackendFunc(func(c *gosmtp.Conn) (gosmtp.Session, error) {
		s.mu.Lock()
		s.sessions++
		s.mu.Unlock()
		return &sinkSession{s: s, c: c}, nil
	}))
	srv.Domain = "sink.test"
	srv.ReadTimeout = 30 * time.Second
	srv.WriteTimeout = 30 * time.Second
	srv.EnableSMTPUTF8 = true
	srv.ErrorLog = log.New(io.Discard, "", 0)
	srv.TLSConfig = o.TLS
	var ln net.Listener
	var err error
	if o.Implicit {
		ln, err = tls.Listen("tcp", "127.0.0.1:0", o.TLS)
	} else {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		t.Fatal(err)
	}
	s.Addr = ln.Addr().String()
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return s
}

func (s *sink) setHooks(h sinkHooks) {
	s.mu.Lock()
	s.hooks = h
	s.mu.Unlock()
}

func (s *sink) getHooks() sinkHooks {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hooks
}

// messages is a copy of what the sink accepted so far.
func (s *sink) messages() []sinkMsg {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sinkMsg(nil), s.msgs...)
}

// sessionCount is how many sessions (EHLOs) the sink has seen.
func (s *sink) sessionCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions
}

// wait returns the next accepted message, failing the test after 10s.
func (s *sink) wait() sinkMsg {
	s.t.Helper()
	select {
	case m := <-s.got:
		return m
	case <-time.After(10 * time.Second):
		s.t.Fatal("timed out waiting for a message at the sink")
		return sinkMsg{}
	}
}

type sinkSession struct {
	s    *sink
	c    *gosmtp.Conn
	msg  sinkMsg
	user string
}

func (ss *sinkSession) AuthMechanisms() []string {
	if len(ss.s.users) == 0 {
		return nil
	}
	return []string{sasl.Plain}
}

func (ss *sinkSession) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if p, ok := ss.s.users[username]; !ok || p != password {
			return gosmtp.ErrAuthFailed
		}
		ss.user = username
		return nil
	}), nil
}

func (ss *sinkSession) Mail(from string, _ *gosmtp.MailOptions) error {
	if len(ss.s.users) > 0 && ss.user == "" {
		return gosmtp.ErrAuthRequired
	}
	if h := ss.s.getHooks().Mail; h != nil {
		if err := h(from); err != nil {
			return err
		}
	}
	_, isTLS := ss.c.TLSConnectionState()
	ss.msg = sinkMsg{From: from, TLS: isTLS, AuthUser: ss.user, Helo: ss.c.Hostname()}
	return nil
}

func (ss *sinkSession) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	if h := ss.s.getHooks().Rcpt; h != nil {
		if err := h(to); err != nil {
			return err
		}
	}
	ss.msg.To = append(ss.msg.To, to)
	return nil
}

func (ss *sinkSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if h := ss.s.getHooks().Data; h != nil {
		if err := h(); err != nil {
			return err
		}
	}
	ss.msg.Data = b
	ss.s.mu.Lock()
	ss.s.msgs = append(ss.s.msgs, ss.msg)
	ss.s.mu.Unlock()
	ss.s.got <- ss.msg
	return nil
}

func (ss *sinkSession) Reset()        { ss.msg = sinkMsg{} }
func (ss *sinkSession) Logout() error { return nil }

// reply is an SMTP error reply for hooks.
func reply(code int, enhanced string, msg string) error {
	var ec gosmtp.EnhancedCode
	fmt.Sscanf(enhanced, "%d.%d.%d", &ec[0], &ec[1], &ec[2])
	return &gosmtp.SMTPError{Code: code, EnhancedCode: ec, Message: msg}
}

// greeter is a server that answers every connection with one line (a 421
// greeting, say) and hangs up.
func greeter(t testing.TB, line string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			fmt.Fprintf(c, "%s\r\n", line)
			c.Close()
		}
	}()
	return ln.Addr().String()
}

// selfSigned makes a certificate for 127.0.0.1 and localhost, and its PEM.
func selfSigned(t testing.TB) (tls.Certificate, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "sink.test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	return cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// fakeDNS is a Resolver answering from maps; a name it does not know does
// not exist (NXDOMAIN).
type fakeDNS struct {
	mu     sync.Mutex
	mx     map[string][]*net.MX
	ip     map[string][]string
	lookup []string // names asked, "MX name" or "IP name"
}

func (f *fakeDNS) LookupMX(_ context.Context, name string) ([]*net.MX, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lookup = append(f.lookup, "MX "+name)
	if recs, ok := f.mx[name]; ok {
		return recs, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

func (f *fakeDNS) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lookup = append(f.lookup, "IP "+host)
	ips, ok := f.ip[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	var out []net.IPAddr
	for _, s := range ips {
		out = append(out, net.IPAddr{IP: net.ParseIP(s)})
	}
	return out, nil
}

func (f *fakeDNS) asked() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.lookup...)
}

// fakeNet maps the addresses the engine dials (an MX's IP at port 25) to
// the sinks' real addresses; loopback addresses are dialed as they are,
// anything else is refused. It records every address dialed.
type fakeNet struct {
	mu     sync.Mutex
	routes map[string]string
	dialed []string
}

func (n *fakeNet) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	n.mu.Lock()
	n.dialed = append(n.dialed, addr)
	to, ok := n.routes[addr]
	n.mu.Unlock()
	if !ok {
		host, _, _ := net.SplitHostPort(addr)
		if host != "127.0.0.1" {
			return nil, &net.OpError{Op: "dial", Net: network, Err: errors.New("connection refused")}
		}
		to = addr
	}
	var d net.Dialer
	return d.DialContext(ctx, network, to)
}

func (n *fakeNet) calls() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.dialed...)
}
