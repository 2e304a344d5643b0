package rewrite

import (
	"bytes"
	"strings"
	"sync"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/htmlindex"
	"golang.org/x/text/encoding/ianaindex"
	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/encoding/unicode"
)

// csKind says how the tag is found in a charset's bytes.
type csKind uint8

const (
	csUnsupported csKind = iota
	// csASCII: every byte below 0x80 is the ASCII character (UTF-8,
	// US-ASCII, ASCII-compatible single-byte charsets, EUC-JP).
	csASCII
	// csSJIS: Shift_JIS/CP932, whose trail bytes may be ASCII letters, '['
	// or ']'.
	csSJIS
	// csISO2022JP: ISO-2022-JP, stateful; ASCII only in the ASCII and
	// JIS-Roman states.
	csISO2022JP
)

// extraCharsets are labels seen in Japanese mail that go-message's charset
// lookup does not know, with the decoder that reads them.
var extraCharsets = map[string]encoding.Encoding{
	"cp932":          japanese.ShiftJIS,
	"x-ms-cp932":     japanese.ShiftJIS,
	"ibm-943":        japanese.ShiftJIS,
	"cp50220":        japanese.ISO2022JP,
	"cp50221":        japanese.ISO2022JP,
	"cp50222":        japanese.ISO2022JP,
	"iso-2022-jp-ms": japanese.ISO2022JP,
	"iso-2022-jp-1":  japanese.ISO2022JP,
	"iso-2022-jp-2":  japanese.ISO2022JP,
	"iso-2022-jp-3":  japanese.ISO2022JP,
	"eucjp-ms":       japanese.EUCJP,
	"euc-jp-ms":      japanese.EUCJP,
	"cp51932":        japanese.EUCJP,
	"eucjp":          japanese.EUCJP,
}

// goMessageQuirks are the labels go-message's charset package maps itself.
var goMessageQuirks = map[string]encoding.Encoding{
	"ansi_x3.110-1983": charmap.ISO8859_1,
	"x-utf_8j":         unicode.UTF8,
}

// lookupEncoding returns the decoder for a charset label as go-message's
// charset.Reader finds it, falling back to extraCharsets. identity is true
// for the labels go-message passes through undecoded (utf-8, us-ascii).
func lookupEncoding(label string) (enc encoding.Encoding, identity bool) {
	l := strings.ToLower(label)
	if l == "utf-8" || l == "us-ascii" {
		return nil, true
	}
	if e, ok := goMessageQuirks[l]; ok {
		return e, false
	}
	e, err := ianaindex.MIME.Encoding(l)
	if e == nil {
		e, err = ianaindex.MIME.Encoding("cs" + l)
	}
	if e == nil {
		e, err = htmlindex.Get(l)
	}
	if err == nil && e != nil {
		return e, false
	}
	return extraCharsets[l], false
}

// fromGoMessage reports whether go-message itself decodes the label (else
// only extraCharsets knows it).
func fromGoMessage(label string) bool {
	l := strings.ToLower(label)
	if _, ok := extraCharsets[l]; !ok {
		return true
	}
	e, err := ianaindex.MIME.Encoding(l)
	if e == nil {
		e, err = ianaindex.MIME.Encoding("cs" + l)
	}
	if e == nil {
		e, err = htmlindex.Get(l)
	}
	return err == nil && e != nil
}

// charsetKind classifies a part's charset. hasLabel is false when the part
// has no charset parameter (go-message then passes the bytes through).
// An unlabelled or US-ASCII part whose bytes hold ISO-2022-JP escape
// sequences is ISO-2022-JP: old Japanese mailers sent it that way.
func charsetKind(label string, hasLabel bool, body []byte) csKind {
	if !hasLabel || strings.EqualFold(label, "us-ascii") {
		if looksISO2022JP(body) {
			return csISO2022JP
		}
		return csASCII
	}
	enc, identity := lookupEncoding(label)
	switch {
	case identity:
		return csASCII
	case enc == nil:
		return csUnsupported
	case enc == unicode.UTF8, enc == japanese.EUCJP:
		return csASCII
	case enc == japanese.ShiftJIS:
		return csSJIS
	case enc == japanese.ISO2022JP:
		return csISO2022JP
	}
	if cm, ok := enc.(*charmap.Charmap); ok && asciiCompatible(cm) {
		return csASCII
	}
	return csUnsupported
}

func asciiCompatible(cm *charmap.Charmap) bool {
	for b := 0; b < 0x80; b++ {
		if cm.DecodeByte(byte(b)) != rune(b) {
			return false
		}
	}
	return true
}

func looksISO2022JP(b []byte) bool {
	for {
		i := bytes.IndexByte(b, 0x1b)
		if i < 0 || i+2 >= len(b) {
			return false
		}
		if b[i+1] == '$' && (b[i+2] == 'B' || b[i+2] == '@' || b[i+2] == '(') {
			return true
		}
		b = b[i+1:]
	}
}

// A view is the characters of a decoded body as the part's charset decoder
// sees them: an ASCII character as itself, any other character as bytes of
// 0x80 and above. pos maps a view index to its offset in the body; nil
// means the view has the body's offsets.
type view struct {
	b   []byte
	pos []int32
	buf *[]byte // b's buffer, from viewBufs, when the view owns it
}

// viewBufs recycles the copies isoView makes: a view lives only while its
// caller looks at it (findOccurrences, renderBroken), and a Japanese mail
// needs one for each text part when it is received and again for each
// copy delivered.
var viewBufs = sync.Pool{New: func() any { return new([]byte) }}

// maxPooledView is the largest buffer kept for reuse: a view of a part of
// many megabytes is left to the garbage collector.
const maxPooledView = 1 << 20

// release gives the view's buffer back for reuse; v must not be used
// afterwards.
func (v view) release() {
	if v.buf == nil || cap(v.b) > maxPooledView {
		return
	}
	*v.buf = v.b[:0]
	viewBufs.Put(v.buf)
}

func (v view) off(i int) int {
	if v.pos == nil {
		return i
	}
	return int(v.pos[i])
}

// endOff is the body offset just after the view's character i-1, which
// must be an ASCII character.
func (v view) endOff(i int) int { return v.off(i-1) + 1 }

func makeView(d []byte, cs csKind) view {
	switch cs {
	case csSJIS:
		return view{b: sjisView(d)}
	case csISO2022JP:
		return isoView(d)
	}
	return view{b: d}
}

// sjisView hides the bytes of double-byte characters, following
// golang.org/x/text's Shift_JIS decoder: a lead byte (0x81-0x9F, 0xE0-0xFC)
// takes the next byte as its trail unless that byte is below 0x40 or 0x7F.
// d is copied only when a trail byte below 0x80 has to be hidden.
func sjisView(d []byte) []byte {
	out := d
	copied := false
	for i := 0; i < len(d); {
		c := d[i]
		if (0x81 <= c && c <= 0x9f) || (0xe0 <= c && c <= 0xfc) {
			if i+1 < len(d) && d[i+1] >= 0x40 && d[i+1] != 0x7f {
				if d[i+1] < 0x80 {
					if !copied {
						out = append([]byte(nil), d...)
						copied = true
					}
					out[i+1] = 0x80
				}
				i += 2
				continue
			}
		}
		i++
	}
	return out
}

// ISO-2022-JP states of golang.org/x/text's decoder. JIS-Roman (ESC ( J)
// is read as ASCII there; roman keeps it apart so that a link with '~' or
// '\' can be written in true ASCII.
const (
	isoASCII uint8 = iota
	isoRoman
	isoKana
	isoJIS0208
	isoJIS0212
)

// isoScanner walks ISO-2022-JP bytes exactly as x/text's decoder does.
type isoScanner struct {
	d  []byte
	i  int
	st uint8
}

// next returns the next character: c is the byte for an ASCII-state
// character, 0x80 for any other; at its offset. Escape sequences are
// consumed silently.
func (s *isoScanner) next() (c byte, at int, ok bool) {
	d := s.d
	for s.i < len(d) {
		i := s.i
		c0 := d[i]
		if c0 >= 0x80 {
			s.i++
			return 0x80, i, true
		}
		if c0 == 0x1b {
			if i+2 >= len(d) {
				s.i++
				return 0x80, i, true
			}
			c1, c2 := d[i+1], d[i+2]
			switch {
			case c1 == '$' && (c2 == '@' || c2 == 'B'):
				s.st, s.i = isoJIS0208, i+3
				continue
			case c1 == '$' && c2 == '(':
				if i+3 >= len(d) {
					s.i++
					return 0x80, i, true
				}
				if d[i+3] == 'D' {
					s.st, s.i = isoJIS0212, i+4
					continue
				}
			case c1 == '(' && c2 == 'B':
				s.st, s.i = isoASCII, i+3
				continue
			case c1 == '(' && c2 == 'J':
				s.st, s.i = isoRoman, i+3
				continue
			case c1 == '(' && c2 == 'I':
				s.st, s.i = isoKana, i+3
				continue
			}
			s.i++
			return 0x80, i, true
		}
		switch s.st {
		case isoASCII, isoRoman:
			s.i++
			return c0, i, true
		case isoKana:
			s.i++
			return 0x80, i, true
		}
		if c0 == '\n' {
			s.st = isoASCII
			s.i++
			return '\n', i, true
		}
		if i+1 >= len(d) {
			s.i++
			return 0x80, i, true
		}
		s.i += 2
		return 0x80, i, true
	}
	return 0, 0, false
}

// isoView is the view of ISO-2022-JP bytes. Escape sequences are not
// characters: when one stands between two ASCII characters (a redundant
// designation, which could split the tag or hide a quote mark) the view
// leaves them out and keeps offsets in pos; otherwise they are shown as
// 0x80 next to the non-ASCII character they introduce or end, and the view
// keeps the body's offsets.
func isoView(d []byte) view {
	buf := viewBufs.Get().(*[]byte)
	b := append((*buf)[:0], d...)
	compact := func() view {
		*buf = b[:0]
		viewBufs.Put(buf)
		return isoCompactView(d)
	}
	s := isoScanner{d: d}
	lastASCII := true // the start of the text counts as ASCII
	prev := 0         // just after the last character
	for {
		if s.st <= isoRoman {
			// Fast path: ASCII characters up to the next ESC or 8-bit byte.
			i := s.i
			for i < len(d) && d[i] != 0x1b && d[i] < 0x80 {
				i++
			}
			if i > s.i {
				if s.i > prev && lastASCII {
					return compact()
				}
				s.i, prev, lastASCII = i, i, true
			}
		} else if s.st >= isoJIS0208 {
			// Fast path: double-byte characters up to ESC, LF, an 8-bit
			// byte or the last byte.
			i := s.i
			for i+1 < len(d) && d[i] != 0x1b && d[i] != '\n' && d[i] < 0x80 {
				i += 2
			}
			if i > s.i {
				fill80(b[s.i:i])
				s.i, prev, lastASCII = i, i, false
			}
		}
		c, at, ok := s.next()
		if !ok {
			break
		}
		if at > prev {
			fill80(b[prev:at])
			if lastASCII && c < 0x80 {
				return compact()
			}
		}
		if c >= 0x80 {
			fill80(b[at:s.i])
		}
		lastASCII = c < 0x80
		prev = s.i
	}
	if prev < len(d) && lastASCII {
		return compact() // escapes after the last, ASCII, character
	}
	fill80(b[prev:])
	return view{b: b, buf: buf}
}

func fill80(b []byte) {
	for i := range b {
		b[i] = 0x80
	}
}

// isoCompactView is the view without escape sequences, with offsets.
func isoCompactView(d []byte) view {
	v := view{b: make([]byte, 0, len(d)), pos: make([]int32, 0, len(d))}
	s := isoScanner{d: d}
	for {
		c, at, ok := s.next()
		if !ok {
			return v
		}
		v.b = append(v.b, c)
		v.pos = append(v.pos, int32(at))
	}
}

// isoStatesAt returns the state that governs the character at each of
// offs (ascending offsets of characters).
func isoStatesAt(d []byte, offs []int) []uint8 {
	out := make([]uint8, len(offs))
	if !bytes.Contains(d, []byte("\x1b(J")) {
		return out // all isoASCII: JIS-Roman is never designated
	}
	s := isoScanner{d: d}
	for k := 0; k < len(offs); {
		_, at, ok := s.next()
		if !ok {
			break
		}
		for k < len(offs) && offs[k] == at {
			out[k] = s.st
			k++
		}
	}
	return out
}

// isoEscape is the designation that returns to state st (ASCII or Roman).
func isoEscape(st uint8) string {
	if st == isoRoman {
		return "\x1b(J"
	}
	return "\x1b(B"
}
