package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"

	"github.com/careerrelay/careerrelay/configs"
	"github.com/careerrelay/careerrelay/internal/durable"
	"github.com/careerrelay/careerrelay/internal/mailmerge"
	"github.com/careerrelay/careerrelay/internal/referral"
)

const linksUsage = `Usage:
  careerrelay links -config FILE -tenant T -csv IN.csv [-out OUT.csv] [-ready-file FILE]

Makes a personal link for every candidate of a CSV file (a header row with
an email column, or メールアドレス, and optionally name, or 氏名) and writes
the file again with one more column, career_link, for a mail merge: in
Excel, Word or an ATS, put the career_link field where the link goes. Each
link counts as if careerrelay had sent the mail.

The file may be UTF-8 (with or without BOM) or Shift_JIS (Excel's
"CSV (comma delimited)" in Japanese Windows); the result is written in the
same encoding. A row without a valid address stops everything, naming its
line; nothing is made then. The links come from the running server's admin
API (admin.listen, admin.token_file), 1,000 at a time.
`

// runLinks adds personal links to a CSV of candidates.
func runLinks(args []string) int {
	fs := flag.NewFlagSet("links", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(os.Stderr, linksUsage, "\nFlags:\n"); fs.PrintDefaults() }
	path := fs.String("config", "", "configuration file (YAML)")
	tenant := fs.String("tenant", "", "tenant id")
	in := fs.String("csv", "", "the CSV file of candidates")
	out := fs.String("out", "", "write the result to this file instead of standard output")
	readyFile := readyFileFlag(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 || *path == "" || *tenant == "" || *in == "" {
		fmt.Fprint(os.Stderr, "links: -config FILE, -tenant T and -csv IN.csv are required\n\n", linksUsage)
		return 2
	}
	cfg, err := configs.Load(*path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if cfg.TenantByID(*tenant) == nil {
		fmt.Fprintf(os.Stderr, "links: no tenant %q in %s\n", *tenant, *path)
		return 1
	}
	data, err := os.ReadFile(*in)
	if err != nil {
		fmt.Fprintln(os.Stderr, "links:", err)
		return 1
	}
	sheet, err := mailmerge.Read(data)
	if err != nil {
		fmt.Fprintf(os.Stderr, "links: %s: %v\n", *in, err)
		return 1
	}
	fileSum := sha256.Sum256(data)
	links := make([]string, 0, len(sheet.Rows))
	for start := 0; start < len(sheet.Rows); start += referral.MaxMint {
		batch := sheet.Rows[start:min(start+referral.MaxMint, len(sheet.Rows))]
		got, code := mintBatch(cfg, *readyFile, *tenant, batch, fmt.Sprintf("csv-%s-%d", hex.EncodeToString(fileSum[:12]), start))
		if code != 0 {
			fmt.Fprintf(os.Stderr, "links: stopped at row %d of %d (line %d); running the command again on the same file makes no link twice\n",
				start+1, len(sheet.Rows), batch[0].Line)
			return code
		}
		links = append(links, got...)
		if len(sheet.Rows) > referral.MaxMint {
			fmt.Fprintf(os.Stderr, "links: %d of %d rows\n", len(links), len(sheet.Rows))
		}
	}
	var buf bytes.Buffer
	if err := sheet.Write(&buf, links); err != nil {
		fmt.Fprintln(os.Stderr, "links:", err)
		return 1
	}
	if *out == "" {
		os.Stdout.Write(buf.Bytes())
	} else if err := durable.WriteFile(*out, buf.Bytes(), 0o600); err != nil {
		fmt.Fprintln(os.Stderr, "links:", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "links: %d personal links for tenant %s (%s)\n", len(links), *tenant, sheet.Encoding)
	return 0
}

// mintBatch asks the admin API for the links of one batch. The
// Idempotency-Key (the file's digest and the batch's first row) makes a
// repeated run answer with the links made the first time, within 24 hours.
func mintBatch(cfg *configs.Config, readyFile, tenant string, rows []mailmerge.Row, idem string) ([]string, int) {
	req := struct {
		Tenant     string               `json:"tenant"`
		Candidates []referral.Candidate `json:"candidates"`
	}{Tenant: tenant}
	for _, r := range rows {
		req.Candidates = append(req.Candidates, referral.Candidate{Email: r.Email, Name: r.Name})
	}
	body, _ := json.Marshal(req)
	c := adminClient{cfg: cfg, readyFile: readyFile, header: http.Header{"Idempotency-Key": {idem}}}
	var out bytes.Buffer
	if code := c.call(http.MethodPost, "/api/links", nil, body, &out); code != 0 {
		return nil, code
	}
	var resp struct {
		Links []referral.Minted `json:"links"`
	}
	if err := json.Unmarshal(out.Bytes(), &resp); err != nil || len(resp.Links) != len(rows) {
		if err == nil {
			err = errors.New("wrong number of links")
		}
		fmt.Fprintln(os.Stderr, "links: unexpected answer of the admin API:", err)
		return nil, 1
	}
	urls := make([]string, len(resp.Links))
	for i, l := range resp.Links {
		urls[i] = l.URL
	}
	return urls, 0
}
