package inbound

import (
	"net/netip"
	"testing"
	"time"
)

func TestNormalizeLineEndings(t *testing.T) {
	cases := []struct{ in, want string }{
		{"a\r\nb\r\n", "a\r\nb\r\n"},
		{"a\nb\n", "a\r\nb\r\n"},
		{"a\rb\r", "a\r\nb\r\n"},
		{"a\r\r\nb", "a\r\n\r\nb"},
		{"a\n.\r\nMAIL FROM:<x@y>\r\n", "a\r\n.\r\nMAIL FROM:<x@y>\r\n"},
		{"\n", "\r\n"},
		{"", ""},
	}
	for _, c := range cases {
		if got := string(normalizeLineEndings([]byte(c.in))); got != c.want {
			t.Errorf("normalize(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestNormalizeReturnsCanonicalInputUncopied(t *testing.T) {
	in := []byte("Subject: x\r\n\r\nbody\r\n")
	if out := normalizeLineEndings(in); &out[0] != &in[0] {
		t.Error("a canonical message was copied")
	}
}

func TestHeaderValueAndFromDomain(t *testing.T) {
	msg := []byte("Subject: hi\r\nFrom: =?UTF-8?B?5Lq65LqL6YOo?=\r\n <HR@Acme.Example>\r\nTo: a@b.example\r\n\r\nFrom: body@evil.example\r\n")
	h := msg[:headerEnd(msg)]
	if v, ok := headerValue(h, "subject"); !ok || v != "hi" {
		t.Errorf("Subject = %q, %v", v, ok)
	}
	if d := fromHeaderDomain(h); d != "acme.example" {
		t.Errorf("From domain = %q, want acme.example (folded, encoded name)", d)
	}
	if _, ok := headerValue(h, "Message-ID"); ok {
		t.Error("found a Message-ID that is not there")
	}
	if d := fromHeaderDomain([]byte("To: x@y\r\n\r\n")); d != "" {
		t.Errorf("no From header gave %q", d)
	}
}

func TestHeaderEnd(t *testing.T) {
	for in, want := range map[string]int{
		"A: b\r\n\r\nbody": 8,
		"\r\nbody":         2,
		"A: b\r\n":         6,
	} {
		if got := headerEnd([]byte(in)); got != want {
			t.Errorf("headerEnd(%q) = %d, want %d", in, got, want)
		}
	}
}

func TestValidAddress(t *testing.T) {
	for addr, want := range map[string]bool{
		"a@b.example": true, "村上@例え.jp": true,
		"": false, "a": false, "@b": false, "a@": false, "a b@c": false, "a@b..c": false,
	} {
		if got := validAddress(addr); got != want {
			t.Errorf("validAddress(%q) = %v, want %v", addr, got, want)
		}
	}
}

func TestReceivedHeader(t *testing.T) {
	at := time.Date(2026, 11, 24, 9, 0, 0, 0, time.FixedZone("JST", 9*3600))
	got := receivedHeader("mta (evil)\r\nX: y", netip.MustParseAddr("10.0.0.5"), "relay.example.jp", "abc-1", true, true, at)
	want := "Received: from mtaevilX:y ([10.0.0.5])\r\n\tby relay.example.jp (careerrelay) with ESMTPSA id abc-1;\r\n\tTue, 24 Nov 2026 09:00:00 +0900\r\n"
	if got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}
