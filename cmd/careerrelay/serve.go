package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/careerrelay/careerrelay/configs"
	"github.com/careerrelay/careerrelay/internal/durable"
	"github.com/careerrelay/careerrelay/internal/server"
)

// readyFileHelp is the help of -ready-file; flag takes the word in
// backquotes for the argument's name.
const readyFileHelp = "once every listener is open and mail is accepted, write the addresses bound\n" +
	"to `PATH` as JSON: {\"smtp\", \"smtp_tls\", \"http\", \"http_tls\", \"metrics\", \"admin\"}, each\n" +
	"host:port (\"\" when not configured). With port 0 in smtp.listen, smtp.listen_tls,\n" +
	"http.listen, http.listen_tls, metrics.listen or admin.listen\n" +
	"this is how to learn the ports. Written atomically (temp file, then rename). A file\n" +
	"left at PATH is removed at start, and the file is removed again when serve stops, so it\n" +
	"exists only while the relay runs (after kill -9 it stays until the next start)"

func runServe(args []string) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	path := fs.String("config", "", "configuration file (YAML)")
	readyFile := fs.String("ready-file", "", readyFileHelp)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *path == "" {
		fmt.Fprintln(os.Stderr, "serve: -config FILE is required")
		return 2
	}
	cfg, err := configs.Load(*path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	log := newLogger(cfg.Log)
	// A file left by an earlier run that did not stop cleanly must not be
	// taken for this run's.
	if *readyFile != "" {
		if err := removeReadyFile(*readyFile); err != nil {
			log.Error("ready file", "err", err)
			return 1
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	var opts server.Options
	var readyErr error
	written := false
	if *readyFile != "" {
		opts.OnReady = func(r server.Ready) {
			if readyErr = writeReadyFile(*readyFile, r); readyErr != nil {
				// Whoever waits for the file would wait forever: stop.
				log.Error("ready file", "err", readyErr)
				stop()
				return
			}
			written = true
			log.Info("ready file written", "path", *readyFile)
		}
	}
	err = server.Run(ctx, cfg, log, opts)
	if written {
		if rerr := removeReadyFile(*readyFile); rerr != nil {
			log.Warn("ready file", "err", rerr)
		}
	}
	if err != nil {
		log.Error("careerrelay stopped", "err", err)
		return 1
	}
	if readyErr != nil {
		return 1
	}
	return 0
}

// writeReadyFile writes the bound addresses as JSON to path, atomically.
func writeReadyFile(path string, r server.Ready) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return durable.WriteFile(path, append(data, '\n'), 0o644)
}

// removeReadyFile removes path; a missing file is no error.
func removeReadyFile(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

func newLogger(c configs.Log) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.Level)); err != nil {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}
