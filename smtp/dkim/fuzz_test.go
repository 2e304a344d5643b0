package dkim

import (
	"bufio"
	"bytes"
	"net/textproto"
	"strings"
	"testing"

	gmtextproto "github.com/emersion/go-message/textproto"
)

// splitHeader is the test's own reading of a header section: the fields
// (each with its continuation lines and line breaks) and the rest of msg
// from the line that ends the header (a line that is only LF or CRLF).
func splitHeader(msg []byte) (fields [][]byte, rest []byte) {
	for len(msg) > 0 {
		n := len(msg)
		if i := bytes.IndexByte(msg, '\n'); i >= 0 {
			n = i + 1
		}
		line := msg[:n]
		if string(line) == "\n" || string(line) == "\r\n" {
			break
		}
		if (line[0] == ' ' || line[0] == '\t') && len(fields) > 0 {
			fields[len(fields)-1] = append(fields[len(fields)-1], line...)
		} else {
			fields = append(fields, append([]byte(nil), line...))
		}
		msg = msg[n:]
	}
	return fields, msg
}

// isSignature reports a field named DKIM-Signature (any case, white space
// around the name allowed, as StripSignatures reads names: the text before
// the colon of its first line, or the whole line when it has none).
func isSignature(f []byte) bool {
	first, _, _ := strings.Cut(string(f), "\n")
	name, _, _ := strings.Cut(first, ":")
	return strings.EqualFold(strings.Trim(name, " \t\r\n"), "DKIM-Signature")
}

// FuzzStripSignatures checks that StripSignatures removes exactly the
// DKIM-Signature fields: every other field stays byte for byte and in
// order, the body is untouched, msg is not modified, nothing is left to
// strip (so a second pass returns its input itself). On a CRLF header that
// go-message reads without error, the header parser under it sees the same
// fields, with the same names, as go-message.
func FuzzStripSignatures(f *testing.F) {
	f.Add([]byte("DKIM-Signature: v=1; a=rsa-sha256;\r\n\tb=abc\r\nFrom: a@b\r\n\r\nDKIM-Signature: in the body\r\n"))
	f.Add([]byte("From: a@b\r\ndkim-signature : x\r\n folded\r\nSubject: s\r\nDKIM-SIGNATURE:y\r\n\r\nbody"))
	f.Add([]byte("From: a@b\r\nSubject: no signature\r\n\r\nbody\r\n"))
	f.Add([]byte("DKIM-Signature: only\r\n"))
	f.Add([]byte("X: 1\nDKIM-Signature: lf\n\tb=\n\nbody\n"))
	f.Add([]byte(" DKIM-Signature: leading space\r\nA: b\r\n\r\n"))
	f.Add([]byte("DKIM-Signature-Extra: kept\r\nDKIM-Signature\r\nX-DKIM-Signature: kept\r\n\r\n"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		orig := bytes.Clone(msg)
		out := StripSignatures(msg)
		if !bytes.Equal(msg, orig) {
			t.Fatalf("msg modified: %q became %q", orig, msg)
		}

		fields, rest := splitHeader(msg)
		var want []byte
		for _, fl := range fields {
			if !isSignature(fl) {
				want = append(want, fl...)
			}
		}
		want = append(want, rest...)
		if !bytes.Equal(out, want) {
			t.Fatalf("StripSignatures(%q) = %q, want %q", msg, out, want)
		}
		if len(want) == len(msg) && len(msg) > 0 && &out[0] != &msg[0] {
			t.Fatalf("StripSignatures(%q) copied a message without signatures", msg)
		}
		outFields, _ := splitHeader(out)
		for _, fl := range outFields {
			if isSignature(fl) {
				t.Fatalf("StripSignatures(%q) left %q", msg, fl)
			}
		}
		if again := StripSignatures(out); len(out) > 0 && &again[0] != &out[0] {
			t.Fatalf("a second pass over %q changed it to %q", out, again)
		}

		// The differential, on a CRLF header ending in a blank line that
		// go-message reads without error.
		if bytes.Contains(bytes.ReplaceAll(msg, []byte("\r\n"), nil), []byte("\n")) || len(rest) == 0 {
			return
		}
		h, err := gmtextproto.ReadHeader(bufio.NewReader(bytes.NewReader(msg)))
		if err != nil {
			return
		}
		parsed, body := parseHeader(msg, nil)
		if body != len(msg)-len(rest)+2 {
			t.Fatalf("parseHeader(%q): body at %d, want %d", msg, body, len(msg)-len(rest)+2)
		}
		fs := h.Fields()
		for _, p := range parsed {
			name := fieldName(msg[p.start:p.end])
			if len(name) == 0 {
				continue // go-message skips a field without a name
			}
			if !fs.Next() {
				t.Fatalf("parseHeader(%q): field %q, go-message has no more", msg, msg[p.start:p.end])
			}
			raw, _ := fs.Raw()
			if key := textproto.CanonicalMIMEHeaderKey(string(name)); key != fs.Key() || !bytes.Equal(raw, msg[p.start:p.end]) {
				t.Fatalf("parseHeader(%q): field %q named %q, go-message: %q named %q", msg, msg[p.start:p.end], key, raw, fs.Key())
			}
			if p.isSig != strings.EqualFold(fs.Key(), "DKIM-Signature") {
				t.Fatalf("parseHeader(%q): %q isSig %v", msg, fs.Key(), p.isSig)
			}
			for k := 0; k < nKinds; k++ {
				if (int(p.kind) == k) != strings.EqualFold(kindName(k), fs.Key()) {
					t.Fatalf("parseHeader(%q): %q is kind %d", msg, fs.Key(), p.kind)
				}
			}
		}
		if fs.Next() {
			t.Fatalf("parseHeader(%q): go-message has more fields, from %q", msg, fs.Key())
		}
	})
}
