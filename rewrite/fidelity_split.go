package rewrite

import (
	"regexp"
	"slices"
	"strings"

	"golang.org/x/net/html"
)

// expectedHTML is CheckFidelity's own reading of where the tag is in HTML
// source s, with golang.org/x/net/html's tokenizer rather than the
// rewriter's scanner; it returns s with each place the placeholder:
//   - in text, comments, raw text (script, style, title, ...) and
//     declarations, every spelling of the tag (replaceTagForms);
//   - inside a tag, only in the value of an href or src attribute;
//   - in text outside raw-text elements, also a tag whose characters are
//     split by comments and tags of inline elements (inlineElement; an a
//     with href may be neither opened nor closed inside): the first text
//     piece becomes the placeholder, the other pieces vanish, and the
//     markup between them stays.
func expectedHTML(s, tag string) string {
	segs := htmlSegments(s)
	var sb strings.Builder
	for i := 0; i < len(segs); i++ {
		g := segs[i]
		switch {
		case g.kind == segText:
		case g.tag:
			sb.WriteString(linkAttrsReplaced(g.raw, tag))
			continue
		default:
			sb.WriteString(replaceTagForms(g.raw, tag))
			continue
		}
		text := g.raw
		for j := 0; j < len(text); {
			if n := matchTagForm(text[j:], tag); n > 0 {
				sb.WriteString(text[:j])
				sb.WriteString(placeholder)
				text, j = text[j+n:], 0
				continue
			}
			if endSeg, endOff, ok := splitAt(segs, i, j, tag); ok {
				// Markup between the pieces stays; the text goes.
				sb.WriteString(text[:j])
				sb.WriteString(placeholder)
				for k := i + 1; k < endSeg; k++ {
					if segs[k].kind != segText {
						sb.WriteString(segs[k].raw)
					}
				}
				i = endSeg
				text, j = segs[i].raw[endOff:], 0
				continue
			}
			j++
		}
		sb.WriteString(text)
	}
	return sb.String()
}

// Segments of HTML source, as the tokenizer reads them.
const (
	segText    = iota // text where a tag may start (not in script, style, ...)
	segInline         // a comment or a tag that a split tag may span
	segBarrier        // anything else
)

type segment struct {
	raw  string
	kind int
	tag  bool // a start or end tag (not a comment)
}

// htmlSegments splits s into tokens classed for expectedHTML.
func htmlSegments(s string) []segment {
	z := html.NewTokenizer(strings.NewReader(s))
	var segs []segment
	raw := ""         // inside this raw-text element
	hrefOpen := false // inside an a with href
	consumed := 0
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			// The tokenizer drops a tag left unfinished at the end ("<a
			// href=..."), as HTML does; the source still has it.
			if consumed < len(s) {
				rest := s[consumed:]
				segs = append(segs, segment{raw: rest, kind: segBarrier, tag: len(rest) > 1 && rest[0] == '<' && (isAlpha(rest[1]) || rest[1] == '/')})
			}
			return segs
		}
		consumed += len(z.Raw())
		g := segment{raw: string(z.Raw()), kind: segBarrier}
		name, hasAttr := z.TagName()
		lname := strings.ToLower(string(name))
		href := false
		for hasAttr {
			var k []byte
			k, _, hasAttr = z.TagAttr()
			if strings.EqualFold(string(k), "href") {
				href = true
			}
		}
		switch tt {
		case html.TextToken:
			if raw == "" {
				g.kind = segText
			}
		case html.CommentToken:
			if raw == "" {
				g.kind = segInline
			}
		case html.StartTagToken, html.SelfClosingTagToken:
			g.tag = true
			switch {
			case lname == "a" && href:
				hrefOpen = true
			case lname == "a":
				g.kind, hrefOpen = segInline, false
			case inlineElement(lname):
				g.kind = segInline
			}
			if tt == html.StartTagToken && (slices.Contains(rawElements, lname) || slices.Contains(rcdataElements, lname)) {
				raw = lname
			}
		case html.EndTagToken:
			g.tag = true
			if raw != "" && lname == raw {
				raw = ""
			}
			switch {
			case lname == "a" && hrefOpen:
				hrefOpen = false
			case lname == "a", inlineElement(lname):
				g.kind = segInline
			}
		}
		segs = append(segs, g)
	}
}

// splitAt matches tag from segs[i].raw[j:] across inline segments; it
// reports a match only when at least one inline segment is inside, and
// returns where it ends (segment and offset).
func splitAt(segs []segment, i, j int, tag string) (endSeg, endOff int, ok bool) {
	crossed := false
	for k := 0; k < len(tag); {
		if i >= len(segs) {
			return 0, 0, false
		}
		g := segs[i]
		switch g.kind {
		case segText:
			if j >= len(g.raw) {
				i, j = i+1, 0
				continue
			}
			n := matchTagForm(g.raw[j:], tag[k:k+1])
			if n == 0 {
				return 0, 0, false
			}
			j += n
			k++
		case segInline:
			crossed = true
			i, j = i+1, 0
		default:
			return 0, 0, false
		}
	}
	return i, j, crossed
}

// reAttr is one attribute of a tag's source: its leading space (none
// after a quoted value, as HTML allows), name (quotes in it are part of
// it, as HTML reads them), and
// the value with its "=" when it has one (a quoted value may be left open
// by the end of the part).
var reAttr = regexp.MustCompile(`(?s)([\s/]*)([^\s/>=]+|=[^\s/>=]*)(\s*=\s*(?:"[^"]*"?|'[^']*'?|[^\s>]*))?`)

// linkAttrsReplaced is a start or end tag's source with the tag's
// spellings replaced in the values of href and src attributes only.
func linkAttrsReplaced(raw, tag string) string {
	start := 1 // after "<", or "</" for an end tag
	if len(raw) > 1 && raw[1] == '/' {
		start = 2
	}
	nameEnd := strings.IndexFunc(raw[start:], func(r rune) bool {
		return r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '\f' || r == '/' || r == '>'
	})
	if nameEnd < 0 {
		return raw
	}
	nameEnd += start
	head, rest := raw[:nameEnd], raw[nameEnd:]
	return head + reAttr.ReplaceAllStringFunc(rest, func(a string) string {
		m := reAttr.FindStringSubmatch(a)
		if n := strings.ToLower(m[2]); (n == "href" || n == "src") && m[3] != "" {
			return m[1] + m[2] + replaceTagForms(m[3], tag)
		}
		return a
	})
}
