package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/careerrelay/careerrelay/cmd/careerrelay/internal/demo"
)

// runDemo is `careerrelay demo`: the tour of package demo.
func runDemo(args []string) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	keep := fs.Bool("keep", false, "keep the temporary folder (config, secrets, store, captured mail) and print its path")
	verbose := fs.Bool("v", false, "print the relay's log on standard error")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: careerrelay demo [-keep] [-v]\n\n"+
			"A self-contained tour in a temporary folder: the relay runs on free loopback ports,\n"+
			"an ATS sends it 12 mails, ten candidates consent, the ledger shows one credit.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return 2
	}
	opts := demo.Options{Keep: *keep}
	if *verbose {
		opts.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := demo.Run(ctx, os.Stdout, opts); err != nil {
		fmt.Fprintln(os.Stderr, "careerrelay demo:", err)
		return 1
	}
	return 0
}
