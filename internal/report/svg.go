package report

import (
	"fmt"
	"html"
	"math"
	"strings"
	"time"
)

// The charts' colours, shared with the page's legend and cards (report.html).
const (
	colSent   = "#9fb3c8"
	colClick  = "#1f5fa8"
	colRefer  = "#e07b39"
	colCredit = "#2a9d6f"
	colGrid   = "#e3e7ed"
	colMuted  = "#6b7280"
	colText   = "#1d1d1f"
)

// svg is a small writer of SVG elements; every text goes through esc.
type svg struct{ b strings.Builder }

func (s *svg) f(format string, args ...any) { fmt.Fprintf(&s.b, format, args...) }

// text writes a text element; attrs are extra attributes, written as is.
func (s *svg) text(x, y float64, attrs, content string) {
	s.f(`<text x="%.1f" y="%.1f" %s>%s</text>`, x, y, attrs, esc(content))
}

func esc(s string) string { return html.EscapeString(s) }

// open starts an <svg> with a viewBox, scaled to its container's width.
func (s *svg) open(w, h int, label string) {
	s.f(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="100%%" role="img" aria-label="%s" class="chart">`, w, h, esc(label))
	s.f(`<title>%s</title>`, esc(label))
}

func (s *svg) close() string { s.b.WriteString("</svg>"); return s.b.String() }

// trendSVG draws each month's links sent, links clicked and referrals as
// grouped bars on one scale, with the credits granted in a row beneath;
// its legend is in the page.
func trendSVG(r *Report, l lang) string {
	const (
		width, height        = 680, 226
		left, right, top     = 46.0, 8.0, 12.0
		plotBottom           = 158.0
		monthY, yearY, credY = 173.0, 186.0, 211.0
	)
	series := []struct {
		color string
		get   func(f *Figures) int
	}{
		{colSent, func(f *Figures) int { return f.LinksSent }},
		{colClick, func(f *Figures) int { return f.LinksClicked }},
		{colRefer, func(f *Figures) int { return f.Referrals }},
	}
	maxV := 0
	for i := range r.Months {
		for _, se := range series {
			maxV = max(maxV, se.get(&r.Months[i]))
		}
	}
	step, top2 := niceScale(maxV)
	var s svg
	s.open(width, height, l.s("月別の推移: 送信・クリック・キャリア相談申込（名）と無料の採用支援の付与", "By month: notified, clicked, applied (people) and free hires earned"))

	// Axis and grid.
	plotH := plotBottom - top
	y := func(v int) float64 { return plotBottom - plotH*float64(v)/float64(top2) }
	for v := 0; v <= top2; v += step {
		s.f(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="1"/>`, left, y(v), width-right, y(v), colGrid)
		s.text(left-6, y(v)+3.5, `font-size="10" text-anchor="end" fill="`+colMuted+`"`, num(v))
	}
	s.f(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#9aa3ad" stroke-width="1"/>`, left, plotBottom, width-right, plotBottom)
	s.text(4, credY+4, `font-size="9.5" fill="`+colMuted+`"`, map[lang]string{"ja": "付与", "en": "Hires", "both": "付与"}[l])

	// Bars.
	n := len(r.Months)
	groupW := (width - right - left) / float64(max(n, 1))
	barW := math.Min(24, groupW*0.8/3)
	labelEvery := int(math.Ceil(float64(n) / 12))
	for i := range r.Months {
		f := &r.Months[i]
		cx := left + groupW*(float64(i)+0.5)
		x0 := cx - (3*barW+4)/2
		for j, se := range series {
			v := se.get(f)
			x := x0 + float64(j)*(barW+2)
			if v > 0 {
				h := plotBottom - y(v)
				s.f(`<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s" rx="1.5"/>`, x, y(v), barW, max(h, 1.5), se.color)
				if barW >= 11 {
					s.text(x+barW/2, y(v)-3, `font-size="9" text-anchor="middle" fill="`+colText+`"`, num(v))
				}
			}
		}
		year, month := splitMonth(f.Month)
		if i%labelEvery == 0 {
			ml, yl := fmt.Sprintf("%d月", month), fmt.Sprintf("%d年", year)
			if l == "en" {
				ml, yl = time.Month(month).String()[:3], fmt.Sprint(year)
			}
			s.text(cx, monthY, `font-size="11" text-anchor="middle" fill="`+colText+`"`, ml)
			if i == 0 || month == 1 || (labelEvery > 1 && month <= labelEvery) {
				s.text(cx, yearY, `font-size="9.5" text-anchor="middle" fill="`+colMuted+`"`, yl)
			}
		}
		if f.CreditsGranted > 0 {
			s.f(`<circle cx="%.1f" cy="%.1f" r="10" fill="%s"/>`, cx, credY, colCredit)
			s.text(cx, credY+4, `font-size="10.5" font-weight="700" text-anchor="middle" fill="#ffffff"`, fmt.Sprintf("+%d", f.CreditsGranted))
		}
	}
	return s.close()
}

// niceScale returns a step of 1, 2 or 5 times a power of ten and the top
// of the axis (a multiple of step, at least v) for about four grid lines.
func niceScale(v int) (step, top int) {
	if v <= 0 {
		return 1, 4
	}
	raw := float64(v) / 4
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step = int(mag)
	for _, m := range []float64{1, 2, 5, 10} {
		if m*mag >= raw {
			step = int(m * mag)
			break
		}
	}
	step = max(step, 1)
	return step, max((v+step-1)/step*step, 4)
}

// splitMonth reads "YYYY-MM".
func splitMonth(m string) (year, month int) {
	fmt.Sscanf(m, "%d-%d", &year, &month)
	return year, month
}

// pct writes a rate as a percentage with one decimal, "—" when there is
// none.
func pct(v *float64) string {
	if v == nil {
		return "—"
	}
	return fmt.Sprintf("%.1f%%", *v*100)
}

// num writes n with thousands separators.
func num(n int) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
