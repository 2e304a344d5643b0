package inbound

import (
	"bufio"
	"bytes"
	"strings"
	"testing"

	"github.com/emersion/go-message/textproto"
)

// crlfRef is the whole-buffer model of crlfWriter: CRLF stays, every other
// CR and LF becomes CRLF.
func crlfRef(in []byte) []byte {
	out := make([]byte, 0, len(in)+len(in)/8)
	for i := 0; i < len(in); i++ {
		switch c := in[i]; c {
		case '\r':
			out = append(out, '\r', '\n')
			if i+1 < len(in) && in[i+1] == '\n' {
				i++
			}
		case '\n':
			out = append(out, '\r', '\n')
		default:
			out = append(out, c)
		}
	}
	return out
}

// crlfChunked passes in through a crlfWriter in writes whose sizes are
// taken in turn from cuts (a zero size is an empty Write); the last write
// takes the rest.
func crlfChunked(t *testing.T, in, cuts []byte) []byte {
	var out bytes.Buffer
	w := &crlfWriter{w: &out}
	write := func(p []byte) {
		if n, err := w.Write(p); n != len(p) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", p, n, err)
		}
	}
	for _, c := range cuts {
		n := min(int(c%16), len(in))
		write(in[:n])
		in = in[n:]
	}
	write(in)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// hasBareCRorLF reports a CR not followed by LF or an LF not after a CR.
func hasBareCRorLF(b []byte) bool {
	for i, c := range b {
		if c == '\r' && (i+1 == len(b) || b[i+1] != '\n') {
			return true
		}
		if c == '\n' && (i == 0 || b[i-1] != '\r') {
			return true
		}
	}
	return false
}

// lineEndsToLF maps every line end (CRLF, then lone CR, then lone LF) to LF.
func lineEndsToLF(b []byte) []byte {
	b = bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n"))
	return bytes.ReplaceAll(b, []byte("\r"), []byte("\n"))
}

// FuzzCRLFWriter checks the DATA normaliser against a whole-buffer model,
// written in one piece and in pieces cut anywhere (a CRLF split between two
// writes included): the output has only CRLF line ends, strict CRLF input
// passes unchanged, normalising twice is normalising once, and nothing but
// the line ends changes.
func FuzzCRLFWriter(f *testing.F) {
	f.Add([]byte("Subject: x\r\n\r\nbody\r\n"), []byte{})
	f.Add([]byte("a\nb\rc\r\nd\n\re\r\r\nf"), []byte{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1})
	f.Add([]byte("a\r\nb\r\n"), []byte{1, 0, 2, 0})
	f.Add([]byte("\r"), []byte{0})
	f.Add([]byte("\r\r\r\n\n\n"), []byte{3, 1})
	f.Add([]byte("x\n.\r\nMAIL FROM:<x@y>\r\n"), []byte{2, 3})
	f.Fuzz(func(t *testing.T, in, cuts []byte) {
		want := crlfRef(in)
		whole := crlfChunked(t, in, nil)
		if !bytes.Equal(whole, want) {
			t.Fatalf("normalised %q to %q, want %q", in, whole, want)
		}
		if got := crlfChunked(t, in, cuts); !bytes.Equal(got, whole) {
			t.Fatalf("normalised %q in writes of %v to %q, in one write to %q", in, cuts, got, whole)
		}
		if hasBareCRorLF(whole) {
			t.Fatalf("output %q has a bare CR or LF", whole)
		}
		if !hasBareCRorLF(in) && !bytes.Equal(whole, in) {
			t.Fatalf("strict CRLF input %q changed to %q", in, whole)
		}
		if twice := crlfChunked(t, whole, cuts); !bytes.Equal(twice, whole) {
			t.Fatalf("normalising twice gave %q, once %q", twice, whole)
		}
		if a, b := lineEndsToLF(in), lineEndsToLF(whole); !bytes.Equal(a, b) {
			t.Fatalf("content changed: %q became %q", a, b)
		}
	})
}

// isToken reports a header field name that textproto.CanonicalMIMEHeaderKey
// canonicalises (RFC 7230 token characters): go-message matches those
// names without regard to case, and any other name only as spelled.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// asciiCase changes the ASCII letters from..to of s to the other case
// (strings.ToUpper and ToLower would also change invalid UTF-8).
func asciiCase(s string, from, to byte) string {
	b := []byte(s)
	for i, c := range b {
		if from <= c && c <= to {
			b[i] = c ^ 0x20
		}
	}
	return string(b)
}

// collapse joins the white-space separated words of s with single spaces.
func collapse(s string) string { return strings.Join(strings.Fields(s), " ") }

// squeeze removes every ASCII white space octet (those folding and
// trimming may remove) and lower-cases the ASCII letters.
func squeeze(s string) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == ' ' || '\t' <= c && c <= '\r':
		case 'A' <= c && c <= 'Z':
			b = append(b, c+'a'-'A')
		default:
			b = append(b, c)
		}
	}
	return string(b)
}

// FuzzHeaderValue looks header fields up the way DATA does (the message
// normalised by crlfWriter, its header cut by headerEnd): the lookup never
// panics, a value it returns is there in the header (with its name before
// it), the name matches without regard to ASCII case, and on a header
// go-message reads without error it finds the same first value for every
// field name (folded lines included) as go-message, which the pipeline uses.
func FuzzHeaderValue(f *testing.F) {
	f.Add([]byte("Subject: hi\r\nFrom: =?UTF-8?B?5Lq65LqL6YOo?=\r\n <HR@Acme.Example>\r\nTo: a@b.example\r\n\r\nFrom: body@evil.example\r\n"), "from")
	f.Add([]byte("from : a@b\r\nFROM: c@d\r\n\r\n"), "From")
	f.Add([]byte(" From: a@b\r\nX: y\r\n\r\n"), "From")
	f.Add([]byte("Message-ID:\r\n\t<x@y>\r\n \r\n\r\n"), "message-id")
	f.Add([]byte("X: 1\nx:2\r\n\tfolded\r\nY:\r\n\r\n"), "x")
	f.Add([]byte(":empty\r\nA:b"), "")
	f.Add([]byte("\r\nFrom: body@x\r\n"), "From")
	f.Fuzz(func(t *testing.T, msg []byte, name string) {
		var norm bytes.Buffer
		w := &crlfWriter{w: &norm}
		w.Write(msg)
		w.Close()
		msg = norm.Bytes()
		header := msg[:headerEnd(msg)]

		v, ok := headerValue(header, name)
		if ok {
			if strings.ContainsAny(v, "\r\n") || v != strings.TrimSpace(v) {
				t.Fatalf("value %q of %q is not unfolded and trimmed", v, name)
			}
			// The name, a colon, and the value after them (TrimSpace
			// may also have trimmed non-ASCII space around it).
			h := squeeze(string(header))
			i := strings.Index(h, squeeze(name)+":")
			if i < 0 || !strings.Contains(h[i:], squeeze(v)) {
				t.Fatalf("value %q of %q is not in header %q", v, name, header)
			}
		} else if v != "" {
			t.Fatalf("no %q, but value %q", name, v)
		}
		for _, n := range []string{asciiCase(name, 'a', 'z'), asciiCase(name, 'A', 'Z')} {
			if v2, ok2 := headerValue(header, n); v2 != v || ok2 != ok {
				t.Fatalf("%q gives %q %v, %q gives %q %v", name, v, ok, n, v2, ok2)
			}
		}

		// The differential: only a header that go-message reads whole.
		h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(header)))
		if err != nil {
			return
		}
		names := []string{"From", "Message-ID", name}
		for fs := h.Fields(); fs.Next(); {
			names = append(names, fs.Key())
		}
		for _, n := range names {
			if !isToken(n) {
				continue
			}
			v, ok := headerValue(header, n)
			if ok != h.Has(n) || collapse(v) != collapse(h.Get(n)) {
				t.Fatalf("header %q: %q is %q %v, go-message: %q %v", header, n, v, ok, h.Get(n), h.Has(n))
			}
		}
	})
}
