package rewrite

import (
	"bytes"
)

// qpLine is one encoded line of a quoted-printable body and what it
// decodes to.
type qpLine struct {
	encStart, encEnd int // raw bytes, terminator included
	decStart, decEnd int // decoded bytes
	soft             bool
	crlf             bool // the raw terminator is CRLF
}

// qpDecode decodes a quoted-printable body exactly as mime/quotedprintable's
// Reader (which go-message uses) does, line by line, keeping where each
// line's bytes went. ok is false where that Reader returns an error.
func qpDecode(raw []byte) (d []byte, lines []qpLine, ok bool) {
	d = make([]byte, 0, len(raw))
	var scratch []byte
	for pos := 0; pos < len(raw); {
		var whole []byte
		eof := false
		if i := bytes.IndexByte(raw[pos:], '\n'); i >= 0 {
			whole = raw[pos : pos+i+1]
		} else {
			whole = raw[pos:]
			eof = true
		}
		if len(whole) > sliceLimit {
			return nil, nil, false // bufio.ErrBufferFull
		}
		ln := qpLine{encStart: pos, encEnd: pos + len(whole), decStart: len(d)}
		hasLF := whole[len(whole)-1] == '\n'
		hasCR := hasLF && len(whole) >= 2 && whole[len(whole)-2] == '\r'
		ln.crlf = hasCR
		line := bytes.TrimRight(whole, "\n\r \t")
		var term []byte
		if len(line) > 0 && line[len(line)-1] == '=' {
			rs := bytes.TrimLeft(whole[len(line):], " \t")
			line = line[:len(line)-1]
			if !(len(rs) > 0 && rs[0] == '\n') && !bytes.HasPrefix(rs, []byte("\r\n")) &&
				!(len(rs) == 0 && len(line) > 0 && eof) {
				return nil, nil, false
			}
			ln.soft = true
		} else if hasLF {
			if hasCR {
				term = crlfBytes
			} else {
				term = crlfBytes[1:]
			}
		}
		scratch = append(append(scratch[:0], line...), term...)
		var good bool
		if d, good = qpDecodeLine(d, scratch); !good {
			return nil, nil, false
		}
		ln.decEnd = len(d)
		lines = append(lines, ln)
		pos += len(whole)
	}
	return d, lines, true
}

var crlfBytes = []byte("\r\n")

// qpDecodeLine decodes one line as the Reader sees it: the line without
// its soft break, or with the hard line break it appends.
func qpDecodeLine(d, b []byte) ([]byte, bool) {
	for i := 0; i < len(b); {
		// Fast path: a run of bytes that stand for themselves.
		j := i
		for j < len(b) && b[j] != '=' && (b[j] >= ' ' && b[j] <= '~' || b[j] >= 0x80) {
			j++
		}
		if j > i {
			d = append(d, b[i:j]...)
			i = j
			continue
		}
		c := b[i]
		switch {
		case c == '=':
			if i+2 < len(b) {
				hv, okh := unhex(b[i+1])
				lv, okl := unhex(b[i+2])
				if okh && okl {
					d = append(d, hv<<4|lv)
					i += 3
					continue
				}
			}
			if i+1 < len(b) && b[i+1] != '\r' && b[i+1] != '\n' {
				break // a literal '='
			}
			return d, false
		case c == '\t' || c == '\r' || c == '\n' || c >= 0x80:
		case c < ' ' || c > '~':
			return d, false
		}
		d = append(d, c)
		i++
	}
	return d, true
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// qpMaxCol is the longest encoded line content: 75 characters and the '='
// of a soft line break make the 76 of RFC 2045.
const qpMaxCol = 75

const hexUpper = "0123456789ABCDEF"

// qpEncoder writes decoded bytes as quoted-printable lines of at most 76
// columns. Text it is given as a unit (a link) is kept on one line when it
// fits.
type qpEncoder struct {
	out []byte
	col int
	nl  string // line break of the part: "\r\n" or "\n"
}

func (e *qpEncoder) softBreak() {
	e.out = append(e.out, '=')
	e.out = append(e.out, e.nl...)
	e.col = 0
}

func qpTokenLen(c byte) int {
	if c > ' ' && c <= '~' && c != '=' {
		return 1
	}
	return 3
}

func (e *qpEncoder) token(c byte, trailing bool) {
	lit := (c > ' ' && c <= '~' && c != '=') || ((c == ' ' || c == '\t') && !trailing)
	n := 3
	if lit {
		n = 1
	}
	if e.col+n > qpMaxCol {
		e.softBreak()
	}
	if lit {
		e.out = append(e.out, c)
	} else {
		e.out = append(e.out, '=', hexUpper[c>>4], hexUpper[c&15])
	}
	e.col += n
}

// unit writes s (printable ASCII) unbroken when it fits on a line, on a new
// line if needed; a unit longer than a line is split by soft breaks.
func (e *qpEncoder) unit(s string) {
	n := 0
	for i := 0; i < len(s); i++ {
		n += qpTokenLen(s[i])
	}
	if e.col > 0 && e.col+n > qpMaxCol {
		e.softBreak()
	}
	for i := 0; i < len(s); i++ {
		e.token(s[i], false)
	}
}

// text writes decoded bytes. more says whether anything follows on the same
// encoded line (a unit, or the rest of a window that ends in a soft break):
// a space or tab at the end of a line must then not be escaped.
func (e *qpEncoder) text(b []byte, more bool) {
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c == '\r' && i+1 < len(b) && b[i+1] == '\n' {
			e.out = append(e.out, '\r', '\n')
			e.col = 0
			i++
			continue
		}
		if c == '\n' {
			e.out = append(e.out, '\n')
			e.col = 0
			continue
		}
		trailing := false
		if c == ' ' || c == '\t' {
			if i+1 == len(b) {
				trailing = !more
			} else {
				trailing = b[i+1] == '\n' || (b[i+1] == '\r' && i+2 < len(b) && b[i+2] == '\n')
			}
		}
		e.token(c, trailing)
	}
}
