package dkim

import "bytes"

// field is one header field of a message: msg[start:end] is the field with
// its continuation lines and final line break.
type field struct {
	start, end int
	kind       int8 // index of its name among the signed names, or -1
	isSig      bool // a DKIM-Signature field
}

// parseHeader appends the header fields of msg to fields and returns them
// with the offset of the body (after the empty line; len(msg) when there is
// none). Lines end in LF, with or without a CR before it.
func parseHeader(msg []byte, fields []field) ([]field, int) {
	for i := 0; i < len(msg); {
		next := len(msg)
		if j := bytes.IndexByte(msg[i:], '\n'); j >= 0 {
			next = i + j + 1
		}
		line := msg[i:next]
		if isEmptyLine(line) {
			return fields, next
		}
		if (line[0] == ' ' || line[0] == '\t') && len(fields) > 0 {
			fields[len(fields)-1].end = next
		} else {
			name := fieldName(line)
			fields = append(fields, field{start: i, end: next, kind: nameKind(name), isSig: equalFold(name, "dkim-signature")})
		}
		i = next
	}
	return fields, len(msg)
}

// isEmptyLine reports whether line (with its line break) is empty.
func isEmptyLine(line []byte) bool {
	switch len(line) {
	case 1:
		return line[0] == '\n'
	case 2:
		return line[0] == '\r' && line[1] == '\n'
	}
	return false
}

// fieldName returns the name of the field starting with line: the text
// before the colon without the white space around it.
func fieldName(line []byte) []byte {
	if c := bytes.IndexByte(line, ':'); c >= 0 {
		line = line[:c]
	}
	return bytes.Trim(line, " \t\r\n")
}

// nameKind returns the kind of a field name (see kindName), or -1.
func nameKind(name []byte) int8 {
	for k := 0; k < nKinds; k++ {
		if equalFold(name, kindName(k)) {
			return int8(k)
		}
	}
	return -1
}

// equalFold reports whether b equals the lower-case ASCII string s without
// regard to ASCII case.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

// StripSignatures returns msg without its DKIM-Signature header fields, for
// a copy careerrelay changed: the old signatures would fail, and a failing
// signature next to a valid one only confuses receivers. msg itself is
// returned when it has none; otherwise a new slice (msg is not modified).
func StripSignatures(msg []byte) []byte {
	var fieldArr [64]field
	fields, _ := parseHeader(msg, fieldArr[:0])
	n := 0
	for _, f := range fields {
		if f.isSig {
			n += f.end - f.start
		}
	}
	if n == 0 {
		return msg
	}
	out := make([]byte, 0, len(msg)-n)
	pos := 0
	for _, f := range fields {
		if f.isSig {
			out = append(out, msg[pos:f.start]...)
			pos = f.end
		}
	}
	return append(out, msg[pos:]...)
}
