package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/careerrelay/careerrelay/configs"
	"github.com/careerrelay/careerrelay/metrics"
	"github.com/careerrelay/careerrelay/pipeline"
	"github.com/careerrelay/careerrelay/referral"
	"github.com/careerrelay/careerrelay/smtp/delivery"
	"github.com/careerrelay/careerrelay/smtp/inbound"
	"github.com/careerrelay/careerrelay/store"
	"github.com/careerrelay/careerrelay/web"
)

// shutdownGrace bounds how long SIGTERM waits for SMTP sessions and
// delivery attempts in flight.
const shutdownGrace = 20 * time.Second

func runServe(args []string) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	path := fs.String("config", "", "configuration file (YAML)")
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
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, cfg, log); err != nil {
		log.Error("careerrelay stopped", "err", err)
		return 1
	}
	return 0
}

// serve runs every part of the relay until ctx is cancelled, then stops them
// in the order that loses nothing: stop accepting mail, stop HTTP, let
// delivery finish its attempts, close the store.
func serve(ctx context.Context, cfg *configs.Config, log *slog.Logger) error {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data_dir: %w", err)
	}
	db, err := store.Open(filepath.Join(cfg.DataDir, "careerrelay.db"), store.Options{Logger: log})
	if err != nil {
		return err
	}
	defer db.Close()

	reg := metrics.NewRegistry(cfg.TenantIDs())
	engine, err := delivery.New(cfg, db, log, delivery.Options{})
	if err != nil {
		return err
	}
	engineCtx, stopEngine := context.WithCancel(context.Background())
	engineDone := make(chan error, 1)
	go func() { engineDone <- engine.Run(engineCtx) }()
	defer func() {
		stopEngine()
		if err := <-engineDone; err != nil && !errors.Is(err, context.Canceled) {
			log.Error("delivery stopped", "err", err)
		}
	}()

	pipe, err := pipeline.New(cfg, db, engine.Notify, log)
	if err != nil {
		return err
	}
	in, err := inbound.New(cfg, pipe, log)
	if err != nil {
		return err
	}
	if err := in.Listen(); err != nil {
		return err
	}
	refs, err := referral.New(cfg, db, log, referral.Options{})
	if err != nil {
		in.Close()
		return err
	}
	go func() {
		if err := refs.RunWebhooks(engineCtx); err != nil && !errors.Is(err, context.Canceled) {
			log.Error("agency webhooks stopped", "err", err)
		}
	}()
	pub := web.NewPublic(reg, log)
	if err := pub.ServeLinks(cfg, refs); err != nil {
		in.Close()
		return err
	}
	if err := pub.Listen(cfg.HTTP.Listen); err != nil {
		in.Close()
		return err
	}
	adm := web.NewAdmin(cfg, refs, log)
	if err := adm.Listen(cfg.Admin.Listen); err != nil {
		in.Close()
		pub.Shutdown(context.Background())
		return err
	}
	logStartup(cfg, log, in, pub, adm)

	<-ctx.Done()
	log.Info("shutting down", "grace", shutdownGrace)
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := in.Shutdown(sctx); err != nil {
		log.Warn("smtp shutdown", "err", err)
	}
	if err := pub.Shutdown(sctx); err != nil {
		log.Warn("http shutdown", "err", err)
	}
	if err := adm.Shutdown(sctx); err != nil {
		log.Warn("admin shutdown", "err", err)
	}
	return nil
}

// logStartup tells the operator what runs where.
func logStartup(cfg *configs.Config, log *slog.Logger, in *inbound.Server, pub *web.Public, adm *web.Admin) {
	for _, a := range in.Addrs() {
		log.Info("smtp listening", "addr", a.String(), "starttls", cfg.SMTP.TLS.CertFile != "")
	}
	log.Info("http listening", "addr", pub.Addr().String(), "links", cfg.Links.BaseURL, "metrics", "http://"+pub.Addr().String()+"/metrics")
	log.Info("admin API listening", "addr", adm.Addr().String())
	for _, t := range cfg.Tenants {
		log.Info("tenant", "id", t.ID, "domains", t.Domains, "tag", t.Tag, "dkim_keys", len(t.DKIM))
	}
	switch cfg.Delivery.Mode {
	case "capture":
		log.Info("delivery", "mode", "capture", "capture_dir", cfg.Delivery.CaptureDir)
		fmt.Fprintf(os.Stderr, "\ncareerrelay: delivered mail is written to %s\n\n", cfg.Delivery.CaptureDir)
	case "relay":
		log.Info("delivery", "mode", "relay", "upstream", cfg.Delivery.Relay.Address, "tls", cfg.Delivery.Relay.TLS, "workers", cfg.Delivery.Workers)
	default:
		log.Info("delivery", "mode", cfg.Delivery.Mode, "workers", cfg.Delivery.Workers)
	}
	log.Info("careerrelay ready", "data_dir", cfg.DataDir)
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
