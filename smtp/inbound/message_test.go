package inbound

import (
	"bytes"
	"net/netip"
	"runtime"
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
		if got := normalize(c.in, len(c.in)+1); got != c.want {
			t.Errorf("normalize(%q) = %q, want %q", c.in, got, c.want)
		}
		// The same, written in pieces of every size: a CR at the end of
		// one Write and its LF at the start of the next are one line end.
		for size := 1; size <= len(c.in); size++ {
			if got := normalize(c.in, size); got != c.want {
				t.Errorf("normalize(%q) in writes of %d = %q, want %q", c.in, size, got, c.want)
			}
		}
	}
}

// normalize passes in through a crlfWriter in writes of size octets.
func normalize(in string, size int) string {
	var out bytes.Buffer
	w := &crlfWriter{w: &out}
	for p := []byte(in); len(p) > 0; p = p[min(size, len(p)):] {
		w.Write(p[:min(size, len(p))])
	}
	w.Close()
	return out.String()
}

func TestNormalizePassesCanonicalTextInOneSpan(t *testing.T) {
	in := []byte("Subject: x\r\n\r\nbody\r\n")
	var rec writeRecorder
	(&crlfWriter{w: &rec}).Write(in)
	if len(rec) != 1 || rec[0] != string(in) {
		t.Errorf("canonical text was written as %q, want one write", rec)
	}
}

type writeRecorder []string

func (r *writeRecorder) Write(p []byte) (int, error) {
	*r = append(*r, string(p))
	return len(p), nil
}

func TestHeaderValue(t *testing.T) {
	msg := []byte("Subject: hi\r\nFrom: =?UTF-8?B?5Lq65LqL6YOo?=\r\n <HR@Acme.Example>\r\nTo: a@b.example\r\n\r\nFrom: body@evil.example\r\n")
	h := msg[:headerEnd(msg)]
	if v, ok := headerValue(h, "subject"); !ok || v != "hi" {
		t.Errorf("Subject = %q, %v", v, ok)
	}
	if _, ok := headerValue(h, "Message-ID"); ok {
		t.Error("found a Message-ID that is not there")
	}
	// Names match in ASCII only, as go-message (and so the pipeline) reads
	// them: not a Unicode case folding (the From lookup, with the same
	// rule, is smtp/ingress's).
	if v, ok := headerValue([]byte("Me\u017f\u017fage-ID: <a@b>\r\n\r\n"), "Message-ID"); ok {
		t.Errorf("took Me\u017f\u017fage-ID for Message-ID: %q", v)
	}
	headerValue([]byte(":x\r\n\r\n"), "") // an empty name once panicked
}

// TestHeaderValueFoldedLinear: the value of a field of 40,000 folded lines
// is read with a few copies of the header, not one per line (issue 13);
// bytes allocated, unlike time, do not depend on the machine's load.
func TestHeaderValueFoldedLinear(t *testing.T) {
	var b bytes.Buffer
	b.WriteString("Message-ID: <a\r\n")
	for range 40000 {
		b.WriteString("\tb123456\r\n")
	}
	b.WriteString(" @c>\r\n\r\n")
	h := b.Bytes()
	var v string
	var ok bool
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	v, ok = headerValue(h, "Message-ID")
	runtime.ReadMemStats(&after)
	if want := len("<a") + 8*40000 + len(" @c>"); !ok || len(v) != want {
		t.Fatalf("value of %d bytes (%v), want %d", len(v), ok, want)
	}
	if n, limit := after.TotalAlloc-before.TotalAlloc, uint64(6*len(h)); n > limit {
		t.Errorf("reading a %d byte header allocated %d bytes, want at most %d", len(h), n, limit)
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

func TestReceivedHeader(t *testing.T) {
	at := time.Date(2026, 11, 24, 9, 0, 0, 0, time.FixedZone("JST", 9*3600))
	got := receivedHeader("mta (evil)\r\nX: y", netip.MustParseAddr("10.0.0.5"), "relay.example.jp", "abc-1", true, true, at)
	want := "Received: from mtaevilX:y ([10.0.0.5])\r\n\tby relay.example.jp (careerrelay) with ESMTPSA id abc-1;\r\n\tTue, 24 Nov 2026 09:00:00 +0900\r\n"
	if got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}
