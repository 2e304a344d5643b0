package inbound

import (
	"errors"
	"strings"
	"testing"

	"github.com/careerrelay/careerrelay/internal/metrics"
	gosmtp "github.com/emersion/go-smtp"
	dto "github.com/prometheus/client_model/go"
)

// headerTooLarge reads careerrelay_smtp_rejected_total{reason="header_too_large"}.
func headerTooLarge(t *testing.T) float64 {
	t.Helper()
	var m dto.Metric
	if err := metrics.Rejected.WithLabelValues("header_too_large").Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// headerOf returns a header section of exactly size bytes (fields with
// their CRLFs, no empty line): plainMail's fields, then X-Pad continuation
// lines of 10 octets, then one shorter line to make up the rest.
func headerOf(size int) string {
	var b strings.Builder
	b.WriteString("From: hr@acme.example\r\nTo: c@cand.example\r\nSubject: x\r\nX-Pad: start\r\n")
	for b.Len()+10+5 <= size {
		b.WriteString("\tpadding\r\n")
	}
	if n := size - b.Len(); n >= 4 {
		b.WriteString("\t" + strings.Repeat("p", n-3) + "\r\n")
	} else if n != 0 {
		panic("headerOf: no room to make up the size")
	}
	return b.String()
}

// TestMaxHeaderBytes: a header section one byte over smtp.max_header_bytes
// gets 552 5.3.4 at the end of DATA and is counted; one of exactly the
// limit is accepted. A message without an empty line is all header.
func TestMaxHeaderBytes(t *testing.T) {
	rec := &recorder{}
	cfg := testConfig("127.0.0.0/8")
	cfg.SMTP.MaxMessageBytes = 1 << 20
	cfg.SMTP.MaxHeaderBytes = 2000
	addr := startServer(t, cfg, rec)
	body := "\r\nbody\r\n"
	if len(headerOf(2000)) != 2000 || len(headerOf(2001)) != 2001 {
		t.Fatalf("headerOf made %d and %d bytes", len(headerOf(2000)), len(headerOf(2001)))
	}
	for _, tc := range []struct {
		name string
		msg  string
		ok   bool
	}{
		{"at the limit", headerOf(2000) + body, true},
		{"at the limit, no body", headerOf(2000), true},
		{"one over", headerOf(2001) + body, false},
		{"no empty line", headerOf(2000) + "X-More: x\r\n", false},
		{"no empty line, small", "From: hr@acme.example\r\nTo: c@cand.example\r\nSubject: x\r\n", true},
		{"a large body", headerOf(1000) + body + strings.Repeat("body line\r\n", 1000), true},
	} {
		before, n := headerTooLarge(t), rec.count()
		err := send(t, addr, "hr@acme.example", []string{"c@cand.example"}, tc.msg)
		if tc.ok {
			if err != nil || rec.count() != n+1 {
				t.Errorf("%s: %v, want it accepted", tc.name, err)
			}
			continue
		}
		var se *gosmtp.SMTPError
		if !errors.As(err, &se) || se.Code != 552 || se.EnhancedCode != (gosmtp.EnhancedCode{5, 3, 4}) ||
			se.Message != "Message header too large (smtp.max_header_bytes)" {
			t.Errorf("%s: %v, want 552 5.3.4 Message header too large (smtp.max_header_bytes)", tc.name, err)
		}
		if rec.count() != n {
			t.Errorf("%s: the message was accepted", tc.name)
		}
		if got := headerTooLarge(t) - before; got != 1 {
			t.Errorf("%s: header_too_large counted %v times, want 1", tc.name, got)
		}
	}
}

func TestHeaderSize(t *testing.T) {
	for in, want := range map[string]int{
		"\r\n":                 0,
		"A: b\r\n\r\n":         6,
		"A: b\r\n c\r\n\r\n":   10,
		"A: b\r\n":             6, // no empty line: the whole message
		"A: b\r\nno end":       12,
		"":                     0,
		"A: b\r\n\r\nbody\r\n": 6,
	} {
		if got := headerSize([]byte(in)[:headerEnd([]byte(in))]); got != want {
			t.Errorf("headerSize(%q) = %d, want %d", in, got, want)
		}
	}
}
