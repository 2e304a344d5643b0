package testlib

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// DNS is an authoritative DNS server on 127.0.0.1 for tests, over UDP and
// TCP on the same port, serving the records a test sets: TXT (DKIM keys),
// MX, A and AAAA. Every answer carries the AA bit and echoes the question;
// a name the test never set is NXDOMAIN, a set name without records of the
// asked type is an empty NOERROR answer. A UDP answer over 512 octets is
// sent truncated (TC set, no records), so that the client asks again over
// TCP, as Go's resolver does; EDNS0 OPT records in queries are ignored.
// Fail makes a name answer an error code, Drop makes it never answer.
//
// Its methods may be called from any goroutine, while it serves.
type DNS struct {
	Addr string // "127.0.0.1:PORT", for UDP and TCP alike

	udp net.PacketConn
	tcp net.Listener
	wg  sync.WaitGroup

	mu      sync.Mutex
	closed  bool
	conns   map[net.Conn]struct{}
	names   map[string]*dnsEntry // by canonical name: lower case, with the final dot
	queries []string
}

// dnsEntry is what DNS serves for one name.
type dnsEntry struct {
	txt  [][]string // one record per element, each split into character-strings
	mx   []net.MX
	a    [][4]byte
	aaaa [][16]byte
	// fail, when set, is the error code every query of the name is
	// answered with; drop, when set, leaves every query unanswered.
	fail *dnsmessage.RCode
	drop bool
}

// maxUDPAnswer is the largest answer sent over UDP: the RFC 1035 limit,
// whatever EDNS0 buffer size the query offers.
const maxUDPAnswer = 512

// dnsTTL is the TTL of every record served.
const dnsTTL = 60

// NewDNS starts a DNS server on a free port of 127.0.0.1, UDP and TCP,
// and stops it when t ends. It serves nothing until records are set.
func NewDNS(t testing.TB) *DNS {
	t.Helper()
	d := &DNS{conns: map[net.Conn]struct{}{}, names: map[string]*dnsEntry{}}
	var lastErr error
	for range 10 {
		udp, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("testlib: dns: udp listen: %v", err)
		}
		tcp, err := net.Listen("tcp", udp.LocalAddr().String())
		if err != nil {
			// The port is free for UDP but taken for TCP: try another.
			udp.Close()
			lastErr = err
			continue
		}
		d.udp, d.tcp, d.Addr = udp, tcp, udp.LocalAddr().String()
		break
	}
	if d.udp == nil {
		t.Fatalf("testlib: dns: no port free for both UDP and TCP: %v", lastErr)
	}
	d.wg.Add(2)
	go d.serveUDP()
	go d.serveTCP()
	t.Cleanup(d.close)
	return d
}

// close stops the server and waits for its goroutines.
func (d *DNS) close() {
	d.mu.Lock()
	d.closed = true
	for c := range d.conns {
		c.Close()
	}
	d.mu.Unlock()
	d.udp.Close()
	d.tcp.Close()
	d.wg.Wait()
}

// canonicalName returns name in lower case with a final dot, the key of
// DNS.names: "Sel._DomainKey.example.com" and "sel._domainkey.example.com."
// are the same name.
func canonicalName(name string) string {
	return strings.ToLower(strings.TrimSuffix(name, ".")) + "."
}

// entry returns the entry of name, made if needed. d.mu must be held.
func (d *DNS) entry(name string) *dnsEntry {
	key := canonicalName(name)
	if _, err := dnsmessage.NewName(key); err != nil {
		panic(fmt.Sprintf("testlib: dns: bad name %q: %v", name, err))
	}
	e := d.names[key]
	if e == nil {
		e = &dnsEntry{}
		d.names[key] = e
	}
	return e
}

// SetTXT replaces the TXT records of name (case-insensitive, the final dot
// optional) with one record per value. A value longer than 255 octets is
// sent as several character-strings, which resolvers join, as a DKIM key
// record of a 2048-bit RSA key needs. With no values, name exists without
// TXT records.
func (d *DNS) SetTXT(name string, values ...string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	e := d.entry(name)
	e.txt = nil
	for _, v := range values {
		e.txt = append(e.txt, splitTXT(v))
	}
}

// SetMX replaces the MX records of name.
func (d *DNS) SetMX(name string, mxs ...net.MX) {
	d.mu.Lock()
	defer d.mu.Unlock()
	e := d.entry(name)
	for _, mx := range mxs {
		if _, err := dnsmessage.NewName(canonicalName(mx.Host)); err != nil {
			panic(fmt.Sprintf("testlib: dns: bad MX host %q: %v", mx.Host, err))
		}
	}
	e.mx = append([]net.MX(nil), mxs...)
}

// SetA replaces the address records of name: A records for the IPv4
// addresses of addrs, AAAA records for the IPv6 ones.
func (d *DNS) SetA(name string, addrs ...netip.Addr) {
	d.mu.Lock()
	defer d.mu.Unlock()
	e := d.entry(name)
	e.a, e.aaaa = nil, nil
	for _, a := range addrs {
		a = a.Unmap()
		if a.Is4() {
			e.a = append(e.a, a.As4())
		} else {
			e.aaaa = append(e.aaaa, a.As16())
		}
	}
}

// Fail makes every query of name, of any type, answered with rcode
// (dnsmessage.RCodeServerFailure for SERVFAIL) and no records, until
// Remove.
func (d *DNS) Fail(name string, rcode dnsmessage.RCode) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.entry(name).fail = &rcode
}

// Drop makes every query of name go unanswered, over UDP and TCP, so that
// the client times out, until Remove.
func (d *DNS) Drop(name string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.entry(name).drop = true
}

// Remove forgets name, its records, Fail and Drop: it is NXDOMAIN again.
func (d *DNS) Remove(name string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.names, canonicalName(name))
}

// Queries returns the names asked so far, in order of arrival, in lower
// case without the final dot: one per query received, so a lookup
// retried over TCP after a truncated answer, or a name asked for A and
// AAAA, appears more than once. Queries that could not be parsed are not
// counted.
func (d *DNS) Queries() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.queries...)
}

// serveUDP answers the queries of the UDP socket until it is closed.
func (d *DNS) serveUDP() {
	defer d.wg.Done()
	buf := make([]byte, 65535)
	for {
		n, addr, err := d.udp.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		resp := d.answer(buf[:n], true)
		if resp != nil {
			d.udp.WriteTo(resp, addr)
		}
	}
}

// serveTCP accepts TCP connections until the listener is closed.
func (d *DNS) serveTCP() {
	defer d.wg.Done()
	for {
		c, err := d.tcp.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		d.mu.Lock()
		if d.closed {
			d.mu.Unlock()
			c.Close()
			return
		}
		d.conns[c] = struct{}{}
		d.wg.Add(1)
		d.mu.Unlock()
		go d.serveConn(c)
	}
}

// serveConn answers the queries of one TCP connection, each message
// preceded by its length in two octets (RFC 1035 section 4.2.2), until
// the client hangs up or a minute passes idle.
func (d *DNS) serveConn(c net.Conn) {
	defer d.wg.Done()
	defer func() {
		d.mu.Lock()
		delete(d.conns, c)
		d.mu.Unlock()
		c.Close()
	}()
	var length [2]byte
	for {
		c.SetReadDeadline(time.Now().Add(time.Minute))
		if _, err := io.ReadFull(c, length[:]); err != nil {
			return
		}
		msg := make([]byte, binary.BigEndian.Uint16(length[:]))
		if _, err := io.ReadFull(c, msg); err != nil {
			return
		}
		resp := d.answer(msg, false)
		if resp == nil {
			continue
		}
		out := binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(resp)), uint16(len(resp)))
		if _, err := c.Write(append(out, resp...)); err != nil {
			return
		}
	}
}

// answer returns the response to the query msg, or nil to send none (a
// dropped name, or a message too broken to answer).
func (d *DNS) answer(msg []byte, udp bool) []byte {
	var p dnsmessage.Parser
	h, err := p.Start(msg)
	if err != nil || h.Response {
		return nil
	}
	rh := dnsmessage.Header{
		ID:               h.ID,
		Response:         true,
		OpCode:           h.OpCode,
		Authoritative:    true,
		RecursionDesired: h.RecursionDesired,
	}
	qs, err := p.AllQuestions()
	switch {
	case err != nil || len(qs) != 1:
		// The rest, EDNS0 OPT included, is not read at all.
		rh.Authoritative = false
		rh.RCode = dnsmessage.RCodeFormatError
		return build(rh, nil, nil)
	case h.OpCode != 0:
		rh.Authoritative = false
		rh.RCode = dnsmessage.RCodeNotImplemented
		return build(rh, qs, nil)
	}
	q := qs[0]

	d.mu.Lock()
	d.queries = append(d.queries, strings.TrimSuffix(strings.ToLower(q.Name.String()), "."))
	e := d.names[canonicalName(q.Name.String())]
	var answers []dnsmessage.Resource
	switch {
	case e == nil:
		rh.RCode = dnsmessage.RCodeNameError
	case e.drop:
		d.mu.Unlock()
		return nil
	case e.fail != nil:
		rh.RCode = *e.fail
	case q.Class == dnsmessage.ClassINET:
		answers = e.resources(q)
	}
	d.mu.Unlock()

	resp := build(rh, qs, answers)
	if udp && len(resp) > maxUDPAnswer {
		rh.Truncated = true
		resp = build(rh, qs, nil)
	}
	return resp
}

// resources returns e's records of the type q asks for. d.mu must be held.
func (e *dnsEntry) resources(q dnsmessage.Question) []dnsmessage.Resource {
	rh := func() dnsmessage.ResourceHeader {
		return dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: dnsTTL}
	}
	var out []dnsmessage.Resource
	switch q.Type {
	case dnsmessage.TypeTXT:
		for _, txt := range e.txt {
			out = append(out, dnsmessage.Resource{Header: rh(), Body: &dnsmessage.TXTResource{TXT: txt}})
		}
	case dnsmessage.TypeMX:
		for _, mx := range e.mx {
			out = append(out, dnsmessage.Resource{Header: rh(), Body: &dnsmessage.MXResource{
				Pref: mx.Pref,
				MX:   dnsmessage.MustNewName(canonicalName(mx.Host)),
			}})
		}
	case dnsmessage.TypeA:
		for _, a := range e.a {
			out = append(out, dnsmessage.Resource{Header: rh(), Body: &dnsmessage.AResource{A: a}})
		}
	case dnsmessage.TypeAAAA:
		for _, a := range e.aaaa {
			out = append(out, dnsmessage.Resource{Header: rh(), Body: &dnsmessage.AAAAResource{AAAA: a}})
		}
	}
	return out
}

// build packs a response. The records are made by the DNS's setters, so
// failing to pack them is a bug of this file: it panics.
func build(h dnsmessage.Header, qs []dnsmessage.Question, answers []dnsmessage.Resource) []byte {
	m := dnsmessage.Message{Header: h, Questions: qs, Answers: answers}
	resp, err := m.Pack()
	if err != nil {
		panic(fmt.Sprintf("testlib: dns: packing an answer: %v", err))
	}
	return resp
}

// splitTXT splits txt into the character-strings of one TXT record, each
// of at most 255 octets (RFC 1035 section 3.3.14).
func splitTXT(txt string) []string {
	out := []string{}
	for len(txt) > 255 {
		out = append(out, txt[:255])
		txt = txt[255:]
	}
	return append(out, txt)
}

// DKIMKeyRecord returns the DKIM key record (RFC 6376 section 3.6.1,
// RFC 8463) publishing pub, an *rsa.PublicKey or an ed25519.PublicKey:
// "v=DKIM1; k=rsa; p=<base64>", the same as smtp/dkim.TXTRecord, which
// testlib cannot import (smtp/dkim imports configs, whose tests import
// testlib). It panics on another key type.
func DKIMKeyRecord(pub crypto.PublicKey) string {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		der, err := x509.MarshalPKIXPublicKey(k)
		if err != nil {
			panic(fmt.Sprintf("testlib: encoding a DKIM key: %v", err))
		}
		return "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der)
	case ed25519.PublicKey:
		return "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(k)
	}
	panic(fmt.Sprintf("testlib: DKIMKeyRecord: unsupported key type %T", pub))
}
