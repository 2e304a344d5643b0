package integration

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/careerrelay/careerrelay/configs"
	"github.com/careerrelay/careerrelay/internal/referral"
	"github.com/careerrelay/careerrelay/internal/report"
	"github.com/careerrelay/careerrelay/internal/report/reporttest"
	"github.com/careerrelay/careerrelay/internal/testlib"
	"github.com/careerrelay/careerrelay/store"
)

// runReport is `careerrelay report` against r's admin API; it fails the
// test unless the command exits 0.
func runReport(t *testing.T, r *Relay, args ...string) string {
	t.Helper()
	out, code := runBinary(t, append([]string{"report", "-config", r.ConfigPath, "-ready-file", r.ReadyPath, "-tenant", tenantID}, args...)...)
	if code != 0 {
		t.Fatalf("careerrelay report %q: exit %d: %s", args, code, out)
	}
	return out
}

func reportJSON(t *testing.T, r *Relay, args ...string) *report.Report {
	t.Helper()
	out := runReport(t, r, append([]string{"-format", "json"}, args...)...)
	var rep report.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("report JSON: %v\n%s", err, out)
	}
	return &rep
}

// TestReport is the impact report end to end: reporttest's scripted
// history (mails, human and bot clicks, referrals in March and April, a
// credit granted and one redeemed) is written into the store, the relay is
// started on it, and `careerrelay report` fetches the report through the
// admin API as JSON (every figure as scripted, and the referral, grant and
// redeem counts those of `careerrelay ledger export`), CSV and HTML. The
// HTML is rendered by headless chromium to artifacts/TestReport.png and
// printed to artifacts/TestReport.pdf (page 1 as TestReport-page1.png when
// pdftoppm is installed). A mail relayed now and its consent show in
// today's report.
func TestReport(t *testing.T) {
	t.Parallel()
	sink := newSink(t, nil)
	r := NewRelay(t, sink.Addr, withLocalLinks, func(dir string, c *Config) {
		c.Tenants[0].ReferralsPerCredit = reporttest.PerCredit
	})
	playReportScenario(t, r)
	r.Start()
	period := []string{"-from", reporttest.From, "-to", reporttest.To}

	// JSON: the scripted figures, and the ledger's.
	rep := reportJSON(t, r, period...)
	w := reporttest.Want
	t.Logf("report %s..%s: %d links sent, %d clicked, %d referrals, %d credits granted, %d redeemed; %d/%d toward the next credit",
		rep.From, rep.To, rep.Total.LinksSent, rep.Total.LinksClicked, rep.Total.Referrals, rep.Total.CreditsGranted,
		rep.Total.CreditsRedeemed, rep.Credit.TowardNext, rep.Credit.ReferralsPerCredit)
	checkTotal := func(what string, got report.Figures, want reporttest.Figures) {
		t.Helper()
		if got.LinksSent != want.Sent || got.LinksClicked != want.Clicked || got.HumanClicks != want.Human ||
			got.BotClicks != want.Bot || got.Referrals != want.Referrals || got.CreditsGranted != want.Granted ||
			got.CreditsRedeemed != want.Redeemed || got.ClickRate == nil || *got.ClickRate != want.ClickRate ||
			got.ReferralRate == nil || *got.ReferralRate != want.ReferralRate {
			t.Errorf("%s: %+v, want %+v", what, got, want)
		}
	}
	if len(rep.Months) != len(w.Months) {
		t.Fatalf("%d months, want %d", len(rep.Months), len(w.Months))
	}
	for i := range w.Months {
		checkTotal(w.Months[i].Month, rep.Months[i], w.Months[i])
	}
	checkTotal("total", rep.Total, w.Total)
	if c := rep.Credit; c.Referrals != w.Referrals || c.TowardNext != w.TowardNext || c.Remaining != w.Remaining || c.Available != w.Available {
		t.Errorf("credit progress %+v", c)
	}
	first, _ := report.ParseDate(reporttest.From)
	last, _ := report.ParseDate(reporttest.To)
	kinds := map[string]int{}
	for _, e := range ledgerEntries(t, r) {
		if !e.Time.Before(first) && e.Time.Before(last.AddDate(0, 0, 1)) {
			kinds[e.Kind]++
		}
	}
	if kinds[referral.KindReferral] != rep.Total.Referrals || kinds[referral.KindGrant] != rep.Total.CreditsGranted ||
		kinds[referral.KindRedeem] != rep.Total.CreditsRedeemed {
		t.Errorf("ledger export, entries in the period: %v; report %+v", kinds, rep.Total)
	}
	if out, code := runBinary(t, "ledger", "verify", "-config", r.ConfigPath, "-ready-file", r.ReadyPath); code != 0 || !strings.Contains(out, rep.LedgerHead) {
		t.Errorf("ledger verify (exit %d): %s; the report names head %s", code, out, rep.LedgerHead)
	}

	// The period filter: April alone.
	april := reportJSON(t, r, "-from", "2026-04-01", "-to", "2026-04-30")
	checkTotal("April alone", april.Total, w.Months[1])

	// CSV parses, a row per month and the total.
	rows, err := csv.NewReader(strings.NewReader(runReport(t, r, append(period, "-format", "csv")...))).ReadAll()
	if err != nil || len(rows) != 4 || strings.Join(rows[0], ",") != strings.Join(report.CSVHeader, ",") ||
		rows[1][3] != "2026-03" || rows[3][3] != "total" || rows[3][4] != "10" {
		t.Errorf("CSV (%v): %q", err, rows)
	}

	// HTML, to a file, rendered by a real browser.
	htmlPath := filepath.Join(r.Dir, "report.html")
	runReport(t, r, append(period, "-out", htmlPath)...)
	page, err := os.ReadFile(htmlPath)
	if err != nil || !bytes.Contains(page, []byte("株式会社アクメ")) || bytes.Contains(page, []byte("<script")) {
		t.Fatalf("HTML report (%v): %.300s", err, page)
	}
	renderReport(t, htmlPath)

	// -lang reaches the page through the admin API; CSV and JSON do not
	// change with it.
	enPath := filepath.Join(r.Dir, "report-en.html")
	runReport(t, r, append(period, "-lang", "en", "-out", enPath)...)
	if en := mustRead(t, enPath); !bytes.Contains(en, []byte(`lang="en"`)) || bytes.Contains(en, []byte("キャリア相談申込")) {
		t.Errorf("-lang en: not the English page: %.300s", en)
	}
	if !bytes.Contains(page, []byte("キャリア相談申込")) || bytes.Contains(page, []byte(">Applied")) {
		t.Error("the default page is not Japanese")
	}
	if en := reportJSON(t, r, append(period, "-lang", "en")...); en.Total.LinksSent != rep.Total.LinksSent || en.Total.Referrals != rep.Total.Referrals || en.LedgerHead != rep.LedgerHead {
		t.Error("-lang changed the JSON")
	}

	// Live: a mail relayed now and its consent are today's figures.
	links := relayLinks(t, r, sink, "live@cand.example")
	consentRef(t, links["live@cand.example"])
	today := time.Now().In(report.Zone).Format(report.DateLayout)
	now := reportJSON(t, r, "-from", today, "-to", today)
	if f := now.Total; f.LinksSent != 1 || f.LinksClicked != 1 || f.Referrals != 1 || now.Credit.Referrals != 7 {
		t.Errorf("today's report after one live mail and consent: %+v, credit %+v", f, now.Credit)
	}
}

// colours the report draws its charts in (report/svg.go): each must show
// in the screenshot and in the printed page.
var reportColours = map[string][3]uint8{
	"sent": {0x9f, 0xb3, 0xc8}, "clicked": {0x1f, 0x5f, 0xa8}, "referred": {0xe0, 0x7b, 0x39}, "credit": {0x2a, 0x9d, 0x6f},
}

// renderReport screenshots and prints the HTML report with headless
// chromium (testlib.NewBrowser) into artifacts/, and checks that the
// charts' colours are there.
func renderReport(t *testing.T, htmlPath string) {
	t.Helper()
	if _, err := testlib.FindChromium(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true and no chromium to render the report (Debian: apt-get install chromium)")
		}
		t.Log("no chromium: the HTML report is not rendered (Debian: apt-get install chromium)")
		return
	}
	dir := t.TempDir()
	b := testlib.NewBrowser(t, &testlib.BrowserOptions{Width: 1024, Height: 1400})
	b.Navigate("file://" + htmlPath)
	shot, pdf := filepath.Join(dir, "report.png"), filepath.Join(dir, "report.pdf")
	if err := os.WriteFile(shot, b.Screenshot(), 0o644); err != nil {
		t.Fatal(err)
	}
	img := readPNG(t, shot)
	if b := img.Bounds(); b.Dx() != 1024 || b.Dy() != 1400 {
		t.Errorf("screenshot %v, want 1024x1400", b)
	}
	checkColours(t, "screenshot", img)
	keepArtifact(t, "TestReport.png", mustRead(t, shot))

	if err := os.WriteFile(pdf, b.PrintPDF(), 0o644); err != nil {
		t.Fatal(err)
	}
	data := mustRead(t, pdf)
	if !bytes.HasPrefix(data, []byte("%PDF-")) || len(data) < 10000 {
		t.Fatalf("print to PDF: %d bytes, starting %q", len(data), data[:min(len(data), 8)])
	}
	keepArtifact(t, "TestReport.pdf", data)
	pdftoppm, err := exec.LookPath("pdftoppm")
	if err != nil {
		t.Log("no pdftoppm (poppler-utils): the PDF's page 1 is not looked at")
		return
	}
	if out, err := exec.Command(pdftoppm, "-r", "80", "-f", "1", "-l", "1", "-png", "-singlefile", pdf, filepath.Join(dir, "page1")).CombinedOutput(); err != nil {
		t.Fatalf("pdftoppm: %v\n%s", err, out)
	}
	page := filepath.Join(dir, "page1.png")
	checkColours(t, "printed page 1", readPNG(t, page)) // print-color-adjust kept them
	keepArtifact(t, "TestReport-page1.png", mustRead(t, page))
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func readPNG(t *testing.T, path string) image.Image {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(mustRead(t, path)))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return img
}

// checkColours fails t unless each chart colour covers at least 200
// pixels of img (within a small tolerance for anti-aliasing and colour
// management).
func checkColours(t *testing.T, what string, img image.Image) {
	t.Helper()
	count := map[string]int{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			for name, c := range reportColours {
				if near(r>>8, c[0]) && near(g>>8, c[1]) && near(bl>>8, c[2]) {
					count[name]++
				}
			}
		}
	}
	for name := range reportColours {
		if count[name] < 200 {
			t.Errorf("%s: the %s colour covers %d pixels; the charts did not render? (%v)", what, name, count[name], count)
		}
	}
}

func near(v uint32, c uint8) bool { return v+6 >= uint32(c) && v <= uint32(c)+6 }

// playReportScenario writes reporttest's scripted history of the tenant
// into the store of r, which must not be running.
func playReportScenario(t *testing.T, r *Relay) {
	t.Helper()
	cfg, err := configs.Load(r.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(filepath.Join(cfg.DataDir, "careerrelay.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reporttest.Play(context.Background(), cfg, db, tenantID, ""); err != nil {
		db.Close()
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}
