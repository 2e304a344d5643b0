package testlib_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/careerrelay/careerrelay/internal/testlib"
	"github.com/careerrelay/careerrelay/smtp/dkim"
)

// resolver returns Go's own resolver sending every query to addr.
func resolver(addr string) *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}}
}

func lookupCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestDNSTXT(t *testing.T) {
	d := testlib.NewDNS(t)
	if !strings.HasPrefix(d.Addr, "127.0.0.1:") {
		t.Fatalf("Addr = %q", d.Addr)
	}
	d.SetTXT("Short.Example.COM.", "v=spf1 -all", "second")
	got, err := resolver(d.Addr).LookupTXT(lookupCtx(t), "short.example.com")
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	if want := []string{"second", "v=spf1 -all"}; !slices.Equal(got, want) {
		t.Errorf("LookupTXT = %q, want %q", got, want)
	}
	if q := d.Queries(); !slices.Contains(q, "short.example.com") {
		t.Errorf("Queries = %q, want short.example.com among them", q)
	}
}

// TestDNSDKIMKey serves the key records of RSA keys: both over 255
// octets, so several character-strings. The answer of a 2048-bit key
// (a record of 410 octets) still fits in 512 octets over UDP; the one of
// a 3072-bit key (582) does not, so the UDP answer is truncated and Go's
// resolver asks again over TCP.
func TestDNSDKIMKey(t *testing.T) {
	for _, tc := range []struct {
		bits      int
		truncated bool
	}{{2048, false}, {3072, true}} {
		t.Run(fmt.Sprint(tc.bits), func(t *testing.T) {
			key, err := rsa.GenerateKey(rand.Reader, tc.bits)
			if err != nil {
				t.Fatal(err)
			}
			record := testlib.DKIMKeyRecord(&key.PublicKey)
			if len(record) <= 255 {
				t.Fatalf("record is only %d octets", len(record))
			}
			d := testlib.NewDNS(t)
			name := "sel._domainkey.acme.onmicrosoft.com"
			d.SetTXT(name, record)

			// Over UDP: whole, or truncated with the question echoed and no
			// records.
			m := exchange(t, "udp", d.Addr, query(t, name, dnsmessage.TypeTXT, true))
			if m.Truncated != tc.truncated || m.RCode != dnsmessage.RCodeSuccess || len(m.Questions) != 1 {
				t.Errorf("UDP answer: TC=%v, %v, %d questions; want TC=%v, success, the question", m.Truncated, m.RCode, len(m.Questions), tc.truncated)
			}
			if tc.truncated && len(m.Answers) != 0 {
				t.Errorf("truncated UDP answer with %d records", len(m.Answers))
			}
			// Over TCP always whole, the value split into character-strings.
			for _, network := range []string{"udp", "tcp"} {
				m = exchange(t, network, d.Addr, query(t, name, dnsmessage.TypeTXT, true))
				if network == "udp" && tc.truncated {
					continue
				}
				if m.Truncated || len(m.Answers) != 1 {
					t.Fatalf("%s answer: TC=%v, %d answers; want the record", network, m.Truncated, len(m.Answers))
				}
				txt := m.Answers[0].Body.(*dnsmessage.TXTResource).TXT
				if len(txt) < 2 || strings.Join(txt, "") != record {
					t.Errorf("%s answer: %d strings, joining to the record: %v", network, len(txt), strings.Join(txt, "") == record)
				}
				for _, s := range txt {
					if len(s) > 255 {
						t.Errorf("a character-string of %d octets", len(s))
					}
				}
			}

			before := len(d.Queries())
			got, err := resolver(d.Addr).LookupTXT(lookupCtx(t), name)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || got[0] != record {
				t.Errorf("LookupTXT = %q, want the record", got)
			}
			// Asked over UDP, and again over TCP after a truncated answer.
			want := []string{name}
			if tc.truncated {
				want = append(want, name)
			}
			if q := d.Queries()[before:]; !slices.Equal(q, want) {
				t.Errorf("Queries of the lookup = %q, want %q", q, want)
			}
		})
	}
}

func TestDNSKeyRecordMatchesDKIM(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	edPub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, pub := range []any{&rsaKey.PublicKey, edPub} {
		want, err := dkim.TXTRecord(pub)
		if err != nil {
			t.Fatal(err)
		}
		if got := testlib.DKIMKeyRecord(pub); got != want {
			t.Errorf("DKIMKeyRecord(%T) = %q, dkim.TXTRecord = %q", pub, got, want)
		}
	}
}

func TestDNSNotFound(t *testing.T) {
	d := testlib.NewDNS(t)
	d.SetTXT("known.example.com", "x")
	_, err := resolver(d.Addr).LookupTXT(lookupCtx(t), "unknown.example.com")
	var dnsErr *net.DNSError
	if !errors.As(err, &dnsErr) || !dnsErr.IsNotFound {
		t.Fatalf("LookupTXT of an unknown name: %v, want a *net.DNSError with IsNotFound", err)
	}
	m := exchange(t, "udp", d.Addr, query(t, "unknown.example.com", dnsmessage.TypeTXT, false))
	if m.RCode != dnsmessage.RCodeNameError || !m.Authoritative {
		t.Errorf("answer: %v, AA=%v; want NXDOMAIN, AA", m.RCode, m.Authoritative)
	}
	// A known name without records of the type: NOERROR, no answers.
	m = exchange(t, "udp", d.Addr, query(t, "KNOWN.example.com", dnsmessage.TypeMX, false))
	if m.RCode != dnsmessage.RCodeSuccess || !m.Authoritative || len(m.Answers) != 0 {
		t.Errorf("answer: %v, AA=%v, %d answers; want NOERROR, AA, none", m.RCode, m.Authoritative, len(m.Answers))
	}
	if len(m.Questions) != 1 || m.Questions[0].Name.String() != "KNOWN.example.com." {
		t.Errorf("question not echoed: %v", m.Questions)
	}
	// Remove makes a name unknown again.
	d.Remove("known.example.com.")
	m = exchange(t, "udp", d.Addr, query(t, "known.example.com", dnsmessage.TypeTXT, false))
	if m.RCode != dnsmessage.RCodeNameError {
		t.Errorf("after Remove: %v, want NXDOMAIN", m.RCode)
	}
}

func TestDNSFail(t *testing.T) {
	d := testlib.NewDNS(t)
	name := "sel._domainkey.broken.example"
	d.SetTXT(name, "v=DKIM1; p=")
	d.Fail(name, dnsmessage.RCodeServerFailure)
	_, err := resolver(d.Addr).LookupTXT(lookupCtx(t), name)
	var dnsErr *net.DNSError
	if err == nil || (errors.As(err, &dnsErr) && dnsErr.IsNotFound) {
		t.Fatalf("LookupTXT of a failing name: %v, want an error that is not IsNotFound", err)
	}
	m := exchange(t, "tcp", d.Addr, query(t, name, dnsmessage.TypeTXT, false))
	if m.RCode != dnsmessage.RCodeServerFailure || len(m.Answers) != 0 {
		t.Errorf("answer: %v, %d answers; want SERVFAIL, none", m.RCode, len(m.Answers))
	}
}

func TestDNSDrop(t *testing.T) {
	d := testlib.NewDNS(t)
	name := "sel._domainkey.slow.example"
	d.SetTXT(name, "v=DKIM1; p=")
	d.Drop(name)
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := resolver(d.Addr).LookupTXT(ctx, name)
	var dnsErr *net.DNSError
	if !errors.As(err, &dnsErr) || !dnsErr.IsTimeout || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("LookupTXT of a dropped name: %v, want a timeout at the context's deadline", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("the lookup took %v", took)
	}
	if !slices.Contains(d.Queries(), name) {
		t.Errorf("Queries = %q, want %s among them", d.Queries(), name)
	}
	// Over TCP too: the connection stays silent.
	c, err := net.Dial("tcp", d.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	q := query(t, name, dnsmessage.TypeTXT, false)
	c.Write(binary.BigEndian.AppendUint16(nil, uint16(len(q))))
	c.Write(q)
	c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	var b [1]byte
	if _, err := c.Read(b[:]); !errors.Is(err, context.DeadlineExceeded) && !isTimeout(err) {
		t.Errorf("TCP read: %v, want a timeout", err)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func TestDNSMXAndA(t *testing.T) {
	d := testlib.NewDNS(t)
	d.SetMX("acme.example", net.MX{Host: "mx2.acme.example", Pref: 20}, net.MX{Host: "mx1.acme.example.", Pref: 10})
	d.SetA("mx1.acme.example", netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1"))
	r := resolver(d.Addr)
	mxs, err := r.LookupMX(lookupCtx(t), "acme.example")
	if err != nil {
		t.Fatal(err)
	}
	if len(mxs) != 2 || mxs[0].Host != "mx1.acme.example." || mxs[0].Pref != 10 || mxs[1].Host != "mx2.acme.example." {
		t.Errorf("LookupMX = %v", mxs)
	}
	addrs, err := r.LookupNetIP(lookupCtx(t), "ip", "mx1.acme.example")
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(addrs, netip.Addr.Compare)
	if want := []netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1")}; !slices.Equal(addrs, want) {
		t.Errorf("LookupNetIP = %v, want %v", addrs, want)
	}
}

// TestDNSEDNS0 sends a query with an EDNS0 OPT record offering a large
// UDP buffer: it is ignored, and the answer still holds to 512 octets.
func TestDNSEDNS0(t *testing.T) {
	d := testlib.NewDNS(t)
	d.SetTXT("big.example", strings.Repeat("a", 600))
	d.SetTXT("small.example", "hello")
	m := exchange(t, "udp", d.Addr, query(t, "small.example", dnsmessage.TypeTXT, true))
	if m.RCode != dnsmessage.RCodeSuccess || len(m.Answers) != 1 || m.ID != 0xbeef {
		t.Errorf("answer: %v, %d answers, ID %#x", m.RCode, len(m.Answers), m.ID)
	}
	if !m.Response || !m.Authoritative || !m.RecursionDesired {
		t.Errorf("header: QR=%v AA=%v RD=%v, want all set", m.Response, m.Authoritative, m.RecursionDesired)
	}
	m = exchange(t, "udp", d.Addr, query(t, "big.example", dnsmessage.TypeTXT, true))
	if !m.Truncated {
		t.Errorf("answer of 600 octets over UDP not truncated")
	}
}

// query packs a query of name and typ with ID 0xbeef, RD set, and an
// EDNS0 OPT record offering a 4096-octet buffer when edns.
func query(t *testing.T, name string, typ dnsmessage.Type, edns bool) []byte {
	t.Helper()
	m := dnsmessage.Message{
		Header:    dnsmessage.Header{ID: 0xbeef, RecursionDesired: true},
		Questions: []dnsmessage.Question{{Name: dnsmessage.MustNewName(name + "."), Type: typ, Class: dnsmessage.ClassINET}},
	}
	if edns {
		var opt dnsmessage.ResourceHeader
		if err := opt.SetEDNS0(4096, dnsmessage.RCodeSuccess, false); err != nil {
			t.Fatal(err)
		}
		m.Additionals = []dnsmessage.Resource{{Header: opt, Body: &dnsmessage.OPTResource{}}}
	}
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// exchange sends q to addr over network ("udp" or "tcp", with the length
// prefix) and returns the answer.
func exchange(t *testing.T, network, addr string, q []byte) dnsmessage.Message {
	t.Helper()
	c, err := net.Dial(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	var resp []byte
	if network == "tcp" {
		if _, err := c.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(q))), q...)); err != nil {
			t.Fatal(err)
		}
		var n [2]byte
		if _, err := io.ReadFull(c, n[:]); err != nil {
			t.Fatal(err)
		}
		resp = make([]byte, binary.BigEndian.Uint16(n[:]))
		if _, err := io.ReadFull(c, resp); err != nil {
			t.Fatal(err)
		}
	} else {
		if _, err := c.Write(q); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 65535)
		n, err := c.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		if n > 512 {
			t.Errorf("UDP answer of %d octets", n)
		}
		resp = buf[:n]
	}
	var m dnsmessage.Message
	if err := m.Unpack(resp); err != nil {
		t.Fatal(err)
	}
	return m
}
