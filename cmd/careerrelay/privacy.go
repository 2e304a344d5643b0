package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/careerrelay/careerrelay/configs"
)

const privacyUsage = `Usage:
  careerrelay privacy purge  -config FILE
  careerrelay privacy export -config FILE -tenant T ADDRESS
  careerrelay privacy erase  -config FILE -tenant T ADDRESS

purge   erases now what is older than privacy.retention (the server also
        does it at start and hourly)
export  prints every record held about ADDRESS for tenant T, as JSON
        (a disclosure request); other spellings of the same mailbox count
erase   erases ADDRESS's personal data for tenant T everywhere in the store
        now, free pages included; a keyed hash stays, so the candidate
        still counts once, and the ledger stays verifiable

Each is an audit record (careerrelay audit). The commands talk to the
running server's admin API (admin.listen, admin.token_file); the address
travels in the request body, never in a URL. See docs/privacy.md.
`

// runPrivacy handles a candidate's rights over their data and retention,
// through the admin API.
func runPrivacy(args []string) int {
	sub := ""
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		sub, args = args[0], args[1:]
	}
	fs := flag.NewFlagSet("privacy "+sub, flag.ContinueOnError)
	fs.Usage = func() { io.WriteString(os.Stderr, privacyUsage+"\nFlags:\n"); fs.PrintDefaults() }
	path := fs.String("config", "", "configuration file (YAML)")
	tenant := fs.String("tenant", "", "export, erase: the tenant id")
	readyFile := readyFileFlag(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *path == "" {
		fmt.Fprint(os.Stderr, "privacy: -config FILE is required\n\n"+privacyUsage)
		return 2
	}
	var body []byte
	switch sub {
	case "purge":
		if fs.NArg() > 0 {
			fmt.Fprint(os.Stderr, "privacy purge takes no address\n\n"+privacyUsage)
			return 2
		}
	case "export", "erase":
		if *tenant == "" || fs.NArg() != 1 {
			fmt.Fprintf(os.Stderr, "privacy %s: -tenant T and one ADDRESS are required\n\n%s", sub, privacyUsage)
			return 2
		}
		body, _ = json.Marshal(map[string]string{"tenant": *tenant, "address": fs.Arg(0)})
	default:
		fmt.Fprintf(os.Stderr, "privacy: unknown subcommand %q\n\n%s", sub, privacyUsage)
		return 2
	}
	cfg, err := configs.Load(*path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	c := adminClient{cfg: cfg, readyFile: *readyFile}
	return c.do(http.MethodPost, "/api/privacy/"+sub, nil, body)
}
