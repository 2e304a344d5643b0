package dkim

import (
	"io"
	"strings"
	"sync"
)

// Canonicalization is a canonicalization algorithm.
type Canonicalization string

const (
	CanonicalizationSimple  Canonicalization = "simple"
	CanonicalizationRelaxed                  = "relaxed"
)

type canonicalizer interface {
	CanonicalizeHeader(s string) string
	CanonicalizeBody(w io.Writer) io.WriteCloser
}

var canonicalizers = map[Canonicalization]canonicalizer{
	CanonicalizationSimple:  new(simpleCanonicalizer),
	CanonicalizationRelaxed: new(relaxedCanonicalizer),
}

// crlfFixer fixes any lone LF without a preceding CR.
type crlfFixer struct {
	cr bool
}

func (cf *crlfFixer) Fix(b []byte) []byte {
	res := make([]byte, 0, len(b))
	for _, ch := range b {
		prevCR := cf.cr
		cf.cr = false
		switch ch {
		case '\r':
			cf.cr = true
		case '\n':
			if !prevCR {
				res = append(res, '\r')
			}
		}
		res = append(res, ch)
	}
	return res
}

type simpleCanonicalizer struct{}

func (c *simpleCanonicalizer) CanonicalizeHeader(s string) string {
	return s
}

type simpleBodyCanonicalizer struct {
	w         io.Writer
	crlfBuf   []byte
	crlfFixer crlfFixer
}

func (c *simpleBodyCanonicalizer) Write(b []byte) (int, error) {
	written := len(b)
	b = append(c.crlfBuf, b...)

	b = c.crlfFixer.Fix(b)

	end := len(b)
	// If it ends with \r, maybe the next write will begin with \n
	if end > 0 && b[end-1] == '\r' {
		end--
	}
	// Keep all \r\n sequences
	for end >= 2 {
		prev := b[end-2]
		cur := b[end-1]
		if prev != '\r' || cur != '\n' {
			break
		}
		end -= 2
	}

	c.crlfBuf = b[end:]

	var err error
	if end > 0 {
		_, err = c.w.Write(b[:end])
	}
	return written, err
}

func (c *simpleBodyCanonicalizer) Close() error {
	// Flush crlfBuf if it ends with a single \r (without a matching \n)
	if len(c.crlfBuf) > 0 && c.crlfBuf[len(c.crlfBuf)-1] == '\r' {
		if _, err := c.w.Write(c.crlfBuf); err != nil {
			return err
		}
	}
	c.crlfBuf = nil

	if _, err := c.w.Write([]byte(crlf)); err != nil {
		return err
	}
	return nil
}

func (c *simpleCanonicalizer) CanonicalizeBody(w io.Writer) io.WriteCloser {
	return &simpleBodyCanonicalizer{w: w}
}

type relaxedCanonicalizer struct{}

// CanonicalizeHeader applies the relaxed header canonicalization.
//
// careerrelay: it writes the result into one builder, lower-casing an
// ASCII name and joining the value's runs of bytes other than SP, HTAB,
// CR and LF with single spaces as it scans (v0.7.0 made a lower-cased
// copy, a slice of fields and their join, then concatenated). Those four
// bytes never occur inside a UTF-8 sequence, and FieldsFunc keeps invalid
// bytes as they are, so the result is the same (format_careerrelay_test.go).
func (c *relaxedCanonicalizer) CanonicalizeHeader(s string) string {
	k, v, ok := strings.Cut(s, ":")
	if !ok {
		return strings.TrimSpace(strings.ToLower(s)) + ":" + crlf
	}

	var b strings.Builder
	b.Grow(len(s) + len(crlf))
	if name := strings.TrimSpace(k); isASCII(name) {
		for i := 0; i < len(name); i++ {
			ch := name[i]
			if 'A' <= ch && ch <= 'Z' {
				ch += 'a' - 'A'
			}
			b.WriteByte(ch)
		}
	} else {
		b.WriteString(strings.TrimSpace(strings.ToLower(k)))
	}
	b.WriteByte(':')
	for i, first := 0, true; i < len(v); {
		if special[v[i]] {
			i++
			continue
		}
		j := i + 1
		for j < len(v) && !special[v[j]] {
			j++
		}
		if !first {
			b.WriteByte(' ')
		}
		b.WriteString(v[i:j])
		first = false
		i = j
	}
	b.WriteString(crlf)
	return b.String()
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// relaxedBodyCanonicalizer applies the relaxed body canonicalization
// (RFC 6376, section 3.4.4) to what is written to it: white space at the
// end of a line is dropped, a run of white space inside a line becomes one
// space, empty lines at the end are dropped, and a lone LF counts as CRLF.
//
// careerrelay: it copies runs of ordinary bytes into a fixed buffer in
// bulk instead of appending byte by byte to two new slices a Write (a copy
// for the CRLF fix and one for the result), and so allocates nothing after
// it is made. Its output is v0.7.0's, byte for byte (canonical_careerrelay_test.go).
type relaxedBodyCanonicalizer struct {
	w io.Writer
	// eols holds the line ends (CR and LF, a CR added in front of a lone
	// LF) seen since the last byte written: they are written in front of
	// the next byte that is not white space, and dropped at the end.
	eols    []byte
	wsp     bool // white space since the last byte written, on this line
	cr      bool // the last byte of the previous Write was a CR
	written bool
	eolArr  [16]byte
	buf     [2048]byte
	n       int // bytes of buf in use
}

// out appends p to the buffer, writing it out when it is full.
func (c *relaxedBodyCanonicalizer) out(p []byte) error {
	for len(p) > 0 {
		if c.n == len(c.buf) {
			if err := c.flush(); err != nil {
				return err
			}
		}
		k := copy(c.buf[c.n:], p)
		c.n += k
		p = p[k:]
	}
	return nil
}

func (c *relaxedBodyCanonicalizer) flush() error {
	if c.n == 0 {
		return nil
	}
	_, err := c.w.Write(c.buf[:c.n])
	c.n = 0
	return err
}

// special marks the bytes that are white space or line ends: SP, HTAB,
// CR and LF, what relaxed canonicalization folds in headers and bodies.
var special = [256]bool{' ': true, '\t': true, '\r': true, '\n': true}

func (c *relaxedBodyCanonicalizer) Write(b []byte) (int, error) {
	written := len(b)
	if c.eols == nil {
		c.eols = c.eolArr[:0]
	}
	for i := 0; i < len(b); {
		ch := b[i]
		prevCR := c.cr
		c.cr = false
		switch ch {
		case ' ', '\t':
			c.wsp = true
			i++
			continue
		case '\r':
			c.cr = true
			c.wsp = false
			c.eols = append(c.eols, '\r')
			i++
			continue
		case '\n':
			c.wsp = false
			if !prevCR {
				c.eols = append(c.eols, '\r')
			}
			c.eols = append(c.eols, '\n')
			i++
			continue
		}
		// A run of bytes that are neither white space nor line ends.
		j := i + 1
		for j < len(b) && !special[b[j]] {
			j++
		}
		if len(c.eols) > 0 {
			if err := c.out(c.eols); err != nil {
				return written, err
			}
			c.eols = c.eols[:0]
		}
		if c.wsp {
			if err := c.out(space); err != nil {
				return written, err
			}
			c.wsp = false
		}
		if err := c.out(b[i:j]); err != nil {
			return written, err
		}
		c.written = true
		i = j
	}
	// Written out at the end of every Write, as v0.7.0 did: what the
	// underlying writer has seen does not depend on the next Write.
	return written, c.flush()
}

var space = []byte{' '}

func (c *relaxedBodyCanonicalizer) Close() error {
	if c.written {
		if _, err := c.w.Write([]byte(crlf)); err != nil {
			return err
		}
	}
	return nil
}

func (c *relaxedCanonicalizer) CanonicalizeBody(w io.Writer) io.WriteCloser {
	rc := relaxedBodies.Get().(*relaxedBodyCanonicalizer)
	rc.w, rc.eols, rc.wsp, rc.cr, rc.written, rc.n = w, nil, false, false, false, 0
	return rc
}

// relaxedBodies recycles relaxed body canonicalizers and their buffers
// (careerrelay): the signer and the verifier give theirs back once closed.
var relaxedBodies = sync.Pool{New: func() interface{} { return new(relaxedBodyCanonicalizer) }}

// releaseBody gives a body canonicalizer back for reuse; wc must not be
// used afterwards.
func releaseBody(wc io.WriteCloser) {
	if rc, ok := wc.(*relaxedBodyCanonicalizer); ok {
		rc.w, rc.eols = nil, nil
		relaxedBodies.Put(rc)
	}
}

type limitedWriter struct {
	W io.Writer
	N int64
}

func (w *limitedWriter) Write(b []byte) (int, error) {
	if w.N <= 0 {
		return len(b), nil
	}

	skipped := 0
	if int64(len(b)) > w.N {
		b = b[:w.N]
		skipped = int(int64(len(b)) - w.N)
	}

	n, err := w.W.Write(b)
	w.N -= int64(n)
	return n + skipped, err
}
