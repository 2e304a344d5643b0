package rewrite

// HTML: the tag is found in any of its spellings (each character literal,
// as a character reference or percent-encoded), anywhere in the source; a
// small tokenizer (HTML5's states, simplified) says what it becomes.

// What an occurrence becomes.
const (
	kindURL    uint8 = iota // the link, & escaped for HTML
	kindURLRaw              // the link as is (plain text, script, style)
	kindAnchor              // <a href="link">link</a>
	kindDrop                // a later piece of a tag split by inline markup: removed
)

// Where an HTML occurrence is, for breaking overlong lines.
const (
	ctxText  uint8 = iota // text: a line break is white space
	ctxAttr               // attribute value: break around the attribute
	ctxFixed              // script, style, inside a tag: breaks only as a last resort
)

// hocc is an occurrence found in HTML, in view indexes.
type hocc struct {
	vs, ve    int
	kind      uint8
	ctx       uint8
	attrStart int // ctxAttr: view index of the attribute name
	valueEnd  int // ctxAttr: view index just after the value (-1: unknown)
}

type htmlState uint8

const (
	hData htmlState = iota
	hTagName
	hBeforeAttr
	hAttrName
	hAfterAttrName
	hBeforeValue
	hValueDQ
	hValueSQ
	hValueUnq
	hComment
	hBogus
	hRaw // script, style and friends: until </name
	hRCData
)

func isHTMLSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'
}

func isAlpha(c byte) bool { return ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') }

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// rawElements are read as text up to their end tag; rcdataElements
// likewise but with character references.
var rawElements = []string{"script", "style", "xmp", "iframe", "noembed", "noframes", "plaintext"}
var rcdataElements = []string{"title", "textarea"}

func nameIs(b []byte, s, e int, names []string) string {
	for _, n := range names {
		if e-s != len(n) {
			continue
		}
		ok := true
		for i := 0; i < len(n); i++ {
			if lower(b[s+i]) != n[i] {
				ok = false
				break
			}
		}
		if ok {
			return n
		}
	}
	return ""
}

// findHTML returns the occurrences of tag's spellings in the view b.
func findHTML(b []byte, tag string) []hocc { return scanHTML(b, tag, nil) }

// scanHTML is findHTML. When markup is not nil (it then has len(b)
// elements), it also sets the elements of the octets the scanner reads as
// markup (tags, comments, declarations: from the '<' that opens one to the
// '>' that ends it) rather than as text, for the differential test against
// golang.org/x/net/html. Only the steps into and out of markup look at it.
func scanHTML(b []byte, tag string, markup []bool) []hocc {
	var out []hocc
	st := hData
	inAnchor := false
	anchorHref := false // the a element inAnchor is in has href
	curHref := false    // the current tag has an href attribute
	var (
		nameStart, nameEnd int  // current tag name
		endTag             bool // current tag is an end tag
		attrStart          int
		attrNameEnd        int  // the end of the current attribute's name
		pendingAttr        = -1 // first occurrence in the current attribute value
		rawName            string
		markStart          int // markup: where the current markup began
	)
	mark := func(end int) {
		for k := markStart; k < end; k++ {
			markup[k] = true
		}
	}
	finishValue := func(end int) {
		if pendingAttr >= 0 {
			for k := pendingAttr; k < len(out); k++ {
				out[k].valueEnd = end
			}
			pendingAttr = -1
		}
	}
	endOfTag := func(i int) {
		if markup != nil {
			mark(i + 1)
		}
		name := nameIs(b, nameStart, nameEnd, []string{"a"})
		if name == "a" {
			inAnchor, anchorHref = !endTag, !endTag && curHref
		}
		st = hData
		if endTag {
			return
		}
		if n := nameIs(b, nameStart, nameEnd, rawElements); n != "" {
			st, rawName = hRaw, n
		} else if n := nameIs(b, nameStart, nameEnd, rcdataElements); n != "" {
			st, rawName = hRCData, n
		}
	}
	t0 := tag[0]
	for i := 0; i < len(b); {
		if st == hData {
			// Fast path: text up to the next markup or possible tag.
			for i < len(b) && b[i] != '<' && b[i] != '&' && b[i] != '%' && b[i] != t0 {
				i++
			}
			if i == len(b) {
				break
			}
		}
		c := b[i]
		if c == t0 || c == '&' || c == '%' {
			// Inside a tag, only the value of an href or src attribute is
			// a place for a link; a tag in any other attribute (a title, an
			// alt text), or in a tag's or attribute's name, stays.
			inTag := st != hData && st != hRaw && st != hRCData && st != hComment && st != hBogus
			linkAttr := (st == hBeforeValue || st == hValueDQ || st == hValueSQ || st == hValueUnq) &&
				nameIs(b, attrStart, attrNameEnd, []string{"href", "src"}) != ""
			if end, ok := matchForms(b, i, tag); ok && (!inTag || linkAttr) {
				if st == hBeforeValue {
					st = hValueUnq // the tag starts an unquoted value
				}
				o := hocc{vs: i, ve: end, kind: kindURL, ctx: ctxText, attrStart: -1, valueEnd: -1}
				switch st {
				case hData:
					if !inAnchor {
						o.kind = kindAnchor
					}
				case hValueDQ, hValueSQ, hValueUnq:
					o.ctx, o.attrStart = ctxAttr, attrStart
					if pendingAttr < 0 {
						pendingAttr = len(out)
					}
				case hRaw:
					o.kind, o.ctx = kindURLRaw, ctxFixed
				}
				out = append(out, o)
				i = end
				continue
			}
			if st == hData {
				if run, ok := matchSplit(b, i, tag, anchorState{inAnchor, anchorHref}); ok {
					for k, pc := range run.pieces {
						o := hocc{vs: pc[0], ve: pc[1], kind: kindDrop, ctx: ctxText, attrStart: -1, valueEnd: -1}
						if k == 0 {
							o.kind = kindURL
							if !inAnchor {
								o.kind = kindAnchor
							}
						}
						out = append(out, o)
					}
					if markup != nil {
						for _, g := range run.gaps {
							markStart = g[0]
							mark(g[1])
						}
					}
					inAnchor, anchorHref = run.after.in, run.after.href
					i = run.end
					continue
				}
			}
		}
		switch st {
		case hData:
			if c == '<' && i+1 < len(b) {
				markStart = i
				n := b[i+1]
				switch {
				case isAlpha(n):
					st, endTag, nameStart, curHref = hTagName, false, i+1, false
					i += 2
					continue
				case n == '/' && i+2 < len(b) && isAlpha(b[i+2]):
					st, endTag, nameStart = hTagName, true, i+2
					i += 3
					continue
				case n == '!' && i+3 < len(b) && b[i+2] == '-' && b[i+3] == '-':
					st = hComment
					i += 4
					// "<!-->" and "<!--->" are empty comments.
					if i < len(b) && b[i] == '>' {
						st, i = hData, i+1
					} else if i+1 < len(b) && b[i] == '-' && b[i+1] == '>' {
						st, i = hData, i+2
					}
					if st == hData && markup != nil {
						mark(i)
					}
					continue
				case n == '!' || n == '?' || n == '/' && i+2 < len(b):
					// ("</" at the end is text.)
					st = hBogus
					i += 2
					continue
				}
			}
		case hTagName:
			switch {
			case isHTMLSpace(c):
				nameEnd, st = i, hBeforeAttr
			case c == '/':
				nameEnd, st = i, hBeforeAttr
			case c == '>':
				nameEnd = i
				endOfTag(i)
			}
		case hBeforeAttr, hAfterAttrName:
			switch {
			case isHTMLSpace(c), c == '/':
				if c == '/' {
					st = hBeforeAttr
				}
			case c == '>':
				endOfTag(i)
			case c == '=' && st == hAfterAttrName:
				st = hBeforeValue
			default:
				st, attrStart = hAttrName, i
			}
		case hAttrName:
			if isHTMLSpace(c) || c == '/' || c == '=' || c == '>' {
				attrNameEnd = i
				curHref = curHref || nameIs(b, attrStart, i, []string{"href"}) != ""
			}
			switch {
			case isHTMLSpace(c):
				st = hAfterAttrName
			case c == '/':
				st = hBeforeAttr
			case c == '=':
				st = hBeforeValue
			case c == '>':
				endOfTag(i)
			}
		case hBeforeValue:
			switch {
			case isHTMLSpace(c):
			case c == '"':
				st = hValueDQ
			case c == '\'':
				st = hValueSQ
			case c == '>':
				endOfTag(i)
			default:
				st = hValueUnq
				continue // the character belongs to the value
			}
		case hValueDQ, hValueSQ:
			if (c == '"' && st == hValueDQ) || (c == '\'' && st == hValueSQ) {
				finishValue(i + 1)
				st = hBeforeAttr
			}
		case hValueUnq:
			if isHTMLSpace(c) {
				finishValue(i)
				st = hBeforeAttr
			} else if c == '>' {
				finishValue(i)
				endOfTag(i)
			}
		case hComment:
			if c == '-' && i+2 < len(b) && b[i+1] == '-' && b[i+2] == '>' {
				st, i = hData, i+3
				if markup != nil {
					mark(i)
				}
				continue
			}
			if c == '-' && i+3 < len(b) && b[i+1] == '-' && b[i+2] == '!' && b[i+3] == '>' {
				st, i = hData, i+4
				if markup != nil {
					mark(i)
				}
				continue
			}
		case hBogus:
			if c == '>' {
				st = hData
				if markup != nil {
					mark(i + 1)
				}
			}
		case hRaw, hRCData:
			if rawName != "plaintext" && c == '<' && i+2+len(rawName) <= len(b) && b[i+1] == '/' &&
				nameIs(b, i+2, i+2+len(rawName), []string{rawName}) != "" {
				e := i + 2 + len(rawName)
				// ("</script" at the end is text.)
				if e < len(b) && (isHTMLSpace(b[e]) || b[e] == '/' || b[e] == '>') {
					st, endTag, nameStart, nameEnd, markStart = hTagName, true, i+2, e, i
					i = e
					continue
				}
			}
		}
		i++
	}
	if markup != nil && st != hData && st != hRaw && st != hRCData {
		mark(len(b)) // unfinished at the end
	}
	return out
}

// matchForms matches tag at b[i:] where each character may be spelled
// literally, as a character reference (&#91; &#x5B; &lsqb; …) or
// percent-encoded (%5B, %5b). It returns the end of the match.
func matchForms(b []byte, i int, tag string) (int, bool) {
	for k := 0; k < len(tag); k++ {
		n := matchChar(b, i, tag[k])
		if n == 0 {
			return 0, false
		}
		i += n
	}
	return i, true
}

// matchChar matches the character c at b[i:], spelled literally, as a
// character reference or percent-encoded, and returns the length of its
// spelling, 0 when there is none.
func matchChar(b []byte, i int, c byte) int {
	if i >= len(b) {
		return 0
	}
	switch {
	case b[i] == c:
		return 1
	case b[i] == '&':
		r, n := charRef(b[i:])
		if n == 0 || r != rune(c) {
			return 0
		}
		return n
	case b[i] == '%':
		if i+2 >= len(b) {
			return 0
		}
		h, ok1 := unhex(b[i+1])
		l, ok2 := unhex(b[i+2])
		if !ok1 || !ok2 || h<<4|l != c {
			return 0
		}
		return 3
	}
	return 0
}

// namedRefs are the HTML5 named character references of printable ASCII
// characters (those that may occur in a tag).
var namedRefs = map[string]rune{
	"excl": '!', "num": '#', "dollar": '$', "lpar": '(', "rpar": ')',
	"ast": '*', "midast": '*', "plus": '+', "comma": ',', "period": '.',
	"sol": '/', "colon": ':', "semi": ';', "equals": '=', "quest": '?',
	"commat": '@', "lsqb": '[', "lbrack": '[', "bsol": '\\', "rsqb": ']',
	"rbrack": ']', "Hat": '^', "lowbar": '_', "UnderBar": '_', "grave": '`',
	"DiacriticalGrave": '`', "lcub": '{', "lbrace": '{', "verbar": '|',
	"vert": '|', "VerticalLine": '|', "rcub": '}', "rbrace": '}',
}

// charRef decodes the character reference at the start of b ("&…"): named
// ones need their ';', numeric ones may lack it. n is 0 when there is none.
func charRef(b []byte) (r rune, n int) {
	if len(b) < 3 || b[0] != '&' {
		return 0, 0
	}
	if b[1] == '#' {
		i := 2
		hex := false
		if i < len(b) && (b[i] == 'x' || b[i] == 'X') {
			hex = true
			i++
		}
		start := i
		var v rune
		for i < len(b) {
			d, ok := digit(b[i], hex)
			if !ok {
				break
			}
			if v < 0x110000 {
				if hex {
					v = v*16 + rune(d)
				} else {
					v = v*10 + rune(d)
				}
			}
			i++
		}
		if i == start {
			return 0, 0
		}
		if i < len(b) && b[i] == ';' {
			i++
		}
		return v, i
	}
	i := 1
	for i < len(b) && i < 40 && (isAlpha(b[i]) || ('0' <= b[i] && b[i] <= '9')) {
		i++
	}
	if i == 1 || i >= len(b) || b[i] != ';' {
		return 0, 0
	}
	r, ok := namedRefs[string(b[1:i])]
	if !ok {
		return 0, 0
	}
	return r, i + 1
}

func digit(c byte, hex bool) (byte, bool) {
	if '0' <= c && c <= '9' {
		return c - '0', true
	}
	if hex {
		if v, ok := unhex(c); ok {
			return v, true
		}
	}
	return 0, false
}
