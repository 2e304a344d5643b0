package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/careerrelay/careerrelay/configs"
	"github.com/careerrelay/careerrelay/internal/server"
)

const ledgerUsage = `Usage:
  careerrelay ledger balance -config FILE -tenant T
  careerrelay ledger export  -config FILE [-tenant T] [-format csv|json]
  careerrelay ledger redeem  -config FILE -tenant T -note "why"
  careerrelay ledger verify  -config FILE
  careerrelay ledger void    -config FILE -ref ID -reason "why"

The commands talk to the running server's admin API (admin.listen, with the
token of admin.token_file). When admin.listen has port 0, add -ready-file
FILE, the file of careerrelay serve -ready-file, to find the port.

void voids the referral ID for the agency: a void entry and, when the
tenant's valid referrals no longer cover its credits, a revoke entry that
takes one credit back (the balance may go below 0: credits owed).
`

// runLedger is the operator's view of referrals and credits, through the
// admin API of the running server (bbolt allows one process per file).
func runLedger(args []string) int {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, ledgerUsage)
		return 2
	}
	sub := args[0]
	fs := flag.NewFlagSet("ledger "+sub, flag.ContinueOnError)
	path := fs.String("config", "", "configuration file (YAML)")
	tenant := fs.String("tenant", "", "tenant id")
	format := fs.String("format", "csv", "export format: csv or json")
	note := fs.String("note", "", "redeem: what the credit was spent on (e.g. the hire)")
	ref := fs.String("ref", "", "void: the referral id (the agency's ref=)")
	reason := fs.String("reason", "", "void: why the referral is void (one line)")
	readyFile := readyFileFlag(fs)
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if *path == "" {
		fmt.Fprintln(os.Stderr, "ledger: -config FILE is required")
		return 2
	}
	cfg, err := configs.Load(*path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	c := adminClient{cfg: cfg, readyFile: *readyFile}
	q := url.Values{}
	switch sub {
	case "balance":
		if *tenant == "" {
			fmt.Fprintln(os.Stderr, "ledger balance: -tenant is required")
			return 2
		}
		q.Set("tenant", *tenant)
		return c.do(http.MethodGet, "/api/balance", q, nil)
	case "export":
		if *tenant != "" {
			q.Set("tenant", *tenant)
		}
		q.Set("format", *format)
		return c.do(http.MethodGet, "/api/ledger/export", q, nil)
	case "redeem":
		if *tenant == "" || *note == "" {
			fmt.Fprintln(os.Stderr, "ledger redeem: -tenant and -note are required")
			return 2
		}
		body, _ := json.Marshal(map[string]string{"tenant": *tenant, "note": *note})
		return c.do(http.MethodPost, "/api/redeem", nil, body)
	case "verify":
		return c.verify()
	case "void":
		if *ref == "" || *reason == "" {
			fmt.Fprintln(os.Stderr, "ledger void: -ref and -reason are required")
			return 2
		}
		body, _ := json.Marshal(map[string]string{"referral_id": *ref, "reason": *reason})
		return c.do(http.MethodPost, "/api/void", nil, body)
	}
	fmt.Fprintf(os.Stderr, "ledger: unknown command %q\n\n%s", sub, ledgerUsage)
	return 2
}

// readyFileFlag adds -ready-file to a command that talks to the admin API.
func readyFileFlag(fs *flag.FlagSet) *string {
	return fs.String("ready-file", "", "the file written by careerrelay serve -ready-file: take the admin API's address "+
		"from it instead of admin.listen (needed when admin.listen has port 0)")
}

type adminClient struct {
	cfg       *configs.Config
	readyFile string      // -ready-file, or "" for admin.listen
	header    http.Header // more request header fields (Idempotency-Key)
}

// do calls the admin API and copies its answer to stdout (exit 0) or its
// error to stderr (exit 1).
func (c adminClient) do(method, path string, q url.Values, body []byte) int {
	return c.call(method, path, q, body, os.Stdout)
}

// addr is where the admin API listens: the address in the ready file when
// one is given, else admin.listen.
func (c adminClient) addr() (string, error) {
	if c.readyFile == "" {
		_, port, err := net.SplitHostPort(c.cfg.Admin.Listen)
		if err == nil && port == "0" {
			return "", fmt.Errorf("admin.listen %q has port 0 (any free port): pass -ready-file FILE, the file careerrelay serve -ready-file writes", c.cfg.Admin.Listen)
		}
		return c.cfg.Admin.Listen, nil
	}
	data, err := os.ReadFile(c.readyFile)
	if err != nil {
		return "", fmt.Errorf("cannot read the ready file (is careerrelay serve running?): %w", err)
	}
	var r server.Ready
	if err := json.Unmarshal(data, &r); err != nil {
		return "", fmt.Errorf("ready file %s: %w", c.readyFile, err)
	}
	if r.Admin == "" {
		return "", fmt.Errorf("ready file %s: no admin address", c.readyFile)
	}
	return r.Admin, nil
}

// call is do with the answer written to out.
func (c adminClient) call(method, path string, q url.Values, body []byte, out io.Writer) int {
	addr, err := c.addr()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "admin address %q: %v\n", addr, err)
		return 1
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	u := url.URL{Scheme: "http", Host: net.JoinHostPort(host, port), Path: path, RawQuery: q.Encode()}
	req, err := http.NewRequest(method, u.String(), bytes.NewReader(body))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	for k, v := range c.header {
		req.Header[k] = v
	}
	req.Header.Set("Authorization", "Bearer "+c.cfg.Admin.Token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := (&http.Client{Timeout: time.Minute}).Do(req)
	if err != nil {
		fmt.Fprintf(os.Stderr, "cannot reach the admin API at %s (is careerrelay serve running?): %v\n", u.Host, err)
		return 1
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		fmt.Fprintf(os.Stderr, "%s: %s", resp.Status, msg)
		if len(msg) > 0 && msg[len(msg)-1] != '\n' {
			fmt.Fprintln(os.Stderr)
		}
		return 1
	}
	io.Copy(out, resp.Body)
	return 0
}

// verify asks the server to check the whole hash chain: exit 0 when it
// holds, 1 naming the first entry that does not.
func (c adminClient) verify() int {
	var out bytes.Buffer
	if code := c.call(http.MethodGet, "/api/ledger/verify", nil, nil, &out); code != 0 {
		return code
	}
	var res struct {
		OK      bool   `json:"ok"`
		Entries int    `json:"entries"`
		Head    string `json:"head"`
		Error   string `json:"error"`
	}
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		fmt.Fprintf(os.Stderr, "ledger verify: unexpected answer: %v\n", err)
		return 1
	}
	if !res.OK {
		fmt.Fprintf(os.Stderr, "ledger verify: FAILED after checking the chain: %s\n", res.Error)
		return 1
	}
	fmt.Printf("ledger OK: %d entries, head %s\n", res.Entries, res.Head)
	return 0
}
