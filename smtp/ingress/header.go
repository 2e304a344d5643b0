package ingress

import (
	"bytes"
	"strings"
)

// field is one header field of a message as it arrived: its name as
// written, its value unfolded (line breaks of folding removed, outer white
// space trimmed), and where its raw bytes (continuation lines and the
// final CRLF included) lie in the header.
type field struct {
	name       string
	value      string
	start, end int
}

// fields splits a CRLF header section (as inbound has normalised it, up to
// and including the blank line, or the whole message when there is no
// body) into its fields. A line that is neither a field nor a continuation
// is skipped, as go-message does; a continuation before any field is part
// of no field.
func fields(header []byte) []field {
	// At most one field a line: one allocation instead of a slice that
	// grows five or six times for a usual header.
	out := make([]field, 0, bytes.Count(header, crlf)+1)
	for pos := 0; pos < len(header); {
		end := bytes.Index(header[pos:], crlf)
		if end < 0 {
			end = len(header)
		} else {
			end += pos + len(crlf)
		}
		line := header[pos:end]
		switch {
		case isBlank(line):
			return out
		case line[0] == ' ' || line[0] == '\t':
			if n := len(out); n > 0 && out[n-1].end == pos {
				out[n-1].end = end
			}
		default:
			if i := bytes.IndexByte(line, ':'); i > 0 {
				out = append(out, field{name: strings.Trim(string(line[:i]), " \t"), start: pos, end: end})
			}
		}
		pos = end
	}
	return out
}

var crlf = []byte("\r\n")

func isBlank(line []byte) bool { return len(bytes.TrimRight(line, "\r\n")) == 0 }

// unfold returns the value of f in header: the text after the colon with
// the CRLFs of folding removed and the white space at its ends trimmed.
func (f field) unfold(header []byte) string {
	raw := header[f.start:f.end]
	raw = raw[bytes.IndexByte(raw, ':')+1:]
	v := strings.ReplaceAll(string(raw), "\r\n", "")
	return strings.Trim(v, " \t")
}

// named returns the fields called name (ASCII case-insensitively), with
// their values filled in.
func named(header []byte, all []field, name string) []field {
	var out []field
	for _, f := range all {
		if SameFieldName(f.name, name) {
			f.value = f.unfold(header)
			out = append(out, f)
		}
	}
	return out
}

// countNamed is how many fields are called name.
func countNamed(all []field, name string) int {
	n := 0
	for _, f := range all {
		if SameFieldName(f.name, name) {
			n++
		}
	}
	return n
}

// SameFieldName compares header field names as go-message (and so the
// pipeline) does: ASCII letters without regard to case, every other byte
// exactly (strings.EqualFold would take "Meſſage-ID" for "Message-ID", and
// any two invalid UTF-8 octets for one another).
func SameFieldName(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// Strip returns msg without its header fields called name (the proof
// header must never travel on); msg itself is not changed. It returns msg
// as it is when there is none.
func Strip(msg []byte, name string) []byte {
	hdr := msg[:headerLen(msg)]
	drop := named(hdr, fields(hdr), name)
	if len(drop) == 0 {
		return msg
	}
	out := make([]byte, 0, len(msg))
	at := 0
	for _, f := range drop {
		out = append(out, msg[at:f.start]...)
		at = f.end
	}
	return append(out, msg[at:]...)
}

// headerLen is the length of msg's header section including the blank
// line that ends it (len(msg) when there is no body).
func headerLen(msg []byte) int {
	if bytes.HasPrefix(msg, crlf) {
		return 2
	}
	if i := bytes.Index(msg, []byte("\r\n\r\n")); i >= 0 {
		return i + 4
	}
	return len(msg)
}
