package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"text/tabwriter"
	"time"

	"github.com/careerrelay/careerrelay/configs"
	"github.com/careerrelay/careerrelay/internal/referral"
)

const auditUsage = `Usage:
  careerrelay audit -config FILE [-format text|json] [-ready-file FILE]

The audit trail of admin actions, oldest first: when, which admin token
(an id: the first 4 bytes of the token's SHA-256, never the token), what
(redeem, void, export, links), for which tenant, and a detail that names records
by their ids, never a candidate. It comes from the running server's admin
API (admin.listen, admin.token_file).
`

// runAudit prints the audit trail.
func runAudit(args []string) int {
	fs := flag.NewFlagSet("audit", flag.ContinueOnError)
	fs.Usage = func() { io.WriteString(os.Stderr, auditUsage+"\nFlags:\n"); fs.PrintDefaults() }
	path := fs.String("config", "", "configuration file (YAML)")
	format := fs.String("format", "text", "text (a table) or json")
	readyFile := readyFileFlag(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 || *path == "" || (*format != "text" && *format != "json") {
		io.WriteString(os.Stderr, "audit: -config FILE is required; -format text or json\n\n"+auditUsage)
		return 2
	}
	cfg, err := configs.Load(*path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	c := adminClient{cfg: cfg, readyFile: *readyFile}
	if *format == "json" {
		return c.do(http.MethodGet, "/api/audit", nil, nil)
	}
	var out bytes.Buffer
	if code := c.call(http.MethodGet, "/api/audit", nil, nil, &out); code != 0 {
		return code
	}
	var recs []referral.AuditRecord
	if err := json.Unmarshal(out.Bytes(), &recs); err != nil {
		fmt.Fprintln(os.Stderr, "audit: unexpected answer of the admin API:", err)
		return 1
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tTIME (UTC)\tTOKEN\tACTION\tTENANT\tDETAIL")
	for _, a := range recs {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", a.Seq, a.Time.UTC().Format(time.DateTime), a.Token, a.Action, a.Tenant, a.Detail)
	}
	tw.Flush()
	return 0
}
