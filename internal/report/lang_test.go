package report_test

import (
	"bytes"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/careerrelay/careerrelay/internal/report"
)

// visibleText is what a reader of the page sees or hears: the text of
// every element but <style>, with the title, SVG texts and aria-label
// values, leaving out the elements of class "id" (the appendix's ids and
// hashes) when skipIDs.
func visibleText(t *testing.T, page []byte, skipIDs bool) string {
	t.Helper()
	doc, err := html.Parse(bytes.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			if n.Data == "style" {
				return
			}
			for _, a := range n.Attr {
				if a.Key == "class" && skipIDs && strings.Contains(" "+a.Val+" ", " id ") {
					return
				}
				if a.Key == "aria-label" {
					b.WriteString(a.Val + "\n")
				}
			}
		}
		if n.Type == html.TextNode {
			b.WriteString(n.Data + "\n")
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	return b.String()
}

var (
	latinWord = regexp.MustCompile(`[A-Za-z]+`)
	japanese  = regexp.MustCompile(`[\p{Han}\p{Hiragana}\p{Katakana}]+`)
)

// TestLanguages: -lang ja has no English label: the page's visible text,
// less the tenant's name and the appendix's ids and hashes (class "id":
// the tenant id, ISO dates, the time zone, the ledger's hash and the
// command that verifies it), has no Latin letter at all, so numbers,
// units (名, 円, %, ポイント), dates and punctuation only. -lang en has
// no Japanese character outside the tenant's name; both has both
// sentences of the summary. The year's page has everything the page can
// show (voids, signals, ratings, fees saved, the previous period).
func TestLanguages(t *testing.T) {
	y, _ := yearReport(t)
	pages := map[string][]byte{}
	for _, l := range []string{"ja", "en", "both"} {
		var b bytes.Buffer
		if err := y.WriteHTMLLang(&b, l); err != nil {
			t.Fatal(err)
		}
		pages[l] = b.Bytes()
	}
	ja := strings.ReplaceAll(visibleText(t, pages["ja"], true), y.TenantName, "")
	if words := latinWord.FindAllString(ja, -1); len(words) > 0 {
		t.Errorf("-lang ja shows Latin words %q", words)
	}
	for _, want := range []string{"2026年1月〜12月に不採用通知をお送りした1,390名のうち、138名がキャリア相談に申し込み、無料の採用支援13名分（推定1,300万円）を獲得しました。",
		"推定削減額", "1,300<small>万円</small>", "前期間比 +28%", "通知への評価", "3.6<small> / 5</small>", "回答 330名"} {
		if !bytes.Contains(pages["ja"], []byte(want)) {
			t.Errorf("-lang ja lacks %q", want)
		}
	}
	if !strings.Contains(visibleText(t, pages["ja"], false), y.LedgerHead) {
		t.Error("-lang ja: no ledger head in the appendix")
	}

	en := strings.ReplaceAll(visibleText(t, pages["en"], false), y.TenantName, "")
	if chars := japanese.FindAllString(en, -1); len(chars) > 0 {
		t.Errorf("-lang en shows Japanese %q", chars)
	}
	for _, want := range []string{`lang="en"`, "In January–December 2026, of the 1,390 candidates who received your rejection notice, 138 applied for a career consultation, earning you 13 free hires (an estimated ¥13,000,000 in fees).",
		"Estimated fees saved", "+28% vs previous period"} {
		if !bytes.Contains(pages["en"], []byte(want)) {
			t.Errorf("-lang en lacks %q", want)
		}
	}
	both := string(pages["both"])
	for _, want := range []string{"無料の採用支援13名分（推定1,300万円）を獲得しました。", "earning you 13 free hires", `推定削減額 <span class="en" lang="en">Estimated fees saved</span>`} {
		if !strings.Contains(both, want) {
			t.Errorf("-lang both lacks %q", want)
		}
	}
	var b bytes.Buffer
	if err := y.WriteHTMLLang(&b, "fr"); err == nil {
		t.Error("-lang fr: no error")
	}
}

// TestSummary: the sentence for a period without mails, without
// referrals, and with referrals but no credit yet.
func TestSummary(t *testing.T) {
	cfg := testConfig()
	empty := build(t, cfg, fakeSource{}, "beta", "2026-03-01", "2026-03-31")
	_, svc := scenario(t)
	apr := build(t, cfg, svc, "acme", "2026-04-01", "2026-04-30")
	for _, c := range []struct {
		what string
		page func() []byte
		want string
	}{
		{"no mail", func() []byte { return render(t, empty, "ja") }, "2026年3月は、個別リンク付きの不採用通知をお送りしていません。"},
		{"no credit", func() []byte { return render(t, apr, "ja") },
			"2026年4月に不採用通知をお送りした4名のうち、2名がキャリア相談に申し込みました。次の無料の採用支援まで、あと1名です。"},
		{"no credit, en", func() []byte { return render(t, apr, "en") },
			"In April 2026, of the 4 candidates who received your rejection notice, 2 applied for a career consultation; 1 more will earn you a free hire."},
	} {
		if p := c.page(); !bytes.Contains(p, []byte(c.want)) {
			t.Errorf("%s: no %q", c.what, c.want)
		}
	}
}

func render(t *testing.T, r *report.Report, l string) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := r.WriteHTMLLang(&b, l); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
