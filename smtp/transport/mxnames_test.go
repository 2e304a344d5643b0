package transport_test

import (
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/careerrelay/careerrelay/configs"
	"github.com/careerrelay/careerrelay/internal/testlib"
	"github.com/careerrelay/careerrelay/smtp/queue/queuetest"
	"github.com/careerrelay/careerrelay/smtp/transport/transporttest"
)

// Every name mx mode asks its resolver is absolute (it ends in "."), so
// that resolv.conf's search list can never complete it to an internal
// name; an IDN domain is asked, and delivered, as punycode.
func TestMXAsksAbsolutePunycodeNames(t *testing.T) {
	s := testlib.NewSink(t, nil)
	n := &transporttest.Net{Routes: map[string]string{"192.0.2.1:25": s.Addr}}
	dns := &transporttest.DNS{
		MX: map[string][]*net.MX{"xn--r8jz45g.jp": {{Host: "mx.xn--r8jz45g.jp.", Pref: 10}}},
		IP: map[string][]string{"mx.xn--r8jz45g.jp": {"192.0.2.1"}},
	}
	e := mxEnv(t, dns, n, nil)
	id := e.Enqueue("hr@acme.example", []string{"cand@例え.jp"}, queuetest.Body)
	e.RunDue(1)
	if want := []string{"MX xn--r8jz45g.jp.", "IP mx.xn--r8jz45g.jp."}; !slices.Equal(dns.Asked(), want) {
		t.Errorf("asked %q, want %q", dns.Asked(), want)
	}
	msgs := s.Messages()
	if len(msgs) != 1 || !slices.Equal(msgs[0].Rcpts, []string{"cand@xn--r8jz45g.jp"}) {
		t.Fatalf("MX got %+v, want one message to cand@xn--r8jz45g.jp", msgs)
	}
	if m := e.Get(id); m != nil {
		t.Errorf("still queued: %+v", m)
	}
}

// A domain that is no DNS name (a bad label, bad punycode) bounces with
// 5.1.2 without a question to the resolver.
func TestMXBadDomainNotLookedUp(t *testing.T) {
	dns := &transporttest.DNS{}
	e := mxEnv(t, dns, &transporttest.Net{}, nil)
	id := e.Enqueue("", []string{"x@-bad-.test", "y@xn--zz.jp"}, queuetest.Body)
	e.RunDue(1)
	if m := e.Get(id); m != nil {
		t.Errorf("still queued: %+v", m)
	}
	if len(dns.Asked()) != 0 {
		t.Errorf("asked %q for domains that are no DNS names", dns.Asked())
	}
}

// Against a real DNS server on loopback, through the resolver of
// dns.server: the server sees only the absolute names, never one with a
// search domain appended, for an IDN domain and for a single-label one
// (which inbound refuses, but an older queue may hold).
func TestMXRealResolverAbsoluteNames(t *testing.T) {
	d := testlib.NewDNS(t)
	d.SetMX("xn--r8jz45g.jp", net.MX{Host: "mx.xn--r8jz45g.jp.", Pref: 10})
	d.SetA("mx.xn--r8jz45g.jp", netip.MustParseAddr("192.0.2.7"))
	s := testlib.NewSink(t, nil)
	n := &transporttest.Net{Routes: map[string]string{"192.0.2.7:25": s.Addr}}
	e := queuetest.New(t, func(c *configs.Config, o *queuetest.Options) {
		c.Delivery.Mode = "mx"
		o.Transport.Resolver = configs.DNS{Server: d.Addr}.Resolver()
		o.Transport.Dial = n.Dial
	})
	e.Enqueue("", []string{"cand@例え.jp"}, queuetest.Body)
	e.Enqueue("", []string{"taro@gmail"}, queuetest.Body)
	e.RunDue(2)
	if msgs := s.Messages(); len(msgs) != 1 || !slices.Equal(msgs[0].Rcpts, []string{"cand@xn--r8jz45g.jp"}) {
		t.Fatalf("MX got %+v, want one message to cand@xn--r8jz45g.jp", s.Messages())
	}
	allowed := []string{"xn--r8jz45g.jp", "mx.xn--r8jz45g.jp", "gmail"}
	for _, q := range d.Queries() {
		if !slices.Contains(allowed, q) {
			t.Errorf("DNS asked %q: a name completed from the search list (queries %q)", q, d.Queries())
		}
	}
	if qs := d.Queries(); !slices.Contains(qs, "gmail") || !slices.Contains(qs, "xn--r8jz45g.jp") {
		t.Errorf("queries %q, want gmail and xn--r8jz45g.jp asked", qs)
	}
	for _, q := range d.Queries() {
		if strings.Contains(q, "例") {
			t.Errorf("DNS asked the U-label form %q", q)
		}
	}
}
