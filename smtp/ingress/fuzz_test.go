package ingress

import (
	"bufio"
	"bytes"
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message/textproto"

	"github.com/careerrelay/careerrelay/internal/address"
)

// toCRLF makes every line end CRLF, as inbound does before the header is
// read.
func toCRLF(b []byte) []byte {
	b = bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n"))
	b = bytes.ReplaceAll(b, []byte("\r"), []byte("\n"))
	return bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n"))
}

func squash(s string) string { return strings.Join(strings.Fields(s), " ") }

// FuzzHeaderFields reads a header the way Check does (the tenant id, the
// ingress header, Received counting, From) and holds it against
// go-message's reading, which the pipeline uses: the same fields by name,
// in the same order, with the same values. Strip removes exactly the
// fields of its name and nothing else.
func FuzzHeaderFields(f *testing.F) {
	f.Add([]byte("Received: a\r\nReceived: b\r\n\tfolded\r\nX-MS-Exchange-CrossTenant-Id: " + m365ID + "\r\nFrom: hr@acme.example\r\n\r\nbody"))
	f.Add([]byte("X-CareerRelay-Ingress: s1\r\nx-careerrelay-ingress:  s2 \r\nFrom: a@b\r\n\r\n"))
	f.Add([]byte(" leading continuation\r\nFrom: a@b\r\n\r\n"))
	f.Add([]byte("From\u00a0: x@y\r\nFrom : a@b\r\nno colon line\r\n\r\n"))
	f.Add([]byte("From: a@b"))
	f.Add([]byte("\r\nReceived: in the body\r\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		msg := toCRLF(raw)
		hdr := msg[:headerLen(msg)]
		all := fields(hdr)
		last := 0
		for _, fl := range all {
			if fl.start < last || fl.end <= fl.start || fl.end > len(hdr) {
				t.Fatalf("field %+v out of order or bounds (last end %d, header %d)", fl, last, len(hdr))
			}
			if !bytes.HasPrefix(hdr[fl.start:], []byte(strings.TrimLeft(fl.name, " \t"))) && !bytes.HasPrefix(bytes.TrimLeft(hdr[fl.start:], " \t"), []byte(fl.name)) {
				t.Fatalf("field %q does not start with its name: %q", fl.name, hdr[fl.start:fl.end])
			}
			last = fl.end
		}
		for _, name := range []string{"Received", CrossTenantHeader, IngressHeader, "From", "To", "Cc", ProcessedHeader} {
			ours := named(hdr, all, name)
			if countNamed(all, name) != len(ours) {
				t.Fatalf("countNamed(%s) = %d, named found %d", name, countNamed(all, name), len(ours))
			}
			stripped := Strip(msg, name)
			if n := len(named(stripped[:headerLen(stripped)], fields(stripped[:headerLen(stripped)]), name)); n != 0 {
				t.Fatalf("Strip(%s) left %d such fields:\n%q", name, n, stripped)
			}
			removed := 0
			for _, fl := range ours {
				removed += fl.end - fl.start
			}
			if len(msg)-len(stripped) != removed {
				t.Fatalf("Strip(%s) removed %d bytes, the fields hold %d", name, len(msg)-len(stripped), removed)
			}
			if !bytes.HasSuffix(msg, msg[headerLen(msg):]) || !bytes.HasSuffix(stripped, msg[headerLen(msg):]) {
				t.Fatalf("Strip(%s) changed the body", name)
			}

			// Differential, where go-message reads the header without error.
			h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(hdr)))
			if err != nil || !bytes.HasSuffix(hdr, []byte("\r\n\r\n")) && !bytes.Equal(hdr, []byte("\r\n")) {
				continue
			}
			theirs := h.Values(name)
			if len(theirs) != len(ours) {
				t.Fatalf("%s: %d fields, go-message reads %d, in\n%q", name, len(ours), len(theirs), hdr)
			}
			for i := range ours {
				if squash(ours[i].value) != squash(theirs[i]) {
					t.Fatalf("%s[%d] = %q, go-message reads %q", name, i, ours[i].value, theirs[i])
				}
			}
		}
	})
}

// FuzzCheck runs whole messages through Check from a cloud range (no
// other proof than DKIM or header) and from an AUTH user of acme: it never
// panics, never attributes a message to a tenant whose domains do not hold
// its one From address, and refuses as a loop whatever has more Received
// fields than max_hops.
func FuzzCheck(f *testing.F) {
	f.Add([]byte("From: hr@acme.example\r\nTo: taro@cand.example\r\n\r\nbody"), "hr@acme.example", "taro@cand.example")
	f.Add([]byte("X-CareerRelay-Ingress: "+string(secret)+"\r\nFrom: hr@acme.example\r\nTo: taro@cand.example\r\n\r\n"), "", "taro@cand.example")
	f.Add([]byte("From: hr@acme.example\r\nFrom: ceo@beta.example\r\n\r\n"), "hr@acme.example", "x@y.example")
	f.Add([]byte("From: a@beta.example\r\nDKIM-Signature: v=1; a=rsa-sha256; d=beta.example; s=sel; h=from; bh=; b=\r\n\r\n"), "", "x@y.example")
	f.Fuzz(func(t *testing.T, raw []byte, from, rcpt string) {
		msg := toCRLF(raw)
		now := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
		d := &dns{txt: map[string][]string{}, fail: map[string]bool{}}
		k := New(testConfig(), Options{LookupTXT: d.lookup, Now: func() time.Time { return now }})
		for _, c := range []Client{{IP: netip.MustParseAddr("40.92.1.2")}, {IP: netip.MustParseAddr("203.0.113.1"), User: "acme-mta"}} {
			v, r := k.Check(context.Background(), c, from, []string{rcpt}, msg)
			hdr := msg[:headerLen(msg)]
			hops := countNamed(fields(hdr), "Received")
			if hops > k.cfg.SMTP.MaxHops && (r == nil || r.Reason != "loop") {
				t.Fatalf("%d Received fields not refused as a loop: %+v %v", hops, v, r)
			}
			if r != nil {
				if r.Reply == nil || r.Reply.Code < 400 {
					t.Fatalf("refusal without an error reply: %+v", r)
				}
				continue
			}
			if v.Tenant == nil {
				t.Fatalf("accepted without a tenant from %+v (relay_unknown_senders is off)", c)
			}
			addr, fr := singleFrom(hdr, fields(hdr))
			if fr != nil || !v.Tenant.HasDomain(address.Domain(addr)) {
				t.Fatalf("attributed to %s with From %q (%v)", v.Tenant.ID, addr, fr)
			}
			if c.User == "" && v.Proof != ProofHeader && v.Proof != ProofDKIM {
				t.Fatalf("a cloud client proved %s by %s", v.Tenant.ID, v.Proof)
			}
		}
	})
}
