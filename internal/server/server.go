// Package server assembles careerrelay from its parts and runs it: the
// store, the metrics registry, the delivery engine, the pipeline, the
// inbound SMTP listeners, the referral service with its agency webhooks,
// the public web (link pages, /metrics) and the admin API. It stops them in
// the order that loses nothing.
package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/careerrelay/careerrelay/configs"
	"github.com/careerrelay/careerrelay/internal/address"
	"github.com/careerrelay/careerrelay/internal/metrics"
	"github.com/careerrelay/careerrelay/internal/pipeline"
	"github.com/careerrelay/careerrelay/internal/referral"
	"github.com/careerrelay/careerrelay/internal/web"
	"github.com/careerrelay/careerrelay/smtp/dkim"
	"github.com/careerrelay/careerrelay/smtp/inbound"
	"github.com/careerrelay/careerrelay/smtp/ingress"
	"github.com/careerrelay/careerrelay/smtp/queue"
	"github.com/careerrelay/careerrelay/store"
)

// DefaultShutdownGrace bounds how long a stop waits for SMTP sessions,
// HTTP requests and delivery attempts in flight.
const DefaultShutdownGrace = 20 * time.Second

// Ready tells where a started relay listens: the addresses actually bound,
// so a config with port 0 (any free port) can be reached. Its JSON form is
// what `careerrelay serve -ready-file` writes.
type Ready struct {
	SMTP    string `json:"smtp"`     // smtp.listen, host:port
	SMTPTLS string `json:"smtp_tls"` // smtp.listen_tls, "" when not configured
	HTTP    string `json:"http"`     // http.listen: link pages (and /metrics without metrics.listen); with http.listen_tls, redirects
	HTTPTLS string `json:"http_tls"` // http.listen_tls: link pages over HTTPS, "" when not configured
	Metrics string `json:"metrics"`  // metrics.listen, "" when not configured
	Admin   string `json:"admin"`    // admin.listen: the admin API
}

// Options tune Run. The zero value is what `careerrelay serve` uses.
type Options struct {
	// OnReady, when set, is called once every listener is open and the
	// relay accepts mail, before Run waits for ctx.
	OnReady func(Ready)
	// Console receives the operator notes printed at start-up besides the
	// log (where capture mode writes its mail); nil is standard error.
	Console io.Writer
	// ShutdownGrace replaces DefaultShutdownGrace when positive.
	ShutdownGrace time.Duration
}

// Run runs every part of the relay until ctx is cancelled, then stops them
// in the order that loses nothing: stop accepting mail, stop HTTP, let
// delivery finish its attempts, close the store. It returns nil after a
// stop asked for by ctx, or the error that kept the relay from starting.
// Run may be called again in the same process once it has returned.
func Run(ctx context.Context, cfg *configs.Config, log *slog.Logger, opts Options) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	grace := opts.ShutdownGrace
	if grace <= 0 {
		grace = DefaultShutdownGrace
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data_dir: %w", err)
	}
	// Logs name addresses by a hash under the privacy key, the same across
	// restarts and nodes.
	hashKey, err := referral.HashKey(cfg, cfg.DataDir)
	if err != nil {
		return err
	}
	address.SetLogKey(hashKey)
	db, err := store.Open(filepath.Join(cfg.DataDir, "careerrelay.db"), store.Options{Logger: log})
	if err != nil {
		return err
	}
	defer db.Close()

	reg := metrics.NewRegistry(cfg.TenantIDs())
	shared, closeShared, err := openShared(ctx, cfg, db, log)
	if err != nil {
		return err
	}
	defer closeShared()
	engine, err := queue.New(cfg, db, log, queue.Options{Shared: shared.external})
	if err != nil {
		return err
	}
	// Each copy's first delivery attempt is committed with the copy: one
	// store commit less per message (engine.Prestart). The pipeline makes
	// each copy when the engine delivers it.
	pipe, err := pipeline.New(cfg, db, log, pipeline.Options{Delivery: engine, Shared: shared.external})
	if err != nil {
		return err
	}
	// The pipeline made the tenants' DKIM signers: the RSA code is chosen.
	metrics.SetDKIMSigner(dkim.Crypto().Impl)
	engine.SetRenderer(pipe)
	engineCtx, stopEngine := context.WithCancel(context.Background())
	engineDone := make(chan error, 1)
	go func() { engineDone <- engine.Run(engineCtx) }()
	defer func() {
		stopEngine()
		if err := <-engineDone; err != nil && !errors.Is(err, context.Canceled) {
			log.Error("delivery stopped", "err", err)
		}
	}()

	checker := ingress.New(cfg, ingress.Options{LookupTXT: cfg.DNS.Resolver().LookupTXT})
	in, err := inbound.New(cfg, pipe, log, inbound.Options{TempFile: db.TempFile, Ingress: checker})
	if err != nil {
		return err
	}
	if err := in.Listen(); err != nil {
		return err
	}
	refs, err := referral.New(cfg, db, log, referral.Options{Shared: shared.external})
	if err != nil {
		in.Close()
		return err
	}
	if cfg.Links.ConfirmationMail {
		refs.SetConfirmation(confirmationMail(cfg, in, log))
	}
	if err := refs.RecordKeyChanges(context.Background()); err != nil {
		in.Close()
		return fmt.Errorf("audit of key changes: %w", err)
	}
	hooksDone := make(chan struct{})
	go func() {
		defer close(hooksDone)
		if err := refs.RunWebhooks(engineCtx); err != nil && !errors.Is(err, context.Canceled) {
			log.Error("agency webhooks stopped", "err", err)
		}
	}()
	// Retention (privacy.retention) at start and hourly.
	retentionDone := make(chan struct{})
	go func() {
		defer close(retentionDone)
		refs.RunRetention(engineCtx)
	}()
	// Deferred calls run last first: the webhooks and retention stop, then
	// delivery, then the store closes.
	defer func() {
		stopEngine()
		<-hooksDone
		<-retentionDone
	}()
	pub, err := web.NewPublic(cfg, refs, shared.health, reg, log)
	if err != nil {
		in.Close()
		return err
	}
	pub.SetSubmitter(in) // the tenant API's messages take the SMTP path
	if err := pub.Listen(cfg.HTTP.Listen); err != nil {
		in.Close()
		return err
	}
	if cfg.HTTP.ListenTLS != "" {
		if err := pub.ListenTLS(cfg.HTTP.ListenTLS); err != nil {
			in.Close()
			pub.Shutdown(context.Background())
			return err
		}
	}
	var met *web.MetricsServer
	if cfg.Metrics.Listen != "" {
		met = web.NewMetrics(reg, log)
		if err := met.Listen(cfg.Metrics.Listen); err != nil {
			in.Close()
			pub.Shutdown(context.Background())
			return err
		}
		defer met.Shutdown(context.Background())
	}
	adm := web.NewAdmin(cfg, refs, db, log)
	if err := adm.Listen(cfg.Admin.Listen); err != nil {
		in.Close()
		pub.Shutdown(context.Background())
		return err
	}
	ready := readyOf(in, pub, adm, cfg.SMTP.ListenTLS != "")
	if met != nil {
		ready.Metrics = addrString(met.Addr())
	}
	logStartup(cfg, log, opts.Console, in, pub, adm)
	if opts.OnReady != nil {
		opts.OnReady(ready)
	}

	<-ctx.Done()
	log.Info("shutting down", "grace", grace)
	sctx, cancel := context.WithTimeout(context.Background(), grace)
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

// readyOf collects the bound addresses: the plain SMTP listener comes
// first, the implicit-TLS one (when configured) second.
func readyOf(in *inbound.Server, pub *web.Public, adm *web.Admin, implicitTLS bool) Ready {
	r := Ready{HTTP: addrString(pub.Addr()), HTTPTLS: addrString(pub.TLSAddr()), Admin: addrString(adm.Addr())}
	addrs := in.Addrs()
	if len(addrs) > 0 {
		r.SMTP = addrString(addrs[0])
	}
	if implicitTLS && len(addrs) > 1 {
		r.SMTPTLS = addrString(addrs[1])
	}
	return r
}

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}

// tenantRoute describes the way a tenant's mail leaves, for the log: its
// own relay (tenants[].delivery), or the global delivery. DSNs always take
// the global one.
func tenantRoute(cfg *configs.Config, t *configs.Tenant) []any {
	if t.Delivery.Mode != "relay" {
		return []any{"route", "global " + cfg.Delivery.Mode}
	}
	return append([]any{"route", "own relay"}, relayAttrs(cfg, &t.Delivery.Relay)...)
}

// relayAttrs describe an upstream relay for the log: address, TLS mode,
// the client certificate's subject, whether it authenticates, and the
// EHLO name (never the password or the user name).
func relayAttrs(cfg *configs.Config, r *configs.Relay) []any {
	attrs := []any{"upstream", r.Address, "tls", r.TLS}
	if c := r.ClientCert; c != nil && c.Leaf != nil {
		attrs = append(attrs, "client_cert", c.Leaf.Subject.String())
	} else if r.ClientCertFile != "" {
		attrs = append(attrs, "client_cert", r.ClientCertFile)
	}
	hello := r.HelloName
	if hello == "" {
		hello = cfg.DeliveryDefaults().HelloName
	}
	return append(attrs, "auth", r.Username != "", "hello_name", hello)
}

// logStartup tells the operator what runs where.
func logStartup(cfg *configs.Config, log *slog.Logger, console io.Writer, in *inbound.Server, pub *web.Public, adm *web.Admin) {
	for _, a := range in.Addrs() {
		log.Info("smtp listening", "addr", a.String(), "starttls", cfg.SMTP.TLS.CertFile != "")
	}
	if a := pub.TLSAddr(); a != nil {
		log.Info("http listening", "addr", pub.Addr().String(), "redirects_to", "https")
		log.Info("https listening", "addr", a.String(), "links", cfg.Links.BaseURL, "hosts", cfg.LinkHosts(),
			"certificates", len(cfg.HTTP.TLS.Certificates), "acme", cfg.HTTP.TLS.ACME.Enabled())
	} else {
		log.Info("http listening", "addr", pub.Addr().String(), "links", cfg.Links.BaseURL, "metrics", "http://"+pub.Addr().String()+"/metrics")
	}
	log.Info("admin API listening", "addr", adm.Addr().String())
	logDKIMSigner(log, dkim.Crypto(), dkim.KeyFallbacks())
	for i := range cfg.Tenants {
		t := &cfg.Tenants[i]
		attrs := []any{"id", t.ID, "domains", t.Domains, "tag", t.Tag, "dkim_keys", len(t.DKIM)}
		log.Info("tenant", append(attrs, tenantRoute(cfg, t)...)...)
	}
	switch cfg.Delivery.Mode {
	case "capture":
		log.Info("delivery", "mode", "capture", "capture_dir", cfg.Delivery.CaptureDir)
		if console == nil {
			console = os.Stderr
		}
		fmt.Fprintf(console, "\ncareerrelay: delivered mail is written to %s\n\n", cfg.Delivery.CaptureDir)
	case "relay":
		attrs := []any{"mode", "relay", "workers", cfg.Delivery.Workers}
		log.Info("delivery", append(attrs, relayAttrs(cfg, &cfg.Delivery.Relay)...)...)
	default:
		log.Info("delivery", "mode", cfg.Delivery.Mode, "workers", cfg.Delivery.Workers)
	}
	log.Info("careerrelay ready", "data_dir", cfg.DataDir)
}

// logDKIMSigner says which code makes RSA DKIM signatures: OpenSSL (with
// its version) or Go's crypto (with the reason), and warns of each RSA key
// that OpenSSL refused, which Go's crypto signs.
func logDKIMSigner(log *slog.Logger, info dkim.CryptoInfo, fallbacks []error) {
	if info.Impl == dkim.ImplOpenSSL {
		log.Info("dkim signer", "impl", info.Impl, "openssl", info.Version)
	} else {
		log.Info("dkim signer", "impl", info.Impl, "reason", info.Reason)
	}
	for _, err := range fallbacks {
		log.Warn("dkim key signed by Go's crypto", "impl", dkim.ImplGo, "err", err)
	}
}

// confirmationMail queues the candidate's confirmation mail after consent
// (links.confirmation_mail) the way the tenant API's messages go: through
// the relay's own queue, DKIM-signed for the tenant. It is best effort: a
// failure is logged, the referral stands.
func confirmationMail(cfg *configs.Config, in *inbound.Server, log *slog.Logger) func(context.Context, *referral.Referral, *referral.Link) {
	return func(ctx context.Context, r *referral.Referral, l *referral.Link) {
		to, t := l.Send.Rcpt, l.Tenant
		if to == "" || t == nil || web.ConfirmationSender(t) == "" {
			return
		}
		body, err := web.ConfirmationMail(cfg, t, r, to, time.Now())
		if err == nil {
			_, err = in.Submit(ctx, t, "confirmation", netip.Addr{}, web.ConfirmationSender(t), []string{to}, bytes.NewReader(body))
		}
		if err != nil {
			log.Warn("confirmation mail not queued", "tenant", t.ID, "referral", r.ID, "err", err)
			return
		}
		log.Info("confirmation mail queued", "tenant", t.ID, "referral", r.ID)
	}
}
