package web

import (
	"bytes"
	"fmt"
	"mime"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/careerrelay/careerrelay/configs"
	"github.com/careerrelay/careerrelay/internal/report"
)

// reportNow is the clock that gives a report's default period; tests
// replace it.
var reportNow = time.Now

// reportCSP is the page's own policy, sent again as a header: nothing is
// fetched and nothing runs.
const reportCSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"

// impactReport answers the tenant's impact report (package report):
//
//	GET /api/report?tenant=ID[&from=YYYY-MM-DD][&to=YYYY-MM-DD][&format=html|csv|json][&lang=ja|en|both]
//
// The days are Japan time and inclusive; to defaults to today and from to
// the first day of the eleventh month before to's; format defaults to
// html, lang (the HTML page's language; CSV and JSON keep their machine
// names) to ja. A bad date, format or lang is bad_request (400), a period ending before
// it starts or longer than report.MaxMonths too. When the admin API's
// bookkeeping cannot give the send records and clicks (not a
// *referral.Service), it answers not_implemented (501).
func (a *Admin) impactReport(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		apiError(w, http.StatusMethodNotAllowed, "method_not_allowed", r.Method+" is not allowed on /api/report")
		return
	}
	q := r.URL.Query()
	tenant, ok := a.tenantParam(w, q.Get("tenant"), true)
	if !ok {
		return
	}
	src, ok := a.ledger.(report.Source)
	if !ok {
		apiError(w, http.StatusNotImplemented, "not_implemented", "this server's bookkeeping cannot make reports")
		return
	}
	if rep := serveReport(w, r, src, a.cfg.TenantByID(tenant), a.fail); rep != nil {
		a.log.Info("impact report", "tenant", tenant, "from", rep.From, "to", rep.To, "format", r.URL.Query().Get("format"))
	}
}

// serveReport answers the impact report of tenant t from src for the
// query's from, to, format (html by default) and lang (ja by default): 400 for a bad query,
// fail for an error of the store. It returns the report it sent, or nil.
func serveReport(w http.ResponseWriter, r *http.Request, src report.Source, t *configs.Tenant, fail func(http.ResponseWriter, string, error)) *report.Report {
	q := r.URL.Query()
	format := q.Get("format")
	if format == "" {
		format = report.Formats[0]
	}
	if !slices.Contains(report.Formats, format) {
		apiError(w, http.StatusBadRequest, "bad_request",
			fmt.Sprintf("format %q is not %s", format, strings.Join(report.Formats, ", ")))
		return nil
	}
	lang := q.Get("lang")
	if lang == "" {
		lang = report.Langs[0]
	}
	if !slices.Contains(report.Langs, lang) {
		apiError(w, http.StatusBadRequest, "bad_request",
			fmt.Sprintf("lang %q is not %s", lang, strings.Join(report.Langs, ", ")))
		return nil
	}
	first, last, err := report.Period(q.Get("from"), q.Get("to"), reportNow())
	if err != nil {
		apiError(w, http.StatusBadRequest, "bad_request", err.Error())
		return nil
	}
	rep, err := report.Build(src, t, first, last)
	if err != nil {
		fail(w, "report", err)
		return nil
	}
	// Rendered in full first, so that a failure can still answer an error.
	var buf bytes.Buffer
	write := func() error { return rep.Write(&buf, format) }
	if format == "html" {
		write = func() error { return rep.WriteHTMLLang(&buf, lang) }
	}
	if err := write(); err != nil {
		fail(w, "report", err)
		return nil
	}
	h := w.Header()
	h.Set("Content-Type", report.ContentType(format))
	h.Set("X-Content-Type-Options", "nosniff")
	name := fmt.Sprintf("careerrelay-report-%s-%s_%s.%s", t.ID, rep.From, rep.To, format)
	h.Set("Content-Disposition", mime.FormatMediaType("inline", map[string]string{"filename": name}))
	if format == "html" {
		h.Set("Content-Security-Policy", reportCSP)
	}
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		w.Write(buf.Bytes())
	}
	return rep
}
