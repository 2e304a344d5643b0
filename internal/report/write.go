package report

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
)

// Formats are the report's formats, the first the default.
var Formats = []string{"html", "csv", "json"}

// ContentType is the HTTP Content-Type of a report format ("" if unknown).
func ContentType(format string) string {
	switch format {
	case "html":
		return "text/html; charset=utf-8"
	case "csv":
		return "text/csv; charset=utf-8"
	case "json":
		return "application/json"
	}
	return ""
}

// Write writes r in format (html, csv or json).
func (r *Report) Write(w io.Writer, format string) error {
	switch format {
	case "html":
		return r.WriteHTML(w)
	case "csv":
		return r.WriteCSV(w)
	case "json":
		return r.WriteJSON(w)
	}
	return fmt.Errorf("report: format %q: want html, csv or json", format)
}

// WriteJSON writes r as one indented JSON object.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("report: write JSON: %w", err)
	}
	return nil
}

// CSVHeader is the first row of a CSV report. Each month is a row, then
// the whole period with month "total"; rates have four decimals and are
// empty when they have no denominator (no link sent, for consent_rate no
// link clicked); rating_average has two decimals, empty without ratings.
// Columns are only ever added at the end. The file is ASCII: it opens the
// same in any spreadsheet.
var CSVHeader = []string{
	"tenant", "from", "to", "month",
	"links_sent", "links_clicked", "click_rate", "human_clicks", "bot_clicks",
	"referrals", "referral_rate", "credits_granted", "credits_redeemed", "credits_adjusted",
	"links_bounced", "links_queued", "voids", "credits_revoked",
	"referrals_flagged", "signal_quick_consent", "signal_shared_network", "signal_sender_network", "withdrawals",
	"links_clicked_at_consent", "consent_rate", "ratings", "rating_average",
}

// WriteCSV writes r as CSV (see CSVHeader).
func (r *Report) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	cw.Write(CSVHeader)
	row := func(month string, f *Figures) {
		cw.Write([]string{
			r.Tenant, r.From, r.To, month,
			strconv.Itoa(f.LinksSent), strconv.Itoa(f.LinksClicked), rateCSV(f.ClickRate),
			strconv.Itoa(f.HumanClicks), strconv.Itoa(f.BotClicks),
			strconv.Itoa(f.Referrals), rateCSV(f.ReferralRate),
			strconv.Itoa(f.CreditsGranted), strconv.Itoa(f.CreditsRedeemed), strconv.Itoa(f.CreditsAdjusted),
			strconv.Itoa(f.LinksBounced), strconv.Itoa(f.LinksQueued),
			strconv.Itoa(f.Voids), strconv.Itoa(f.CreditsRevoked),
			strconv.Itoa(f.ReferralsFlagged), strconv.Itoa(f.SignalQuickConsent), strconv.Itoa(f.SignalSharedNetwork),
			strconv.Itoa(f.SignalSenderNetwork), strconv.Itoa(f.Withdrawals),
			strconv.Itoa(f.LinksClickedAtConsent), rateCSV(f.ConsentRate), strconv.Itoa(f.Ratings), averageCSV(f.RatingAverage),
		})
	}
	for i := range r.Months {
		row(r.Months[i].Month, &r.Months[i])
	}
	row("total", &r.Total)
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("report: write CSV: %w", err)
	}
	return nil
}

func rateCSV(v *float64) string {
	if v == nil {
		return ""
	}
	return strconv.FormatFloat(*v, 'f', 4, 64)
}

func averageCSV(v *float64) string {
	if v == nil {
		return ""
	}
	return strconv.FormatFloat(*v, 'f', 2, 64)
}
