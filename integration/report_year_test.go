package integration

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/careerrelay/careerrelay/configs"
	"github.com/careerrelay/careerrelay/internal/report"
	"github.com/careerrelay/careerrelay/internal/report/reporttest"
	"github.com/careerrelay/careerrelay/internal/testlib"
)

// TestReportYearPage is issue 17's acceptance of the printed and the
// phone page, on reporttest.Year: a busy year with everything the page can
// show (fees saved, ratings, voids, signals, the previous period). For
// each of -lang ja, en and both, headless Chromium opens the page at 390
// px (a phone) and 1280 px: the page never scrolls sideways
// (document.documentElement.scrollWidth <= the viewport; the chart and
// the wide tables scroll in their own box), and full-page screenshots are
// kept as artifacts/TestReportYearPage-<lang>-<width>.png. Printed, the
// page is two A4 pages (pdftoppm renders them: page 1 the summary, page 2
// the appendix; kept as artifacts/TestReportYearPage-<lang>-page<n>.png),
// page 1 holds the whole monthly table to its total and, in Japanese, the
// fees saved and the previous period's change (pdftotext reads it).
func TestReportYearPage(t *testing.T) {
	t.Parallel()
	tenant := &configs.Tenant{ID: "acme", Name: "株式会社アクメ", Color: "#0b6e4f", ReferralsPerCredit: 10, CreditValueYen: 1000000}
	first, _ := report.ParseDate(reporttest.YearFrom)
	last, _ := report.ParseDate(reporttest.YearTo)
	rep, err := report.Build(reporttest.Year(tenant.ID, tenant.ReferralsPerCredit), tenant, first, last)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Months) != 12 || rep.FeesSavedYen == nil || rep.Total.Ratings == 0 || rep.Previous.LinksSent == 0 {
		t.Fatalf("the year is not what the test needs: %+v", rep.Total)
	}
	dir := t.TempDir()
	b := testlib.NewBrowser(t, &testlib.BrowserOptions{Width: 1280, Height: 900})
	for _, lang := range report.Langs {
		path := filepath.Join(dir, "report-"+lang+".html")
		var buf bytes.Buffer
		if err := rep.WriteHTMLLang(&buf, lang); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		b.Navigate("file://" + path)
		testlib.ShotsAt(t, b, lang, 390, 1280)
		name := fmt.Sprintf("%s-%s", t.Name(), lang)
		pdf := filepath.Join(dir, "report-"+lang+".pdf")
		if err := os.WriteFile(pdf, b.PrintPDF(), 0o644); err != nil {
			t.Fatal(err)
		}
		// Page 1 is the whole summary; the appendix follows, on one page
		// but in both languages, where it may take two.
		pages := pdfPages(t, pdf, filepath.Join(dir, lang))
		if len(pages) != 2 && (lang != "both" || len(pages) != 3) {
			t.Errorf("%s: printed on %d pages, want 2 (the summary on one A4 page, the appendix on the next)", lang, len(pages))
		}
		if len(pages) == 0 {
			continue
		}
		total, december, appendix := map[string]string{"ja": "合計", "en": "Total", "both": "合計"}[lang],
			map[string]string{"ja": "2026年12月", "en": "Dec 2026", "both": "2026年12月"}[lang],
			map[string]string{"ja": "詳細と定義", "en": "Details and definitions", "both": "詳細と定義"}[lang]
		if p1 := pdfText(t, pdf, 1); !strings.Contains(p1, total) || !strings.Contains(p1, december) || strings.Contains(p1, appendix) {
			t.Errorf("%s: printed page 1 is not the whole summary:\n%s", lang, p1)
		}
		for i, p := range pages {
			keepArtifact(t, fmt.Sprintf("%s-page%d.png", name, i+1), mustRead(t, p))
		}
		if lang != "ja" {
			continue
		}
		checkColours(t, "printed page 1", readPNG(t, pages[0]))
		text := pdfText(t, pdf, 1)
		for _, want := range []string{"2026年12月", "合計", "1,390", "推定削減額", "前期間比", "キャリア相談申込"} {
			if !strings.Contains(text, want) {
				t.Errorf("printed page 1 lacks %q:\n%s", want, text)
			}
		}
		if strings.Contains(text, rep.LedgerHead[:16]) || strings.Contains(text, "詳細と定義") {
			t.Errorf("printed page 1 has the appendix:\n%s", text)
		}
		if text2 := pdfText(t, pdf, 2); !strings.Contains(text2, "詳細と定義") || !strings.Contains(strings.ReplaceAll(text2, "\n", ""), rep.LedgerHead[:16]) {
			t.Errorf("printed page 2 is not the appendix:\n%s", text2)
		}
	}
}

// pdfPages renders every page of pdf with pdftoppm to prefix-N.png and
// returns their paths, in order.
func pdfPages(t *testing.T, pdf, prefix string) []string {
	t.Helper()
	pdftoppm := needTool(t, "pdftoppm")
	if out, err := exec.Command(pdftoppm, "-r", "80", "-png", pdf, prefix).CombinedOutput(); err != nil {
		t.Fatalf("pdftoppm: %v\n%s", err, out)
	}
	pages, err := filepath.Glob(prefix + "-*.png")
	if err != nil {
		t.Fatal(err)
	}
	return pages // pdftoppm pads the numbers: the glob's order is the pages'
}

// pdfText is the text of page n of pdf (pdftotext).
func pdfText(t *testing.T, pdf string, n int) string {
	t.Helper()
	out, err := exec.CommandContext(context.Background(), needTool(t, "pdftotext"), "-f", fmt.Sprint(n), "-l", fmt.Sprint(n), pdf, "-").Output()
	if err != nil {
		t.Fatalf("pdftotext: %v", err)
	}
	return string(out)
}

// needTool is the path of a poppler-utils program: CI must have it.
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true and no %s (Debian: apt-get install poppler-utils)", name)
		}
		t.Skipf("no %s (Debian: apt-get install poppler-utils)", name)
	}
	return p
}
