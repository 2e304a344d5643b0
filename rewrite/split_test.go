package rewrite

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/emersion/go-message"
	"golang.org/x/net/html"
)

// splitShapes are tags split as mail editors split them.
var splitShapes = []struct{ name, html string }{
	{"word SpellE", `[[<span class=SpellE>career-relay</span>]]`},
	{"word GramE quoted", `[[<span class="GramE">career</span>-relay]]`},
	{"lang runs", `<span lang=EN-US>[[career</span><span lang=EN-US>-relay]]</span>`},
	{"bold opened before", `<b>[[career-</b>relay]]`},
	{"bold closed after", `[[career-<b>relay]]</b>`},
	{"i u em strong", `[[<i>career</i>-<u>re</u><em>l</em><strong>ay</strong>]]`},
	{"font", `<font face="ＭＳ ゴシック" size=2>[[career-relay</font>]]`},
	{"a without href", `<a name="_MailAutoSig">[[career</a>-relay]]`},
	{"o:p", `[[career-relay]<o:p></o:p>]`},
	{"comments", `[[career<!--[if !supportLists]-->-<!--[endif]-->relay]]`},
	{"office namespace", `[[<st1:PersonName w:st="on">career-relay</st1:PersonName>]]`},
	{"entity and span", `&#91;[<span>career&#45;relay</span>]&rsqb;`},
	{"nested spans", `<span style='font-family:"MS Gothic"'><span lang=EN-US>[[</span></span><span lang=EN-US>career-relay]]</span>`},
	{"inside a link", `<a href="https://agency.example/">[[<span class=SpellE>career-relay</span>]]</a>`},
}

// splitCharsets are the charsets and transfer encodings of the matrix.
var splitCharsets = []struct {
	name, charset, cte string
	encode             func(string) string
}{
	{"utf-8 8bit", "utf-8", "8bit", crlf},
	{"utf-8 qp", "utf-8", "quoted-printable", func(s string) string { return qpEncode(crlf(s)) }},
	{"utf-8 base64", "utf-8", "base64", func(s string) string { return base64Lines(crlf(s)) }},
	{"iso-2022-jp 7bit", "iso-2022-jp", "7bit", iso},
	{"iso-2022-jp base64", "iso-2022-jp", "base64", func(s string) string { return base64Lines(iso(s)) }},
	{"shift_jis 8bit", "shift_jis", "8bit", sjis},
	{"shift_jis qp", "shift_jis", "quoted-printable", func(s string) string { return qpEncode(sjis(s)) }},
}

// splitPage is a Word-style HTML rejection around body.
func splitPage(body string) string {
	return `<html xmlns:o="urn:schemas-microsoft-com:office:office"><body lang=JA>` + "\n" +
		`<p class=MsoNormal>山田様<o:p></o:p></p>` + "\n" +
		`<p class=MsoNormal>今後のキャリアのご相談はこちら：` + body + `<o:p></o:p></p>` + "\n" +
		`<p class=MsoNormal>採用担当</p></body></html>` + "\n"
}

// TestSplitTagsEveryShapeCharsetEncoding: each shape, in each charset and
// transfer encoding, is found once and rendered as one link; the fidelity
// check holds; and x/net/html parses the result into the input's tree with
// only the run's text changed.
func TestSplitTagsEveryShapeCharsetEncoding(t *testing.T) {
	for _, sh := range splitShapes {
		for _, cs := range splitCharsets {
			name := sh.name + "/" + cs.name
			page := splitPage(sh.html)
			msg := []byte(hdr("MIME-Version: 1.0", "Content-Type: text/html; charset="+cs.charset,
				"Content-Transfer-Encoding: "+cs.cte) + cs.encode(page))
			tm, err := Prepare(msg, testTag)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if tm.Count() != 1 {
				t.Errorf("%s: %d tags found, want 1", name, tm.Count())
				continue
			}
			out, err := tm.Render(testLink)
			if err != nil {
				t.Fatal(err)
			}
			if err := CheckFidelity(msg, out, testTag, testLink); err != nil {
				t.Errorf("%s: fidelity: %v", name, err)
			}
			got := decodedBody(t, out)
			if strings.Contains(got, "career-relay") || strings.Count(got, testLink) == 0 {
				t.Errorf("%s: the rendered page still shows the tag or has no link:\n%s", name, got)
			}
			if err := sameTreeButRun(page, got, testTag, testLink); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
	}
}

// TestSplitTagsNegative: a tag across a block boundary, a line break, an
// image or a link, or inside an attribute other than href or src, stays
// as it is; the message is not changed.
func TestSplitTagsNegative(t *testing.T) {
	for _, body := range []string{
		`[[career-</p><p>relay]]`,
		`[[career-<br>relay]]`,
		`[[career-<div>relay]]</div>`,
		`<table><tr><td>[[career-</td><td>relay]]</td></tr></table>`,
		`[[career-<img src="x.png">relay]]`,
		`[[career-<a href="https://x.example/">relay]]</a>`,
		`<a href="https://x.example/">[[career-</a>relay]]`,
		`[[career-<script>x</script>relay]]`,
		`[[career- <span>relay]]</span>`,
		`<span title="[[career-relay]]">x</span>`,
		`<img alt="[[career-relay]]" src="x.png">`,
		`<p data-tag=[[career-relay]]>x</p>`,
	} {
		for _, cs := range splitCharsets {
			msg := []byte(hdr("Content-Type: text/html; charset="+cs.charset, "Content-Transfer-Encoding: "+cs.cte) + cs.encode(splitPage(body)))
			tm, err := Prepare(msg, testTag)
			if err != nil {
				t.Fatal(err)
			}
			out, _ := tm.Render(testLink)
			if tm.Count() != 0 || !bytes.Equal(out, msg) {
				t.Errorf("%s %s: %d tags found, message changed %v", body, cs.name, tm.Count(), !bytes.Equal(out, msg))
			}
			if err := CheckFidelity(msg, out, testTag, testLink); err != nil {
				t.Errorf("%s %s: fidelity: %v", body, cs.name, err)
			}
		}
	}
}

// decodedBody is the text of a single-part message's body, decoded with
// go-message (transfer encoding and charset).
func decodedBody(t *testing.T, msg []byte) string {
	t.Helper()
	m, err := message.Read(bytes.NewReader(msg))
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(m.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// sameTreeButRun parses in and out with x/net/html and compares the trees
// as html.Render writes them: out must be in with the split tag's text
// replaced by the link (an anchor, or the link's text inside a link), its
// other text pieces gone and every element kept.
func sameTreeButRun(in, out, tag, link string) error {
	render := func(s string) (string, error) {
		n, err := html.Parse(strings.NewReader(s))
		if err != nil {
			return "", err
		}
		var b strings.Builder
		err = html.Render(&b, n)
		return b.String(), err
	}
	a, err := render(in)
	if err != nil {
		return err
	}
	b, err := render(out)
	if err != nil {
		return err
	}
	esc := strings.ReplaceAll(link, "&", "&amp;")
	b = strings.ReplaceAll(b, anchorOpen+esc+anchorMid+esc+anchorEnd, placeholder)
	b = strings.ReplaceAll(b, esc, placeholder)
	a = expectedHTML(a, tag)
	if a != b {
		return &treeDiff{a, b}
	}
	return nil
}

type treeDiff struct{ want, got string }

func (d *treeDiff) Error() string {
	i := 0
	for i < len(d.want) && i < len(d.got) && d.want[i] == d.got[i] {
		i++
	}
	return "trees differ: want " + excerpt(d.want, i) + ", got " + excerpt(d.got, i)
}

// TestSplitTagsAcrossWordConditionals: Word's downlevel-revealed
// conditionals (bogus comments to HTML) and empty comments sit inside a
// tag like any comment.
func TestSplitTagsAcrossWordConditionals(t *testing.T) {
	for _, body := range []string{
		`[[career<![if !supportLists]>-<![endif]>relay]]`,
		`[[career<!-->-relay]]`,
		`[[career-<?xml?>relay]]`,
	} {
		msg := []byte(hdr("Content-Type: text/html; charset=utf-8") + crlf("<p>"+body+"</p>\n"))
		tm, err := Prepare(msg, testTag)
		if err != nil || tm.Count() != 1 {
			t.Errorf("%s: %d tags, %v", body, tm.Count(), err)
			continue
		}
		out, _ := tm.Render(testLink)
		if err := CheckFidelity(msg, out, testTag, testLink); err != nil {
			t.Errorf("%s: %v", body, err)
		}
	}
}
