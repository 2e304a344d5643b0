package report

import (
	"fmt"
	"html"
	"math"
	"strings"
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
	colTrack  = "#eef2f6"
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

// funnelStage is one row of the funnel.
type funnelStage struct {
	ja, en string
	value  int
	unit   string
	color  string
	note   string // under the value: the rate to the stage before
}

// sentNote is the line under the links sent: what they are, and the
// copies not counted in them. It must fit the funnel's value column
// (about 17 full-width characters).
func sentNote(t *Figures) string {
	switch {
	case t.LinksBounced > 0 && t.LinksQueued > 0:
		return fmt.Sprintf("不達%d・配送中%dを除く", t.LinksBounced, t.LinksQueued)
	case t.LinksBounced > 0:
		return fmt.Sprintf("届いたメール（不達%d件を除く）", t.LinksBounced)
	case t.LinksQueued > 0:
		return fmt.Sprintf("配送中の%d件を除く", t.LinksQueued)
	}
	return "個別リンク付きのメール"
}

// funnelSVG draws the period's funnel: links sent, clicked, referred,
// credits, as bars centred on one axis, each as wide as its count (the
// largest is full width), joined by pale trapezoids.
func funnelSVG(r *Report) string {
	t := &r.Total
	stages := []funnelStage{
		{"送信したリンク", "Links sent", t.LinksSent, "件", colSent, sentNote(t)},
		{"クリックされたリンク", "Links clicked by a person", t.LinksClicked, "件", colClick, "クリック率 " + pct(t.ClickRate)},
		{"紹介", "Referrals", t.Referrals, "件", colRefer, "紹介率 " + pct(t.ReferralRate)},
		{"付与クレジット", "Credits granted", t.CreditsGranted, "", colCredit,
			fmt.Sprintf("紹介%d件ごとに1クレジット", r.Credit.ReferralsPerCredit)},
	}
	const (
		width, rowH, barH, top = 680, 58, 38, 6
		barX, barW             = 196.0, 320.0
		valueX                 = 536.0
	)
	maxV := 0
	for _, st := range stages {
		maxV = max(maxV, st.value)
	}
	widthOf := func(v int) float64 {
		if v <= 0 || maxV == 0 {
			return 0
		}
		return max(4, barW*float64(v)/float64(maxV))
	}
	var s svg
	s.open(width, top*2+rowH*len(stages)-(rowH-barH), "ファネル: 送信 → クリック → 紹介 → クレジット")
	mid := barX + barW/2
	for i, st := range stages {
		y := float64(top + i*rowH)
		w := widthOf(st.value)
		if i+1 < len(stages) {
			wn := widthOf(stages[i+1].value)
			s.f(`<polygon points="%.1f,%.1f %.1f,%.1f %.1f,%.1f %.1f,%.1f" fill="%s"/>`,
				mid-w/2, y+barH, mid+w/2, y+barH, mid+wn/2, y+rowH, mid-wn/2, y+rowH, colTrack)
		}
		s.f(`<rect x="%.1f" y="%.1f" width="%.1f" height="%d" fill="%s" opacity=".35" rx="3"/>`, barX, y, barW, barH, colTrack)
		if w > 0 {
			s.f(`<rect x="%.1f" y="%.1f" width="%.1f" height="%d" fill="%s" rx="3"/>`, mid-w/2, y, w, barH, st.color)
		} else {
			s.f(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="2"/>`, mid, y, mid, y+barH, colMuted)
		}
		s.f(`<rect x="0" y="%.1f" width="5" height="%d" fill="%s" rx="1"/>`, y, barH, st.color)
		s.text(14, y+17, `font-size="14" font-weight="700" fill="`+colText+`"`, st.ja)
		s.text(14, y+32, `font-size="10.5" fill="`+colMuted+`"`, st.en)
		s.f(`<text x="%.1f" y="%.1f" font-size="21" font-weight="700" fill="%s">%s<tspan font-size="11" font-weight="400" fill="%s" dx="3">%s</tspan></text>`,
			valueX, y+20, colText, esc(num(st.value)), colMuted, esc(st.unit))
		s.text(valueX, y+35, `font-size="10.5" fill="`+colMuted+`"`, st.note)
	}
	return s.close()
}

// trendSVG draws each month's links sent, links clicked and referrals as
// grouped bars on one scale, with the credits granted in a row beneath;
// its legend is in the page.
func trendSVG(r *Report) string {
	const (
		width, height        = 680, 274
		left, right, top     = 46.0, 8.0, 14.0
		plotBottom           = 196.0
		monthY, yearY, credY = 212.0, 225.0, 254.0
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
	s.open(width, height, "月次推移: 送信・クリック・紹介・クレジット付与")

	// Axis and grid.
	plotH := plotBottom - top
	y := func(v int) float64 { return plotBottom - plotH*float64(v)/float64(top2) }
	for v := 0; v <= top2; v += step {
		s.f(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="1"/>`, left, y(v), width-right, y(v), colGrid)
		s.text(left-6, y(v)+3.5, `font-size="10" text-anchor="end" fill="`+colMuted+`"`, num(v))
	}
	s.f(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#9aa3ad" stroke-width="1"/>`, left, plotBottom, width-right, plotBottom)
	s.text(4, credY+4, `font-size="9.5" fill="`+colMuted+`"`, "付与")

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
			s.text(cx, monthY, `font-size="11" text-anchor="middle" fill="`+colText+`"`, fmt.Sprintf("%d月", month))
			if i == 0 || month == 1 || (labelEvery > 1 && month <= labelEvery) {
				s.text(cx, yearY, `font-size="9.5" text-anchor="middle" fill="`+colMuted+`"`, fmt.Sprintf("%d年", year))
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
