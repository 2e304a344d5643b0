// Command crload is the load generator and counting sink of the end-to-end
// benchmark (bench/e2e.sh). It speaks plain SMTP only, so the same load can
// measure careerrelay or any other server (Postfix + OpenDKIM):
//
//	crload send -addr HOST:PORT -conns N -messages M   drive a server, print accepted msg/s and DATA-to-250 latency
//	crload sink -listen HOST:PORT [-expect M]          accept and count everything, print delivered msg/s
//	crload freeport [-n N]                             print N free TCP ports on 127.0.0.1
//	crload waitport -addr HOST:PORT [-timeout 30s]     wait until something listens there
//	crload metric -url URL -name NAME                  print one unlabelled sample of a /metrics page
package main

import (
	"fmt"
	"os"
)

const usage = `crload: SMTP load generator and counting sink (end-to-end benchmark)

Usage:
  crload send -addr HOST:PORT -conns N -messages M [-from hr@acme.example] [-rcpt-domain cand.example]
              [-size 10240] [-tag '[[career-relay]]'] [-json]
  crload sink -listen HOST:PORT [-expect M] [-json-every 1s] [-json]
  crload freeport [-n 1]
  crload waitport -addr HOST:PORT [-timeout 30s]
  crload metric -url http://HOST:PORT/metrics -name NAME

Run "crload COMMAND -h" for the flags of a command.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	cmd, args := os.Args[1], os.Args[2:]
	var code int
	switch cmd {
	case "send":
		code = runSend(args)
	case "sink":
		code = runSink(args)
	case "freeport":
		code = runFreePort(args)
	case "waitport":
		code = runWaitPort(args)
	case "metric":
		code = runMetric(args)
	case "help", "-h", "-help", "--help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "crload: unknown command %q\n\n%s", cmd, usage)
		code = 2
	}
	os.Exit(code)
}
