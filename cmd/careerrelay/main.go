// Command careerrelay is the Career Relay SMTP relay: it rewrites rejection
// mails to carry a personal career-support link, signs and delivers them,
// and serves the link. This file only parses the command line; the work is
// in the packages.
package main

import (
	"fmt"
	"os"
)

const usage = `careerrelay: the Career Relay SMTP relay

Usage:
  careerrelay serve -config FILE [-ready-file PATH]
                                          run the relay; once it accepts mail, write the addresses bound to PATH (JSON)
  careerrelay check-config -config FILE   check a configuration, print "config OK" or every problem
  careerrelay ledger balance|export|redeem|verify|void -config FILE ...
                                          referrals and credits, through the running server's admin API
  careerrelay report -config FILE -tenant T [-from D] [-to D] [-format html|csv|json] [-out FILE]
                                          the tenant's impact report (clicks, referrals, credits), through the admin API
  careerrelay dkim-keygen -domain D -selector S [-algo rsa|ed25519] [-bits 2048] -out FILE   make a DKIM key, print its DNS record
  careerrelay dkim-check -config FILE     check that DNS publishes every tenant's DKIM keys
  careerrelay api-key -tenant T -id ID    make a key of the tenant's API, print it once and its config line
  careerrelay hash-password [-cost 10] < PASSWORD
                                          print the bcrypt hash of a password (smtp.users, tenants[].hr_users)
  careerrelay links -config FILE -tenant T -csv IN.csv [-out OUT.csv]
                                          add a personal link column (career_link) to a CSV of candidates, for mail merge
  careerrelay queue -config FILE [-format text|json]   what waits in the running server's queue, oldest first
  careerrelay audit -config FILE [-format text|json]   the audit trail of admin actions (no candidate data)
  careerrelay store migrate -config FILE -from-bbolt PATH
                                          copy a node's shared records into PostgreSQL (store.shared), verify the ledger
  careerrelay privacy purge|export|erase -config FILE [-tenant T ADDRESS]
                                          retention now; a candidate's records as JSON; their erasure
  careerrelay demo [-keep] [-v]           a self-contained tour in a temporary folder: mails in, links out, ten consents, one credit

Run "careerrelay COMMAND -h" for the flags of a command.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	cmd, args := os.Args[1], os.Args[2:]
	var code int
	switch cmd {
	case "serve":
		code = runServe(args)
	case "check-config":
		code = runCheckConfig(args)
	case "ledger":
		code = runLedger(args)
	case "report":
		code = runReport(args)
	case "dkim-keygen":
		code = runDKIMKeygen(args)
	case "dkim-check":
		code = runDKIMCheck(args)
	case "queue":
		code = runQueue(args)
	case "audit":
		code = runAudit(args)
	case "privacy":
		code = runPrivacy(args)
	case "store":
		code = runStore(args)
	case "api-key":
		code = runAPIKey(args)
	case "hash-password":
		code = runHashPassword(args)
	case "links":
		code = runLinks(args)
	case "demo":
		code = runDemo(args)
	case "help", "-h", "-help", "--help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "careerrelay: unknown command %q\n\n%s", cmd, usage)
		code = 2
	}
	os.Exit(code)
}
