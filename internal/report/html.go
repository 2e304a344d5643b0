package report

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"math"
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

// Langs are the languages of the HTML page, the first the default: ja
// (Japanese only), en (English only), both (Japanese, then English).
var Langs = []string{"ja", "en", "both"}

var page = template.Must(template.New("report").Funcs(template.FuncMap{
	"num": num,
	"pct": pct,
	"net": func(f *Figures) int { return f.CreditsGranted - f.CreditsRevoked },
}).Parse(pageSource))

// lang is the page's language, one of Langs.
type lang string

// t is a label in the page's language: ja, en, or ja with en after it.
func (l lang) t(ja, en string) template.HTML {
	switch l {
	case "en":
		return template.HTML(esc(en))
	case "both":
		return template.HTML(esc(ja) + ` <span class="en" lang="en">` + esc(en) + `</span>`)
	}
	return template.HTML(esc(ja))
}

// s is a plain text in the page's language (both: ja / en).
func (l lang) s(ja, en string) string {
	switch l {
	case "en":
		return en
	case "both":
		return ja + " / " + en
	}
	return ja
}

// htmlView is what report.html shows.
type htmlView struct {
	*Report
	L         lang
	HTMLLang  string
	Title     string
	Accent    template.CSS
	Colors    map[string]template.CSS
	Trend     template.HTML // inline SVG made by trendSVG
	Period    template.HTML
	Previous  template.HTML // the previous period, for the comparison
	Summary   []template.HTML
	Steps     []kpi // sent, clicked, applied
	Compare   []cmpRow
	Cards     []kpi // credits, fees saved, rating, next credit
	Progress  []bool
	Rows      []htmlRow
	TotalRow  htmlRow
	Adjusted  bool // some month has an adjustment: show the column
	Voided    bool // some month has a void or a revoke
	Flagged   bool // some month has signals or withdrawals
	Rated     bool // some month has ratings
	Notes     []template.HTML
	Defs      []def
	Generated string
}

// kpi is one key figure of page 1.
type kpi struct {
	Name   template.HTML
	Value  template.HTML
	Sub    template.HTML
	Change template.HTML // against the previous period, "" when none
	Color  template.CSS
	Bar    bool // Cards: the progress toward the next credit
}

type def struct {
	Term template.HTML
	Text template.HTML
}

type htmlRow struct {
	Label template.HTML
	*Figures
}

// T is a label in the page's language, for the template.
func (v *htmlView) T(ja, en string) template.HTML { return v.L.t(ja, en) }

// Both tells whether the page shows both languages.
func (v *htmlView) Both() bool { return v.L == "both" }

// detailRow is a row of the appendix's table.
type detailRow struct {
	V *htmlView
	R htmlRow
}

// DetailRows are the months and the total, for the appendix.
func (v *htmlView) DetailRows() []detailRow {
	var out []detailRow
	for _, r := range append(v.Rows, v.TotalRow) {
		out = append(out, detailRow{v, r})
	}
	return out
}

// ProgressPercent is the credit progress for a CSS width.
func (v *htmlView) ProgressPercent() string { return fmt.Sprintf("%.1f", v.Credit.Fraction*100) }

// Rating writes an average rating with one decimal.
func (v *htmlView) Rating(a *float64) string {
	if a == nil {
		return "—"
	}
	return fmt.Sprintf("%.1f", *a)
}

// WriteHTML writes r as one self-contained, printable HTML page in
// Japanese (WriteHTMLLang).
func (r *Report) WriteHTML(w io.Writer) error { return r.WriteHTMLLang(w, Langs[0]) }

// WriteHTMLLang writes r as one self-contained HTML page in language l
// (one of Langs): no script and no external resource, the chart inline
// SVG. Printed, page 1 is the summary (one A4 page for up to 12 months)
// and page 2 the appendix: every figure, the definitions, ids and hashes.
func (r *Report) WriteHTMLLang(w io.Writer, l string) error {
	switch l {
	case "ja", "en", "both":
	default:
		return fmt.Errorf("report: language %q: want %s", l, strings.Join(Langs, ", "))
	}
	v := r.view(lang(l))
	if err := page.Execute(w, v); err != nil {
		return fmt.Errorf("report: write HTML: %w", err)
	}
	return nil
}

func (r *Report) view(l lang) *htmlView {
	t := &r.Total
	v := &htmlView{
		Report:    r,
		L:         l,
		HTMLLang:  map[lang]string{"ja": "ja", "en": "en", "both": "ja"}[l],
		Accent:    defaultAccent,
		Trend:     template.HTML(trendSVG(r, l)), // #nosec: built from numbers and escaped text
		Period:    l.t(periodJA(r.From, r.To), periodEN(r.From, r.To)),
		Generated: r.Generated.In(Zone).Format("2006-01-02 15:04"),
		Colors: map[string]template.CSS{
			"sent": colSent, "click": colClick, "refer": colRefer, "credit": colCredit,
		},
	}
	v.Title = r.TenantName + " " + l.s("キャリア相談 実績レポート", "Career consultation impact report") + " " +
		l.s(periodJA(r.From, r.To), periodEN(r.From, r.To))
	if c := configsColor(r); c != "" {
		v.Accent = template.CSS(c)
	}
	if r.Previous != nil {
		v.Previous = l.t(periodJA(r.Previous.From, r.Previous.To), periodEN(r.Previous.From, r.Previous.To))
	}
	v.Summary = append(v.Summary, template.HTML(esc(summaryJA(r))))
	if l == "en" {
		v.Summary = []template.HTML{template.HTML(esc(summaryEN(r)))}
	} else if l == "both" {
		v.Summary = append(v.Summary, template.HTML(`<span class="en" lang="en">`+esc(summaryEN(r))+`</span>`))
	}

	var prev *Figures
	if r.Previous != nil {
		prev = &r.Previous.Figures
	}
	change := func(get func(f *Figures) int) template.HTML {
		if prev == nil {
			return ""
		}
		return changeCount(l, get(t), get(prev))
	}
	sentSub := l.t("個別リンク付きの不採用通知", "rejection notices with a personal link")
	switch {
	case t.LinksBounced > 0 && t.LinksQueued > 0:
		sentSub = l.t(fmt.Sprintf("届いた通知のみ（未達%s名・配送中%s名を除く）", num(t.LinksBounced), num(t.LinksQueued)),
			fmt.Sprintf("delivered only (%s failed, %s queued)", num(t.LinksBounced), num(t.LinksQueued)))
	case t.LinksBounced > 0:
		sentSub = l.t(fmt.Sprintf("届いた通知のみ（未達%s名を除く）", num(t.LinksBounced)),
			fmt.Sprintf("delivered only (%s failed)", num(t.LinksBounced)))
	case t.LinksQueued > 0:
		sentSub = l.t(fmt.Sprintf("届いた通知のみ（配送中%s名を除く）", num(t.LinksQueued)),
			fmt.Sprintf("delivered only (%s queued)", num(t.LinksQueued)))
	}
	v.Steps = []kpi{
		{Name: l.t("送信", "Notified"), Value: people(l, t.LinksSent), Sub: sentSub,
			Change: change(func(f *Figures) int { return f.LinksSent }), Color: colSent},
		{Name: l.t("クリック", "Clicked"), Value: people(l, t.LinksClicked),
			Sub:    l.t("クリック率 "+pct(t.ClickRate)+"（送信した方のうち）", "click rate "+pct(t.ClickRate)+" of those notified"),
			Change: change(func(f *Figures) int { return f.LinksClicked }), Color: colClick},
		{Name: l.t("キャリア相談申込", "Applied for consultation"), Value: people(l, t.Referrals),
			Sub:    l.t("申込率 "+pct(t.ConsentRate)+"（クリックした方のうち）", "application rate "+pct(t.ConsentRate)+" of those who clicked"),
			Change: change(func(f *Figures) int { return f.Referrals }), Color: colRefer},
	}
	if prev != nil {
		v.Compare = compareRows(l, t, prev)
	}

	credits := t.CreditsGranted - t.CreditsRevoked
	creditSub := l.t(fmt.Sprintf("申込%d名ごとに1名分 · 利用 %s名分 · 未利用 %s名分", r.Credit.ReferralsPerCredit, num(t.CreditsRedeemed), num(r.Credit.Available)),
		fmt.Sprintf("one per %d applications · %s used · %s unused", r.Credit.ReferralsPerCredit, num(t.CreditsRedeemed), num(r.Credit.Available)))
	v.Cards = append(v.Cards, kpi{Name: l.t("無料の採用支援", "Free hires earned"), Value: hires(l, credits), Sub: creditSub,
		Change: change(func(f *Figures) int { return f.CreditsGranted - f.CreditsRevoked }), Color: colCredit})
	if r.FeesSavedYen != nil {
		v.Cards = append(v.Cards, kpi{Name: l.t("推定削減額", "Estimated fees saved"), Value: yenValue(l, *r.FeesSavedYen),
			Sub: l.t("累計 "+yenJA(*r.FeesSavedToDateYen)+" · 1名分 "+yenJA(r.CreditValueYen)+"で試算",
				"to date "+yenEN(*r.FeesSavedToDateYen)+" · at "+yenEN(r.CreditValueYen)+" a hire"),
			Color: colCredit})
	}
	if t.Ratings > 0 {
		v.Cards = append(v.Cards, kpi{Name: l.t("通知への評価", "Rating of the notice"),
			Value: template.HTML(esc(v.Rating(t.RatingAverage)) + `<small> / 5</small>`),
			Sub:   l.t(fmt.Sprintf("5段階の平均 · 回答 %s名", num(t.Ratings)), fmt.Sprintf("average of 1–5 · %s answers", num(t.Ratings))),
			Color: colClick})
	}
	v.Cards = append(v.Cards, kpi{Name: l.t("次の無料採用支援まで", "Toward the next free hire"),
		Value: l.t(fmt.Sprintf("あと%d名", r.Credit.Remaining), fmt.Sprintf("%d to go", r.Credit.Remaining)),
		Sub: l.t(fmt.Sprintf("申込 %d / %d名", r.Credit.TowardNext, r.Credit.ReferralsPerCredit),
			fmt.Sprintf("%d of %d applications", r.Credit.TowardNext, r.Credit.ReferralsPerCredit)),
		Color: colCredit, Bar: true})
	if n := r.Credit.ReferralsPerCredit; n <= 20 {
		for i := range n {
			v.Progress = append(v.Progress, i < r.Credit.TowardNext)
		}
	}

	for i := range r.Months {
		f := &r.Months[i]
		y, m := splitMonth(f.Month)
		v.Rows = append(v.Rows, htmlRow{Label: l.t(fmt.Sprintf("%d年%d月", y, m), monthEN(y, m)), Figures: f})
		v.Adjusted = v.Adjusted || f.CreditsAdjusted != 0
		v.Voided = v.Voided || f.Voids != 0 || f.CreditsRevoked != 0
		v.Flagged = v.Flagged || f.ReferralsFlagged != 0 || f.Withdrawals != 0
		v.Rated = v.Rated || f.Ratings != 0
	}
	v.TotalRow = htmlRow{Label: l.t("合計", "Total"), Figures: t}

	if r.FeesSavedYen != nil {
		v.Notes = append(v.Notes, l.t(
			fmt.Sprintf("推定削減額は、無料の採用支援1名分を%sとして計算した目安です（付与から取消を引いた名数 × %s）。", yenJA(r.CreditValueYen), yenJA(r.CreditValueYen)),
			fmt.Sprintf("Estimated fees saved: free hires earned (granted less revoked) × %s a hire, the value configured for your company; an estimate, not an invoice.", yenEN(r.CreditValueYen))))
	}
	v.Notes = append(v.Notes, l.t("人数の数え方と月別の詳細は、2ページ目の付録をご覧ください。",
		"How people are counted, and every figure by month: see the appendix on page 2."))
	v.Defs = definitions(r, l)
	return v
}

// definitions are the appendix's terms.
func definitions(r *Report, l lang) []def {
	t := &r.Total
	d := []def{
		{l.t("送信", "Notified"), l.t(
			"個別リンク付きの不採用通知が届いた方の人数です（宛先ごとに1名）。届かなかった通知（未達）と配送中の通知は含めません。",
			"People whose rejection notice with a personal link was delivered, one per recipient; notices that failed or are still queued are not included.")},
		{l.t("クリック", "Clicked"), l.t(
			"リンクを開いた方の人数です。メールのセキュリティ製品などによる自動アクセスは除きます。同じ方が何度開いても、月ごと・期間全体でそれぞれ1名と数えます。キャリア相談に申し込んだ方は、開いた記録が自動アクセスと判定されていても、申込の月にクリックした1名として数えます（申込がクリックを上回ることはありません）。",
			"People who opened their link; mail scanners' automatic fetches are left out. A person counts once a month and once in the period, however often they opened it. A person who applied counts as having clicked in the month of the application even if their visit was classed automatic, so applications never exceed clicks.")},
		{l.t("キャリア相談申込", "Applied"), l.t(
			fmt.Sprintf("提携の人材紹介会社へのキャリア相談に同意して申し込んだ方の人数で、台帳の記録と一致します。申込率はクリックした方のうち申し込んだ方の割合です。申込%d名ごとに、無料の採用支援1名分（クレジット）が付与されます。", r.Credit.ReferralsPerCredit),
			fmt.Sprintf("People who consented to a career consultation with the partner agency; these are the ledger's referral entries. The application rate is per person who clicked. Every %d applications earn one free hire (a credit).", r.Credit.ReferralsPerCredit))},
		{l.t("前期間比", "Vs previous period"), l.t(
			"直前の同じ長さの期間との比較です。人数は増減率、率はポイントの差で示します。前期間が0名のときは比較を示しません。",
			"Against the period of the same length just before: counts as a percentage change, rates as a difference in points; no comparison when the previous period had none.")},
	}
	if t.Voids+t.CreditsRevoked > 0 {
		d = append(d, def{l.t("無効・取消", "Voided, revoked"), l.t(
			fmt.Sprintf("人材紹介会社が無効とした申込 %s名、それにより取り消された無料の採用支援 %s名分。無効となった申込も申込の人数には残ります。", num(t.Voids), num(t.CreditsRevoked)),
			fmt.Sprintf("%s applications voided by the agency, %s free hires revoked for them; a voided application still counts as applied.", num(t.Voids), num(t.CreditsRevoked)))})
	}
	if t.ReferralsFlagged+t.Withdrawals > 0 {
		d = append(d, def{l.t("確認の目安", "Signals"), l.t(
			fmt.Sprintf("人材紹介会社が確認の参考にする兆候のある申込 %s名（配信から1分以内の同意 %s名、同じネットワークから24時間に3名以上の同意 %s名、貴社のメールサーバーのネットワークからの同意 %s名）。候補者による同意の取り消し %s名。いずれも申込の人数は変わりません。",
				num(t.ReferralsFlagged), num(t.SignalQuickConsent), num(t.SignalSharedNetwork), num(t.SignalSenderNetwork), num(t.Withdrawals)),
			fmt.Sprintf("%s applications with signals the agency may check (%s within a minute of delivery, %s from a network with 3 or more consents in a day, %s from your mail servers' network); %s consents withdrawn. All still count.",
				num(t.ReferralsFlagged), num(t.SignalQuickConsent), num(t.SignalSharedNetwork), num(t.SignalSenderNetwork), num(t.Withdrawals)))})
	}
	if t.Ratings > 0 {
		d = append(d, def{l.t("評価", "Rating"), l.t(
			"申込完了ページで任意にいただいた、不採用通知への匿名の5段階評価です。",
			"The optional, anonymous 1–5 rating of the rejection notice on the completion page.")})
	}
	d = append(d, def{l.t("表の列", "Table columns"), l.t(
		"クリック＝リンクを開いた方（名）、うち申込時＝申込によりクリックに数えた方、回数＝人によるクリックの回数、自動＝自動アクセスの回数、付与・利用・取消＝無料の採用支援（名分）。1ページ目の「採用支援」は付与から取消を引いた名数です。",
		"Clicked: people who opened their link; at appl.: of them, counted at their application; Clicks: clicks by people; Auto: automatic fetches; Granted, Used, Revoked: free hires. Page 1's free hires are granted less revoked.")})
	d = append(d, def{l.t("日付", "Dates"), l.t("日付と月はすべて日本時間です。", "All days and months are Japan time.")})
	return d
}

// configsColor is the tenant's accent colour, when it is a valid #rrggbb.
func configsColor(r *Report) string {
	if colorRE.MatchString(r.accent) {
		return r.accent
	}
	return ""
}

// people writes a count of people as a large value.
func people(l lang, n int) template.HTML {
	if l == "en" {
		return template.HTML(esc(num(n)))
	}
	return template.HTML(esc(num(n)) + `<small>名</small>`)
}

// hires writes a count of free hires.
func hires(l lang, n int) template.HTML {
	if l == "en" {
		return template.HTML(esc(num(n)))
	}
	return template.HTML(esc(num(n)) + `<small>名分</small>`)
}

func yenValue(l lang, v int) template.HTML {
	if l == "en" {
		return template.HTML(esc(yenEN(v)))
	}
	s, unit := yenJA(v), "円"
	if !strings.Contains(s, "億") && strings.HasSuffix(s, "万円") {
		unit = "万円"
	}
	return template.HTML(esc(strings.TrimSuffix(s, unit)) + `<small>` + unit + `</small>`)
}

// yenJA writes an amount of yen the Japanese way: 300万円, 1億2,000万円,
// or 1,234,567円 when it is not whole ten-thousands.
func yenJA(v int) string {
	if v == 0 || v%10000 != 0 || v < 0 {
		return num(v) + "円"
	}
	oku, man := v/100000000, v%100000000/10000
	s := ""
	if oku > 0 {
		s = num(oku) + "億"
	}
	if man > 0 {
		s += num(man) + "万"
	}
	return s + "円"
}

func yenEN(v int) string { return "¥" + num(v) }

// changeCount writes the change of a count against the previous period,
// 前期間比 +12%; nothing when the previous period had none.
func changeCount(l lang, cur, prev int) template.HTML {
	s, d, ok := diffCount(cur, prev)
	if !ok {
		return ""
	}
	return chg(d, l.t("前期間比 "+s, s+" vs previous period"))
}

// diffCount is the change from prev to cur in percent, written +12%.
func diffCount(cur, prev int) (s string, d float64, ok bool) {
	if prev <= 0 {
		return "", 0, false
	}
	p := int(math.Round(float64(cur-prev) / float64(prev) * 100))
	return signed(p) + "%", float64(p), true
}

// diffRate is the change from prev to cur in points, written +1.2.
func diffRate(cur, prev *float64) (s string, d float64, ok bool) {
	if cur == nil || prev == nil {
		return "", 0, false
	}
	d = math.Round((*cur-*prev)*1000) / 10
	s = fmt.Sprintf("%+.1f", d)
	if d == 0 {
		s = "±0.0"
	}
	return strings.Replace(s, "-", "−", 1), d, true
}

func chg(d float64, text template.HTML) template.HTML {
	return template.HTML(`<span class="chg `+trend(d)+`">`) + text + `</span>`
}

// cmpRow is one line of the appendix's comparison with the previous
// period.
type cmpRow struct {
	Name            template.HTML
	Cur, Prev, Diff template.HTML
}

func compareRows(l lang, t, p *Figures) []cmpRow {
	n := func(name template.HTML, get func(f *Figures) int) cmpRow {
		row := cmpRow{name, template.HTML(num(get(t))), template.HTML(num(get(p))), "—"}
		if s, d, ok := diffCount(get(t), get(p)); ok {
			row.Diff = chg(d, template.HTML(esc(s)))
		}
		return row
	}
	r := func(name template.HTML, get func(f *Figures) *float64) cmpRow {
		row := cmpRow{name, template.HTML(pct(get(t))), template.HTML(pct(get(p))), "—"}
		if s, d, ok := diffRate(get(t), get(p)); ok {
			row.Diff = chg(d, l.t(s+"ポイント", s+" pts"))
		}
		return row
	}
	return []cmpRow{
		n(l.t("送信（名）", "Notified"), func(f *Figures) int { return f.LinksSent }),
		n(l.t("クリック（名）", "Clicked"), func(f *Figures) int { return f.LinksClicked }),
		r(l.t("クリック率", "Click rate"), func(f *Figures) *float64 { return f.ClickRate }),
		n(l.t("キャリア相談申込（名）", "Applied"), func(f *Figures) int { return f.Referrals }),
		r(l.t("申込率（クリックした方のうち）", "Application rate (per click)"), func(f *Figures) *float64 { return f.ConsentRate }),
		n(l.t("無料の採用支援（名分）", "Free hires earned"), func(f *Figures) int { return f.CreditsGranted - f.CreditsRevoked }),
	}
}

func trend(d float64) string {
	switch {
	case d > 0:
		return "up"
	case d < 0:
		return "down"
	}
	return "flat"
}

func signed(p int) string {
	switch {
	case p > 0:
		return fmt.Sprintf("+%d", p)
	case p < 0:
		return fmt.Sprintf("−%d", -p)
	}
	return "±0"
}

// wholeMonths tells whether from..to is whole months, and which.
func wholeMonths(from, to string) (first, last time.Time, ok bool) {
	f, err1 := time.Parse(DateLayout, from)
	t, err2 := time.Parse(DateLayout, to)
	if err1 != nil || err2 != nil {
		return f, t, false
	}
	return f, t, f.Day() == 1 && t.AddDate(0, 0, 1).Day() == 1
}

// periodJA writes a period: 2026年1月〜12月, 2025年4月〜2026年3月,
// 2026年3月, or its days, 2026年3月5日〜3月14日.
func periodJA(from, to string) string {
	f, t, months := wholeMonths(from, to)
	if f.IsZero() || t.IsZero() {
		return from + "〜" + to
	}
	if months {
		switch {
		case f.Year() == t.Year() && f.Month() == t.Month():
			return fmt.Sprintf("%d年%d月", f.Year(), f.Month())
		case f.Year() == t.Year():
			return fmt.Sprintf("%d年%d月〜%d月", f.Year(), f.Month(), t.Month())
		}
		return fmt.Sprintf("%d年%d月〜%d年%d月", f.Year(), f.Month(), t.Year(), t.Month())
	}
	if from == to {
		return dateJA(from)
	}
	if f.Year() == t.Year() {
		return dateJA(from) + "〜" + fmt.Sprintf("%d月%d日", t.Month(), t.Day())
	}
	return dateJA(from) + "〜" + dateJA(to)
}

// periodEN writes a period: January–December 2026, March 2026,
// April 2025–March 2026, or 5 March–14 March 2026.
func periodEN(from, to string) string {
	f, t, months := wholeMonths(from, to)
	if f.IsZero() || t.IsZero() {
		return from + " – " + to
	}
	if months {
		switch {
		case f.Year() == t.Year() && f.Month() == t.Month():
			return f.Format("January 2006")
		case f.Year() == t.Year():
			return f.Format("January") + "–" + t.Format("January 2006")
		}
		return f.Format("January 2006") + "–" + t.Format("January 2006")
	}
	if from == to {
		return f.Format("2 January 2006")
	}
	if f.Year() == t.Year() {
		return f.Format("2 January") + "–" + t.Format("2 January 2006")
	}
	return f.Format("2 January 2006") + "–" + t.Format("2 January 2006")
}

func monthEN(y, m int) string {
	return time.Date(y, time.Month(m), 1, 0, 0, 0, 0, time.UTC).Format("Jan 2006")
}

// summaryJA is the sentence HR can quote, made from the figures.
func summaryJA(r *Report) string {
	t := &r.Total
	p := periodJA(r.From, r.To)
	if t.LinksSent == 0 {
		return p + "は、個別リンク付きの不採用通知をお送りしていません。"
	}
	s := fmt.Sprintf("%sに不採用通知をお送りした%s名のうち、", p, num(t.LinksSent))
	if t.Referrals == 0 {
		return s + fmt.Sprintf("%s名がリンクを開きました。キャリア相談への申込はまだありません。", num(t.LinksClicked))
	}
	s += fmt.Sprintf("%s名がキャリア相談に申し込み", num(t.Referrals))
	if c := t.CreditsGranted - t.CreditsRevoked; c > 0 {
		s += fmt.Sprintf("、無料の採用支援%s名分", num(c))
		if r.FeesSavedYen != nil {
			s += fmt.Sprintf("（推定%s）", yenJA(*r.FeesSavedYen))
		}
		return s + "を獲得しました。"
	}
	return s + fmt.Sprintf("ました。次の無料の採用支援まで、あと%d名です。", r.Credit.Remaining)
}

// summaryEN is summaryJA in English.
func summaryEN(r *Report) string {
	t := &r.Total
	p := periodEN(r.From, r.To)
	if t.LinksSent == 0 {
		return "In " + p + ", no rejection notice with a personal link was sent."
	}
	s := fmt.Sprintf("In %s, of the %s candidates who received your rejection notice, ", p, num(t.LinksSent))
	if t.Referrals == 0 {
		return s + fmt.Sprintf("%s opened their link; no one has applied for a career consultation yet.", num(t.LinksClicked))
	}
	s += fmt.Sprintf("%s applied for a career consultation", num(t.Referrals))
	if c := t.CreditsGranted - t.CreditsRevoked; c > 0 {
		s += fmt.Sprintf(", earning you %s free %s", num(c), plural(c, "hire", "hires"))
		if r.FeesSavedYen != nil {
			s += fmt.Sprintf(" (an estimated %s in fees)", yenEN(*r.FeesSavedYen))
		}
		return s + "."
	}
	return s + fmt.Sprintf("; %d more will earn you a free hire.", r.Credit.Remaining)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// dateJA writes YYYY-MM-DD as 2026年3月1日.
func dateJA(d string) string {
	t, err := time.Parse(DateLayout, d)
	if err != nil {
		return d
	}
	return fmt.Sprintf("%d年%d月%d日", t.Year(), int(t.Month()), t.Day())
}
