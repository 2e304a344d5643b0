package report

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"regexp"
	"strings"
	"time"
)

//go:embed report.html
var pageSource string

// defaultAccent is the accent of a tenant without a colour: the link
// pages' blue.
const defaultAccent = "#1f5fa8"

var colorRE = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)

var page = template.Must(template.New("report").Funcs(template.FuncMap{
	"num": num,
	"pct": pct,
	"rowArgs": func(v *htmlView, r htmlRow, class string) rowArgs {
		if class == "" && r.idle() {
			class = "idle"
		}
		return rowArgs{Row: r, Adjusted: v.Adjusted, Voided: v.Voided, Class: class}
	},
}).Parse(pageSource))

// idle tells whether nothing happened in the row's month.
func (r htmlRow) idle() bool {
	f := r.Figures
	return f.LinksSent+f.LinksBounced+f.LinksQueued+f.HumanClicks+f.BotClicks+f.Referrals+f.CreditsGranted+f.CreditsRedeemed+
		f.Voids+f.CreditsRevoked == 0 && f.CreditsAdjusted == 0
}

// rowArgs are the arguments of the template "row".
type rowArgs struct {
	Row      htmlRow
	Adjusted bool
	Voided   bool
	Class    string
}

// ProgressPercent is the credit progress for a CSS width.
func (v *htmlView) ProgressPercent() string { return fmt.Sprintf("%.1f", v.Credit.Fraction*100) }

// htmlView is what report.html shows.
type htmlView struct {
	*Report
	Accent    template.CSS
	Funnel    template.HTML // inline SVG made by funnelSVG
	Trend     template.HTML // inline SVG made by trendSVG
	PeriodJA  string
	Generated string
	Rows      []htmlRow
	TotalRow  htmlRow
	Adjusted  bool   // some month has an adjustment: show the column
	Voided    bool   // some month has a void or a revoke: show their columns and note
	Progress  []bool // one segment per referral of a credit (20 at most)
	HeadShort string
	Colors    map[string]template.CSS
}

type htmlRow struct {
	Label, En string
	*Figures
}

// WriteHTML writes r as one self-contained, printable HTML page (A4): no
// script and no external resource; the charts are inline SVG.
func (r *Report) WriteHTML(w io.Writer) error {
	v := &htmlView{
		Report:    r,
		Accent:    defaultAccent,
		Funnel:    template.HTML(funnelSVG(r)), // #nosec: built from numbers and escaped text
		Trend:     template.HTML(trendSVG(r)),
		PeriodJA:  dateJA(r.From) + " 〜 " + dateJA(r.To),
		Generated: r.Generated.In(Zone).Format("2006-01-02 15:04") + " JST",
		TotalRow:  htmlRow{Label: "合計", En: "Total", Figures: &r.Total},
		HeadShort: short(r.LedgerHead),
		Colors: map[string]template.CSS{
			"sent": colSent, "click": colClick, "refer": colRefer, "credit": colCredit,
		},
	}
	if t := configsColor(r); t != "" {
		v.Accent = template.CSS(t)
	}
	for i := range r.Months {
		f := &r.Months[i]
		y, m := splitMonth(f.Month)
		v.Rows = append(v.Rows, htmlRow{Label: fmt.Sprintf("%d年%d月", y, m), En: f.Month, Figures: f})
		v.Adjusted = v.Adjusted || f.CreditsAdjusted != 0
		v.Voided = v.Voided || f.Voids != 0 || f.CreditsRevoked != 0
	}
	if n := r.Credit.ReferralsPerCredit; n <= 20 {
		for i := range n {
			v.Progress = append(v.Progress, i < r.Credit.TowardNext)
		}
	}
	if err := page.Execute(w, v); err != nil {
		return fmt.Errorf("report: write HTML: %w", err)
	}
	return nil
}

// configsColor is the tenant's accent colour, when it is a valid #rrggbb.
func configsColor(r *Report) string {
	if colorRE.MatchString(r.accent) {
		return r.accent
	}
	return ""
}

// dateJA writes YYYY-MM-DD as 2026年3月1日.
func dateJA(d string) string {
	t, err := time.Parse(DateLayout, d)
	if err != nil {
		return d
	}
	return fmt.Sprintf("%d年%d月%d日", t.Year(), int(t.Month()), t.Day())
}

// short is the first 16 characters of a hash.
func short(h string) string {
	if len(h) > 16 {
		return h[:16] + "…"
	}
	return strings.TrimSpace(h)
}
