package rewrite

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/emersion/go-message"
)

// linkPrefix starts every link of linkWholeLinks.
const linkPrefix = "https://careers.example.jp/c/"

// linkWholeLinks are links of several lengths up to maxLink, with and
// without characters HTML escapes.
func linkWholeLinks() []string {
	links := []string{testLink, fuzzLink}
	for _, n := range []int{100, 250, 333, maxLink} {
		links = append(links, linkPrefix+strings.Repeat("0123456789abcdefghijKLMNOPQRST", 14)[:n-len(linkPrefix)])
	}
	// HTML writes each & as &amp;: the longest link Render accepts with
	// many of them (61, 400 characters escaped).
	return append(links, linkPrefix+strings.Repeat("a&", 61)+"aaaaa")
}

// checkLinksWhole checks a rendered message: every physical line is at
// most 998 octets, and in the decoded text of every part each link
// (escaped in HTML) is whole: no line break, soft or hard, falls inside
// one, and nothing else starts like a link.
func checkLinksWhole(t *testing.T, name string, out []byte, link string, want int) {
	t.Helper()
	for i, line := range bytes.Split(out, []byte("\n")) {
		if n := len(bytes.TrimSuffix(line, []byte("\r"))); n > maxLine {
			t.Errorf("%s, link of %d: line %d has %d octets", name, len(link), i+1, n)
		}
	}
	leaves, err := goMessageLeaves(out)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	got := 0
	for _, lf := range leaves {
		pi, ok := leafInfo(lf.hdr)
		if !ok {
			continue
		}
		text, ok := decodeText(lf.hdr, lf.body, pi)
		if !ok {
			t.Fatalf("%s: a part cannot be decoded", name)
		}
		l := link
		if pi.html {
			l = strings.ReplaceAll(link, "&", "&amp;")
		}
		got += strings.Count(text, l)
		if rest := strings.ReplaceAll(text, l, ""); strings.Contains(rest, linkPrefix[:12]) {
			i := strings.Index(rest, linkPrefix[:12])
			t.Errorf("%s, link of %d: a broken link in the decoded text: %q", name, len(link), rest[max(0, i-20):min(len(rest), i+80)])
		}
	}
	if got != want {
		t.Errorf("%s, link of %d: %d whole links in the decoded text, want %d", name, len(link), got, want)
	}
}

// TestAdjacentTagsKeepLinksWhole: a line of 30 adjacent tags, in every
// transfer encoding and text form, renders to lines of at most 998 octets
// in which every link is whole, wherever the line starts.
func TestAdjacentTagsKeepLinksWhole(t *testing.T) {
	tags := strings.Repeat(testTag, 30)
	spaced := strings.TrimSpace(strings.Repeat(testTag+" ", 30))
	type tcase struct {
		name, ct, cte, body string
		perTag              int // links per tag in the decoded text
	}
	var cases []tcase
	for _, pad := range []string{"", "x", "受付番号 " + strings.Repeat("9", 200) + " ", strings.Repeat("あ", 160)} {
		cases = append(cases,
			tcase{"plain 7bit", "text/plain; charset=us-ascii", "7bit", strings.Repeat("x", len(pad)) + tags, 1},
			tcase{"plain 8bit", "text/plain; charset=utf-8", "8bit", pad + tags + "。", 1},
			tcase{"plain 8bit spaced", "text/plain; charset=utf-8", "8bit", pad + spaced, 1},
			tcase{"plain iso-2022-jp", "text/plain; charset=iso-2022-jp", "7bit", iso(pad + tags + "。"), 1},
			tcase{"plain shift_jis", "text/plain; charset=shift_jis", "8bit", sjis(pad + tags + "ソ"), 1},
			tcase{"flowed", "text/plain; charset=utf-8; format=flowed", "8bit", pad + tags, 1},
			tcase{"flowed spaced", "text/plain; charset=utf-8; format=flowed", "8bit", pad + spaced, 1},
			tcase{"flowed delsp", "text/plain; charset=utf-8; format=flowed; delsp=yes", "8bit", pad + tags, 1},
			tcase{"flowed quoted", "text/plain; charset=utf-8; format=flowed", "8bit", "> " + pad + tags, 1},
			tcase{"html text", "text/html; charset=utf-8", "8bit", "<p>" + pad + tags + "</p>", 2},
			tcase{"html in anchor", "text/html; charset=utf-8", "8bit", "<a href=\"https://x.example/\">" + pad + tags + "</a>", 1},
			tcase{"html attribute", "text/html; charset=utf-8", "8bit", "<img src=\"" + pad + tags + "\">", 1},
			tcase{"html comment", "text/html; charset=utf-8", "8bit", "<!-- " + pad + tags + " -->", 1},
			tcase{"plain base64", "text/plain; charset=utf-8", "base64", base64Lines(pad + tags), 1},
			tcase{"html base64", "text/html; charset=utf-8", "base64", base64Lines("<p>" + pad + tags + "</p>"), 2},
			tcase{"plain qp", "text/plain; charset=utf-8", "quoted-printable", qpEncode(pad + tags), 1},
			tcase{"html qp", "text/html; charset=utf-8", "quoted-printable", qpEncode("<p>" + pad + tags + "</p>"), 2},
			tcase{"flowed qp", "text/plain; charset=utf-8; format=flowed", "quoted-printable", qpEncode(pad + tags), 1},
		)
	}
	for _, c := range cases {
		msg := []byte(hdr("MIME-Version: 1.0", "Content-Type: "+c.ct, "Content-Transfer-Encoding: "+c.cte) + c.body + "\r\n")
		if n := maxLineLen(msg); n > maxLine {
			t.Fatalf("%s: input line of %d octets", c.name, n)
		}
		tm, err := Prepare(msg, testTag)
		if err != nil {
			t.Fatal(err)
		}
		if tm.Count() != 30 {
			t.Fatalf("%s: %d tags found", c.name, tm.Count())
		}
		for _, link := range linkWholeLinks() {
			out, err := tm.Render(link)
			if err != nil {
				t.Fatal(err)
			}
			checkLinksWhole(t, c.name, out, link, 30*c.perTag)
			if err := CheckFidelity(msg, out, testTag, link); err != nil {
				t.Errorf("%s, link of %d: %v", c.name, len(link), err)
			}
		}
	}
}

// TestLinksWholeAtEveryLineOffset sweeps where a line of 30 adjacent tags
// starts (every 13th column up to 980) and the link's length: no line
// passes 998 octets, every link is whole in the decoded text, and the
// fidelity check holds.
func TestLinksWholeAtEveryLineOffset(t *testing.T) {
	tags := strings.Repeat("[[career-relay]]", 30)
	bad := 0
	for pad := 0; pad < 980; pad += 13 {
		P := strings.Repeat("x", pad)
		for _, c := range []struct{ ct, cte, body string }{
			{"text/plain", "7bit", P + tags},
			{"text/plain", "7bit", P + " " + strings.Repeat("[[career-relay]] ", 30)},
			{"text/plain; format=flowed", "7bit", P + tags},
			{"text/plain; format=flowed", "7bit", P + " " + strings.Repeat("[[career-relay]] ", 30)},
			{"text/plain; format=flowed; delsp=yes", "7bit", "> " + P + tags},
			{"text/html", "7bit", "<p>" + P + tags + "</p>"},
			{"text/html", "7bit", "<a href=x>" + P + tags + "</a>"},
			{"text/html", "7bit", "<img src=\"" + P + tags + "\">"},
			{"text/html", "7bit", "<!--" + P + tags + "-->"},
		} {
			msg := "Content-Type: " + c.ct + "; charset=utf-8\r\nContent-Transfer-Encoding: " + c.cte + "\r\n\r\n" + c.body + "\r\n"
			tm, err := Prepare([]byte(msg), testTag)
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range []int{38, 60, 100, 199, 250, 333, 400} {
				link := "https://careers.example.jp/c/" + strings.Repeat("abcdefghij", 40)[:n-29]
				out, _ := tm.Render(link)
				if n := maxLineLen(out); n > maxLine {
					t.Errorf("%s %s pad %d: line of %d", c.ct, c.cte, pad, n)
					bad++
				}
				m, _ := message.Read(bytes.NewReader(out))
				d, _ := io.ReadAll(m.Body)
				k := bytes.Count(d, []byte(link))
				if k != tm.Count() && !(strings.Contains(c.ct, "html") && k == 2*tm.Count()) {
					t.Errorf("%s %s pad %d len %d: %d whole of %d", c.ct, c.cte, pad, len(link), k, tm.Count())
					bad++
				}
				if err := CheckFidelity([]byte(msg), out, testTag, link); err != nil {
					t.Errorf("%s %s %d: %v", c.ct, c.cte, len(link), err)
				}
				if bad > 20 {
					t.FailNow()
				}
			}
		}
	}
}
