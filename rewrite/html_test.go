package rewrite

import (
	"html"
	"testing"
)

func TestMatchForms(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int // length matched, 0: none
	}{
		{"[[career-relay]]", 16},
		{"[[career-relay]]x", 16},
		{"&#91;&#91;career-relay&#93;&#93;", 32},
		{"&#x5B;&#X5b;career-relay&#x5D;&#x005d;", 38},
		{"&#0091;[career-relay]]", 22},
		{"&#91[career-relay]]", 19},
		{"&lsqb;&lbrack;career&#45;relay&rsqb;&rbrack;", 44},
		{"%5B%5Bcareer-relay%5D%5D", 24},
		{"%5b%5bcareer%2drelay%5d%5d", 26},
		{"%5B[career-relay]%5d", 20},
		{"&LSQB;[career-relay]]", 0},    // names are case-sensitive
		{"&lsqb[career-relay]]", 0},     // a named reference needs its ';'
		{"&#x5Bcareer-relay]]", 0},      // reads as U+5BCA
		{"&amp;#91;[career-relay]]", 0}, // an escaped '&'
		{"%5G[career-relay]]", 0},
		{"[[career-relay]", 0},
		{"[[Career-relay]]", 0},
		{"&#9999999999999999999;", 0},
	} {
		end, ok := matchForms([]byte(c.in), 0, testTag)
		if !ok {
			end = 0
		}
		if end != c.want {
			t.Errorf("matchForms(%q) = %d, want %d", c.in, end, c.want)
		}
		// The fidelity check's independent matcher agrees.
		if n := matchTagForm(c.in, testTag); n != c.want {
			t.Errorf("matchTagForm(%q) = %d, want %d", c.in, n, c.want)
		}
	}
}

// TestNamedRefs: every named reference the matcher knows is what the
// standard library's HTML decoder reads.
func TestNamedRefs(t *testing.T) {
	for name, r := range namedRefs {
		if got := html.UnescapeString("&" + name + ";"); got != string(r) {
			t.Errorf("&%s; is %q, table says %q", name, got, r)
		}
	}
}

func TestFindHTMLContexts(t *testing.T) {
	type want struct {
		kind, ctx uint8
	}
	for _, c := range []struct {
		in   string
		want []want
	}{
		{`<p>[[career-relay]]</p>`, []want{{kindAnchor, ctxText}}},
		{`<a href="[[career-relay]]">x</a>`, []want{{kindURL, ctxAttr}}},
		{`<a href='[[career-relay]]'>[[career-relay]]</a> [[career-relay]]`, []want{{kindURL, ctxAttr}, {kindURL, ctxText}, {kindAnchor, ctxText}}},
		{`<a href=[[career-relay]]>x</a>`, []want{{kindURL, ctxAttr}}},
		{`<A HREF = "x[[career-relay]]y">`, []want{{kindURL, ctxAttr}}},
		{`<script>"[[career-relay]]"</script>[[career-relay]]`, []want{{kindURLRaw, ctxFixed}, {kindAnchor, ctxText}}},
		{`<style>[[career-relay]]</style >`, []want{{kindURLRaw, ctxFixed}}},
		{`<title>[[career-relay]]</title>`, []want{{kindURL, ctxText}}},
		{`<textarea>[[career-relay]]</textarea>`, []want{{kindURL, ctxText}}},
		{`<!-- [[career-relay]] -->[[career-relay]]`, []want{{kindURL, ctxText}, {kindAnchor, ctxText}}},
		{`<!--> [[career-relay]]`, []want{{kindAnchor, ctxText}}},
		{`<!DOCTYPE [[career-relay]]>`, []want{{kindURL, ctxText}}},
		{`a < b [[career-relay]]`, []want{{kindAnchor, ctxText}}},
		{`<p title="a>b" data-x='"'>[[career-relay]]`, []want{{kindAnchor, ctxText}}},
		{`<scriptx>[[career-relay]]`, []want{{kindAnchor, ctxText}}},
		{`<script>x</scriptx>[[career-relay]]`, []want{{kindURLRaw, ctxFixed}}},
		// Inside a tag only href and src values are places for a link.
		{`<p [[career-relay]]>`, nil},
		{`<p title="[[career-relay]]" data-x=[[career-relay]]>x</p>`, nil},
		{`<img alt='[[career-relay]]' src="[[career-relay]]">`, []want{{kindURL, ctxAttr}}},
	} {
		got := findHTML([]byte(c.in), testTag)
		if len(got) != len(c.want) {
			t.Errorf("%s: %d occurrences, want %d", c.in, len(got), len(c.want))
			continue
		}
		for i, w := range c.want {
			if got[i].kind != w.kind || got[i].ctx != w.ctx {
				t.Errorf("%s: occurrence %d is kind %d ctx %d, want %d %d", c.in, i, got[i].kind, got[i].ctx, w.kind, w.ctx)
			}
		}
	}
	// An attribute occurrence knows its attribute and the end of its value.
	in := `<a class=x href="[[career-relay]]?a=b" id=y>`
	o := findHTML([]byte(in), testTag)[0]
	if in[o.attrStart:o.attrStart+4] != "href" || in[o.valueEnd-1] != '"' || in[o.valueEnd:] != " id=y>" {
		t.Errorf("attribute %d, value end %d", o.attrStart, o.valueEnd)
	}
}
