package queuetest

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/emersion/go-message"
)

// ParsedDSN is a DSN as a mail client sees it.
type ParsedDSN struct {
	Header  message.Header
	Parts   []string // content types, in order
	Text    string   // the text/plain part, decoded
	Status  string   // the message/delivery-status or message/global-delivery-status part
	Headers string   // the text/rfc822-headers or message/global-headers part
	// Global: the DSN is of report-type global-delivery-status (RFC
	// 6533), for internationalised mail.
	Global bool
}

// ParseDSN parses raw as a DSN (RFC 3464, or RFC 6533's global form) and
// checks its form: a multipart/report of the three parts in order, the
// report's type the one its report-type names, every line ending in CRLF.
func ParseDSN(t testing.TB, raw []byte) ParsedDSN {
	t.Helper()
	ent, err := message.Read(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("DSN does not parse: %v\n%s", err, raw)
	}
	var d ParsedDSN
	d.Header = ent.Header
	ct, params, err := ent.Header.ContentType()
	rt := params["report-type"]
	if err != nil || ct != "multipart/report" || (rt != "delivery-status" && rt != "global-delivery-status") {
		t.Fatalf("DSN Content-Type = %q %v (%v), want multipart/report; report-type=delivery-status or global-delivery-status", ct, params, err)
	}
	d.Global = rt == "global-delivery-status"
	mr := ent.MultipartReader()
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("DSN part: %v", err)
		}
		pct, _, _ := p.Header.ContentType()
		b, err := io.ReadAll(p.Body)
		if err != nil {
			t.Fatal(err)
		}
		d.Parts = append(d.Parts, pct)
		switch pct {
		case "text/plain":
			d.Text = string(b)
		case "message/delivery-status", "message/global-delivery-status":
			d.Status = string(b)
		case "text/rfc822-headers", "message/global-headers":
			d.Headers = string(b)
		}
	}
	want := "text/plain,message/delivery-status,text/rfc822-headers"
	if d.Global {
		want = "text/plain,message/global-delivery-status,"
		if isASCII(d.Headers) {
			want += "text/rfc822-headers"
		} else {
			want += "message/global-headers"
		}
	}
	if got := strings.Join(d.Parts, ","); got != want {
		t.Errorf("DSN parts = %s, want %s", got, want)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if !strings.HasSuffix(line, "\r") && line != "" {
			t.Errorf("DSN line without CRLF: %q", line)
			break
		}
	}
	return d
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// WantContains fails the test (and goes on) for each of subs that s,
// which is what, lacks.
func WantContains(t testing.TB, what, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			t.Errorf("%s lacks %q:\n%s", what, sub, s)
		}
	}
}
