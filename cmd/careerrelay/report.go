package main

import (
	"bytes"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"

	"github.com/careerrelay/careerrelay/configs"
	"github.com/careerrelay/careerrelay/internal/durable"
	"github.com/careerrelay/careerrelay/internal/report"
)

const reportUsage = `Usage:
  careerrelay report -config FILE -tenant T [-from YYYY-MM-DD] [-to YYYY-MM-DD]
                     [-format html|csv|json] [-lang ja|en|both] [-out FILE]
                     [-ready-file FILE]

The tenant's impact report: mails with a personal link, links clicked by a
person, referrals, credits granted and redeemed, and the rates between them,
month by month and in total (days in Japan time, both ends included; -to
defaults to today, -from to the first day of the eleventh month before).
The html report prints on A4: page 1 the summary HR can publish (one page
for 12 months), page 2 the appendix (every figure, definitions, ids and
hashes); -lang ja (default), en or both sets its language (CSV and JSON
keep their machine names). It comes
from the running server's admin API (admin.listen, admin.token_file; with
port 0 in admin.listen, -ready-file names the file of serve -ready-file).
`

// runReport fetches the impact report from the running server's admin API
// and writes it to standard output or -out.
func runReport(args []string) int {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(os.Stderr, reportUsage, "\nFlags:\n"); fs.PrintDefaults() }
	path := fs.String("config", "", "configuration file (YAML)")
	tenant := fs.String("tenant", "", "tenant id")
	from := fs.String("from", "", "first day, YYYY-MM-DD (Japan time)")
	to := fs.String("to", "", "last day, YYYY-MM-DD, included (default today)")
	format := fs.String("format", report.Formats[0], "report format: "+strings.Join(report.Formats, ", "))
	lang := fs.String("lang", report.Langs[0], "language of the html report: "+strings.Join(report.Langs, ", "))
	out := fs.String("out", "", "write the report to this file instead of standard output")
	readyFile := readyFileFlag(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	switch {
	case fs.NArg() > 0:
		fmt.Fprintf(os.Stderr, "report: unexpected argument %q\n", fs.Arg(0))
		return 2
	case *path == "" || *tenant == "":
		fmt.Fprint(os.Stderr, "report: -config FILE and -tenant T are required\n\n", reportUsage)
		return 2
	case !slices.Contains(report.Formats, *format):
		fmt.Fprintf(os.Stderr, "report: -format %q: want %s\n", *format, strings.Join(report.Formats, ", "))
		return 2
	case !slices.Contains(report.Langs, *lang):
		fmt.Fprintf(os.Stderr, "report: -lang %q: want %s\n", *lang, strings.Join(report.Langs, ", "))
		return 2
	}
	for _, d := range []string{*from, *to} {
		if _, err := report.ParseDate(d); d != "" && err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
	}
	cfg, err := configs.Load(*path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	q := url.Values{"tenant": {*tenant}, "format": {*format}}
	if *format == "html" {
		q.Set("lang", *lang)
	}
	if *from != "" {
		q.Set("from", *from)
	}
	if *to != "" {
		q.Set("to", *to)
	}
	c := adminClient{cfg: cfg, readyFile: *readyFile}
	if *out == "" {
		return c.do(http.MethodGet, "/api/report", q, nil)
	}
	var buf bytes.Buffer
	if code := c.call(http.MethodGet, "/api/report", q, nil, &buf); code != 0 {
		return code
	}
	if err := durable.WriteFile(*out, buf.Bytes(), 0o644); err != nil {
		fmt.Fprintf(os.Stderr, "report: %v\n", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "report: wrote %s (%d bytes)\n", *out, buf.Len())
	return 0
}
