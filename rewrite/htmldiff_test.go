package rewrite

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// tokenizerMarkup marks the octets of b that golang.org/x/net/html's
// Tokenizer reads as markup: the raw bytes of every token but a text
// token (tags, comments, doctypes), and an unfinished tag at the end,
// which the tokenizer drops. Offsets are the sums of the Raw lengths.
//
// noscript is read as markup, not raw text: the tokenizer reads it as raw
// text only for a parser that runs scripts, and a parser that does not
// (as in mail) tells it so with NextIsNotRawText, as done here.
func tokenizerMarkup(b []byte) []bool {
	markup := make([]bool, len(b))
	z := html.NewTokenizer(bytes.NewReader(b))
	pos := 0
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			break
		}
		n := len(z.Raw())
		if tt != html.TextToken {
			for k := pos; k < pos+n; k++ {
				markup[k] = true
			}
		}
		if tt == html.StartTagToken || tt == html.SelfClosingTagToken {
			if name, _ := z.TagName(); string(name) == "noscript" {
				z.NextIsNotRawText()
			}
		}
		pos += n
	}
	for k := pos; k < len(b); k++ {
		markup[k] = true
	}
	return markup
}

// doubleEscapedScript reports a script element whose text (up to its
// first end tag "</script", where the scanner ends it) has "<!--" and
// after it "<script": HTML's script data double escaped state, in which
// that "</script>" does not end the element. The scanner does not have the
// escaped states; the tokenizer does (its own way: x/net/html's readScript
// also leaves the escaped state at a '<' followed by neither '/' nor a
// letter, where HTML stays in it, so matching the tokenizer here would not
// simply be matching HTML).
func doubleEscapedScript(b []byte) bool {
	l := bytes.ToLower(b)
	for {
		i := bytes.Index(l, []byte("<script"))
		if i < 0 {
			return false
		}
		l = l[i+len("<script"):]
		text := l
		for k := 0; ; {
			e := bytes.Index(text[k:], []byte("</script"))
			if e < 0 {
				break
			}
			e += k + len("</script")
			if e < len(text) && bytes.IndexByte([]byte(" \t\n\r\f/>"), text[e]) >= 0 {
				text = text[:e-len("</script")]
				break
			}
			k = e
		}
		c := bytes.Index(text, []byte("<!--"))
		if c >= 0 && bytes.Contains(text[c:], []byte("<script")) {
			return true
		}
	}
}

// showMarkup draws m under b: '^' for markup, '.' for text.
func showMarkup(m []bool) string {
	var s strings.Builder
	for _, v := range m {
		if v {
			s.WriteByte('^')
		} else {
			s.WriteByte('.')
		}
	}
	return s.String()
}

// checkMarkup compares the scanner's text and markup with the tokenizer's.
func checkMarkup(t *testing.T, in []byte) {
	t.Helper()
	ours := make([]bool, len(in))
	scanHTML(in, testTag, ours)
	theirs := tokenizerMarkup(in)
	for k := range in {
		if ours[k] != theirs[k] {
			if doubleEscapedScript(in) {
				t.Skipf("known difference: script data escaped states in %q", in)
			}
			t.Fatalf("%q: octet %d (%q) markup %v, x/net/html: %v\nscanner:   %s\ntokenizer: %s",
				in, k, in[k], ours[k], theirs[k], showMarkup(ours), showMarkup(theirs))
		}
	}
}

var htmlDiffCases = []string{
	`<p>[[career-relay]]</p>`,
	`<a href="[[career-relay]]">x</a> [[career-relay]]`,
	`<A HREF = "x[[career-relay]]y" title='a>b' data-x=c>d</A>`,
	`<p title="a>b" data-x='"'>[[career-relay]]`,
	`<script>if (a<b) "</p>[[career-relay]]"</script >[[career-relay]]`,
	`<style>p{}</style/>x`,
	`<title><b>[[career-relay]]</b></title>`,
	`<textarea></textareax></textarea>`,
	`<!-- [[career-relay]] -->x<!-->y<!--->z<!---->w<!-- a --!>v`,
	`<!DOCTYPE html><![CDATA[ x>y ]]><?xml x?></>a</ b>c`,
	`a < b <3 <[[career-relay]] & c`,
	`<scriptx>[[career-relay]]<script>x</scriptx>y`,
	`<p [[career-relay]]>`,
	`<br/><img src=a/>x<p a=/>y`,
	`<a b / = 'x>y'>z`,
	`<a =x>y`,
	`<noscript><a href=x>y</a></noscript>`,
	`<plaintext></plaintext><p>`,
	`<xmp><p></xmp><iframe><p></iframe><noembed><p></noembed><noframes><p></noframes>`,
	`<script>x</script`,
	`<a href="x`,
	`<!-- x`,
	`<`,
	`</`,
	`<!`,
	`<!-`,
}

func TestHTMLScannerAgainstTokenizer(t *testing.T) {
	for _, c := range htmlDiffCases {
		t.Run("", func(t *testing.T) { checkMarkup(t, []byte(c)) })
	}
}

// FuzzHTMLScanner: for any input, the octets the scanner of findHTML reads
// as text (where it makes links) are those golang.org/x/net/html's
// Tokenizer returns as text tokens, and the rest (tags, comments,
// declarations) markup for both; see checkMarkup.
func FuzzHTMLScanner(f *testing.F) {
	for _, c := range htmlDiffCases {
		f.Add(c)
	}
	ins, _ := filepath.Glob(filepath.Join("testdata", "*-html-*.eml"))
	for _, in := range ins {
		if b, err := os.ReadFile(in); err == nil {
			f.Add(string(b))
		}
	}
	f.Fuzz(func(t *testing.T, in string) {
		checkMarkup(t, []byte(in))
	})
}

// TestHTMLScannerKnownDifference pins the one difference checkMarkup
// skips: in "<script><!--<script></script>", HTML's script data double
// escaped state keeps the element open past the first "</script>" (x/net/html
// reads the tag after it as script text), while the scanner ends the
// element there and reads the tag as text, so it would make an anchor of a
// tag in the rest of that script.
func TestHTMLScannerKnownDifference(t *testing.T) {
	in := []byte(`<script><!--<script></script>[[career-relay]]</script>`)
	if !doubleEscapedScript(in) {
		t.Fatal("doubleEscapedScript does not see it")
	}
	ours := make([]bool, len(in))
	scanHTML(in, testTag, ours)
	if bytes.Equal([]byte(showMarkup(ours)), []byte(showMarkup(tokenizerMarkup(in)))) {
		t.Fatal("the scanner now agrees with x/net/html here: drop the skip in checkMarkup")
	}
	// What it costs: the tag, script text to a browser, becomes an anchor.
	if o := findHTML(in, testTag); len(o) != 1 || o[0].kind != kindAnchor {
		t.Fatalf("occurrences %+v", o)
	}
	if !doubleEscapedScript([]byte(`<script></scriptx><!--<script></script>[[career-relay]]</script>`)) {
		t.Error("doubleEscapedScript ends the text at </scriptx")
	}
	for _, s := range []string{`<script>x</script><!--<script>`, `<p><!--<script>--></p>`} {
		if doubleEscapedScript([]byte(s)) {
			t.Errorf("doubleEscapedScript(%q): no script element has both", s)
		}
	}
}
