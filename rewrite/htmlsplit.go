package rewrite

import "bytes"

// Mail editors split words they do not know with inline markup: Word
// writes [[<span class="SpellE">career-relay</span>]], language runs get
// <span lang="EN-US">, and copy-paste brings <b>, <font>, <o:p> and
// comments. In HTML text the tag is therefore also found across inline
// markup: its characters in order, with only inline elements' tags and
// comments between them. The first piece of text becomes the link (an
// anchor, or the link's text inside an anchor), the later pieces are
// dropped, and every tag in between stays where it was, so that the markup
// stays balanced (an element opened inside the run still closes after it).
// Anything that breaks a line, and every element that is not inline
// formatting, ends the search: a tag across <p>, <br>, <div>, <td> or an
// image stays as it is.

// inlineElements are the elements whose tags may sit between the
// characters of a tag: formatting that does not break a line. Elements of
// an XML namespace (o:p, st1:PersonName, w:...), which Office writes, are
// inline too. a is inline only without href (see splitMarkup).
var inlineElements = map[string]bool{
	"a": true, "abbr": true, "acronym": true, "b": true, "bdi": true, "bdo": true,
	"big": true, "cite": true, "code": true, "data": true, "del": true, "dfn": true,
	"em": true, "font": true, "i": true, "ins": true, "kbd": true, "label": true,
	"mark": true, "nobr": true, "q": true, "s": true, "samp": true, "small": true,
	"span": true, "strike": true, "strong": true, "sub": true, "sup": true,
	"time": true, "tt": true, "u": true, "var": true, "wbr": true,
}

// inlineElement reports whether the element name (lower case) is inline
// formatting.
func inlineElement(name string) bool {
	for i := 0; i < len(name); i++ {
		if name[i] == ':' {
			return true
		}
	}
	return inlineElements[name]
}

// anchorState is whether the text is inside an a element, and whether
// that one has an href (a link, which a run may neither open nor close).
type anchorState struct {
	in, href bool
}

// splitRun is a tag found across inline markup: its text pieces (view
// ranges, in order) and the markup between them.
type splitRun struct {
	pieces [][2]int
	gaps   [][2]int
	end    int
	after  anchorState // the anchor state after the run
}

// matchSplit matches tag at b[i:] (HTML text) with inline markup between
// its characters; ok is false when there is none (a contiguous tag is
// matchForms'), or when a character, a barrier or the end comes first.
func matchSplit(b []byte, i int, tag string, a anchorState) (run splitRun, ok bool) {
	start := i
	for k := 0; k < len(tag); {
		if i >= len(b) {
			return run, false
		}
		if b[i] == '<' {
			end, next, skip := splitMarkup(b, i, a)
			if !skip {
				return run, false
			}
			if start < i {
				run.pieces = append(run.pieces, [2]int{start, i})
			}
			run.gaps = append(run.gaps, [2]int{i, end})
			i, start, a = end, end, next
			continue
		}
		n := matchChar(b, i, tag[k])
		if n == 0 {
			return run, false
		}
		i += n
		k++
	}
	if len(run.gaps) == 0 {
		return run, false
	}
	run.pieces = append(run.pieces, [2]int{start, i})
	run.end, run.after = i, a
	return run, true
}

// splitMarkup reads the markup at b[i] ('<'): a comment, or the start or
// end tag of an inline element, may sit inside a tag (skip), and it
// returns its end and the anchor state after it. An a start tag with href
// opens a link and an end tag of such a link closes it: neither may.
func splitMarkup(b []byte, i int, a anchorState) (end int, next anchorState, skip bool) {
	if hasPrefixAt(b, i, "<!--") {
		// "<!-->" and "<!--->" are empty comments.
		if hasPrefixAt(b, i+4, ">") {
			return i + 5, a, true
		}
		if hasPrefixAt(b, i+4, "->") {
			return i + 6, a, true
		}
		for j := i + 4; j+2 < len(b); j++ {
			if b[j] == '-' && b[j+1] == '-' && b[j+2] == '>' {
				return j + 3, a, true
			}
		}
		return 0, a, false
	}
	// A bogus comment, as HTML reads "<!...>", "<?...>" and "</" before
	// anything but a letter, up to the first '>': Word writes its
	// conditional markup so (<![if !supportLists]>).
	if i+1 < len(b) && (b[i+1] == '!' || b[i+1] == '?' || (b[i+1] == '/' && i+2 < len(b) && !isAlpha(b[i+2]) && b[i+2] != '>')) {
		if k := bytes.IndexByte(b[i+2:], '>'); k >= 0 {
			return i + 2 + k + 1, a, true
		}
		return 0, a, false
	}
	j := i + 1
	endTag := j < len(b) && b[j] == '/'
	if endTag {
		j++
	}
	ns := j
	// The name runs to white space, '/' or '>', as HTML reads it ("<a!>"
	// is an element named "a!", not an a).
	for j < len(b) && !isHTMLSpace(b[j]) && b[j] != '/' && b[j] != '>' {
		j++
	}
	if j == ns || !isAlpha(b[ns]) {
		return 0, a, false
	}
	name := make([]byte, j-ns)
	for k := range name {
		name[k] = lower(b[ns+k])
	}
	end, href, ok := tagAttrsEnd(b, j)
	if !ok || !inlineElement(string(name)) {
		return 0, a, false
	}
	if string(name) == "a" {
		switch {
		case endTag && a.in && a.href, !endTag && href:
			return 0, a, false
		case endTag:
			return end, anchorState{}, true
		default:
			return end, anchorState{in: true}, true
		}
	}
	return end, a, true
}

// tagAttrsEnd reads the attributes of a tag from b[j] to its '>', and
// says whether one of them is href.
func tagAttrsEnd(b []byte, j int) (end int, href, ok bool) {
	for j < len(b) {
		for j < len(b) && (isHTMLSpace(b[j]) || b[j] == '/') {
			j++
		}
		if j >= len(b) {
			break
		}
		if b[j] == '>' {
			return j + 1, href, true
		}
		ns := j
		for j < len(b) && !isHTMLSpace(b[j]) && b[j] != '/' && b[j] != '=' && b[j] != '>' {
			j++
		}
		if nameIs(b, ns, j, []string{"href"}) != "" {
			href = true
		}
		for j < len(b) && isHTMLSpace(b[j]) {
			j++
		}
		if j >= len(b) || b[j] != '=' {
			continue
		}
		j++
		for j < len(b) && isHTMLSpace(b[j]) {
			j++
		}
		if j < len(b) && (b[j] == '"' || b[j] == '\'') {
			q := b[j]
			j++
			for j < len(b) && b[j] != q {
				j++
			}
			j++ // the closing quote
			continue
		}
		for j < len(b) && !isHTMLSpace(b[j]) && b[j] != '>' {
			j++
		}
	}
	return 0, false, false
}

func hasPrefixAt(b []byte, i int, s string) bool {
	return len(b)-i >= len(s) && string(b[i:i+len(s)]) == s
}
