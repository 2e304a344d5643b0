package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/careerrelay/careerrelay/configs"
	"github.com/careerrelay/careerrelay/internal/web"
)

// runQueue shows what waits in the running server's queue, oldest first,
// through the admin API (bbolt allows one process per file).
func runQueue(args []string) int {
	fs := flag.NewFlagSet("queue", flag.ContinueOnError)
	path := fs.String("config", "", "configuration file (YAML)")
	format := fs.String("format", "text", "output: text (a table and a summary) or json")
	limit := fs.Int("limit", 1000, "list at most this many messages (the summary counts all)")
	readyFile := readyFileFlag(fs)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: careerrelay queue -config FILE [-format text|json] [-limit N] [-ready-file FILE]\n\n"+
			"Lists the running server's queue, oldest first: id, age, tenant, pending recipients\n"+
			"(their domains only), attempts, next attempt and last error, then a summary.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *path == "" || fs.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "queue: -config FILE is required, and nothing else")
		return 2
	}
	if *format != "text" && *format != "json" {
		fmt.Fprintf(os.Stderr, "queue: -format %q is not text or json\n", *format)
		return 2
	}
	if *limit < 0 {
		fmt.Fprintln(os.Stderr, "queue: -limit must be 0 or more")
		return 2
	}
	cfg, err := configs.Load(*path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var out bytes.Buffer
	q := url.Values{"limit": {strconv.Itoa(*limit)}}
	if code := (adminClient{cfg: cfg, readyFile: *readyFile}).call(http.MethodGet, "/api/queue", q, nil, &out); code != 0 {
		return code
	}
	if *format == "json" {
		os.Stdout.Write(out.Bytes())
		return 0
	}
	var rep web.QueueReply
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		fmt.Fprintf(os.Stderr, "queue: unexpected answer: %v\n", err)
		return 1
	}
	printQueue(os.Stdout, &rep)
	return 0
}

// printQueue writes the table and the summary line.
func printQueue(w io.Writer, rep *web.QueueReply) {
	if rep.Count == 0 {
		fmt.Fprintln(w, "queue empty")
		return
	}
	if len(rep.Messages) > 0 {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tAGE\tTENANT\tRCPTS\tDOMAINS\tATTEMPTS\tNEXT ATTEMPT\tLAST ERROR")
		for _, m := range rep.Messages {
			tenant := m.Tenant
			switch {
			case m.DSN:
				tenant = "(bounce)"
			case tenant == "":
				tenant = "-"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%d\t%s\t%s\n", m.ID, age(time.Duration(m.AgeSeconds)*time.Second),
				tenant, m.Recipients, strings.Join(m.Domains, ","), m.Attempts,
				nextAttempt(m.NextAttempt, rep.Now), oneLine(m.LastError, 80))
		}
		tw.Flush()
	}
	fmt.Fprintf(w, "%d queued, %d recipients pending, oldest %s", rep.Count, rep.Recipients,
		age(time.Duration(rep.OldestAgeSeconds)*time.Second))
	if n := len(rep.Messages); n < rep.Count {
		fmt.Fprintf(w, " (%d listed, -limit)", n)
	}
	fmt.Fprintln(w)
}

// age is a duration rounded for people: 45s, 12m, 3h05m, 2d04h.
func age(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d/time.Hour), int(d%time.Hour/time.Minute))
	}
	return fmt.Sprintf("%dd%02dh", int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour))
}

// nextAttempt is "now" when due, else "in 4m (10:42:00)" in local time.
func nextAttempt(at, now time.Time) string {
	if !at.After(now) {
		return "now"
	}
	return "in " + age(at.Sub(now)) + " (" + at.Local().Format("01-02 15:04:05") + ")"
}

// oneLine keeps a reply on one table row: line breaks become spaces and
// the text is cut at n characters.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		s = string(r[:n-1]) + "…"
	}
	if s == "" {
		return "-"
	}
	return s
}
