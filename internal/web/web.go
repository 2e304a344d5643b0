// Package web serves careerrelay's HTTP side: on http.listen the candidates'
// link pages and the Prometheus /metrics endpoint, on admin.listen the admin
// API.
package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/careerrelay/careerrelay/configs"
	"github.com/careerrelay/careerrelay/internal/referral"
)

// Referrals is what the link pages need of the bookkeeping;
// *referral.Service has it.
type Referrals interface {
	Resolve(token string) (*referral.Link, error)
	RecordClick(ctx context.Context, l *referral.Link, class string) error
	// ReferFrom records a consent from the client's address (the
	// referral's signals look at it).
	ReferFrom(ctx context.Context, l *referral.Link, consentVersion string, client netip.Addr) (*referral.Referral, error)
	// Withdraw records the withdrawal of the candidate's consent (Resolve
	// gives their referral, in Link.Referral).
	Withdraw(ctx context.Context, l *referral.Link) (*referral.Referral, error)
}

// Ledger is what the admin API needs of the bookkeeping; *referral.Service
// has it.
type Ledger interface {
	Balance(tenant string) (*referral.Balance, error)
	Redeem(ctx context.Context, tenant, note string) (*referral.Entry, error)
	Ledger() ([]referral.Entry, error)
	Export(w io.Writer, tenant, format string) error
	Void(ctx context.Context, referralID, reason string) ([]referral.Entry, error)
}

// server is one HTTP listener with a graceful shutdown.
type server struct {
	name string // "http" or "admin", in logs and errors
	srv  *http.Server
	ln   net.Listener
	log  *slog.Logger
}

func newServer(name string, h http.Handler, log *slog.Logger) server {
	return server{
		name: name,
		log:  log,
		srv: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       30 * time.Second,
			WriteTimeout:      30 * time.Second,
			IdleTimeout:       2 * time.Minute,
			MaxHeaderBytes:    32 << 10,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		},
	}
}

// Listen opens addr and serves in the background.
func (s *server) Listen(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("%s listen %s: %w", s.name, addr, err)
	}
	s.ln = ln
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error(s.name+" listener stopped", "addr", addr, "err", err)
		}
	}()
	return nil
}

// Addr is the address listened on.
func (s *server) Addr() net.Addr { return s.ln.Addr() }

// Shutdown stops the listener gracefully.
func (s *server) Shutdown(ctx context.Context) error { return s.srv.Shutdown(ctx) }

// metricsHandler serves reg in the Prometheus text format.
func metricsHandler(reg *prometheus.Registry, log *slog.Logger) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	})
}

// MetricsServer is the listener on metrics.listen: /metrics alone.
type MetricsServer struct {
	server
}

// NewMetrics builds the metrics.listen listener over reg; any other path
// is 404.
func NewMetrics(reg *prometheus.Registry, log *slog.Logger) *MetricsServer {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metricsHandler(reg, log))
	return &MetricsServer{server: newServer("metrics", mux, log)}
}

// Public is the listener on http.listen: /metrics, /healthz, the
// candidates' link pages and the tenant API (/api/v1, tenantapi.go).
type Public struct {
	server
	// https is the listener of http.listen_tls (nil without it); the
	// plain server then only redirects to it.
	https *server
	pages *pages
	api   *tenantAPI // nil when the bookkeeping has no tenant API
	hr    *hrPages   // the HR page, nil likewise
}

// NewPublic builds the public handler: /metrics from reg, /healthz (503
// while health, when set, returns an error: the store's Err), and the
// candidates' pages over refs: /c/<token>, /t/<tenant-id>, their
// stylesheets, and a 404 page for every other path.
func NewPublic(cfg *configs.Config, refs Referrals, health func() error, reg *prometheus.Registry, log *slog.Logger) (*Public, error) {
	mux := http.NewServeMux()
	if cfg.Metrics.Listen == "" {
		mux.Handle("GET /metrics", metricsHandler(reg, log))
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if health != nil {
			if err := health(); err != nil {
				// A load balancer or supervisor takes this node out (or
				// restarts it): it would fail every request until then.
				// The answer names the store (local: restart careerrelay;
				// shared: it reconnects by itself once PostgreSQL answers).
				w.WriteHeader(http.StatusServiceUnavailable)
				fmt.Fprintln(w, "unhealthy:", err)
				return
			}
		}
		fmt.Fprintln(w, "ok")
	})
	pg, err := newPages(cfg, refs, log)
	if err != nil {
		return nil, err
	}
	var api *tenantAPI
	var hr *hrPages
	if svc, ok := refs.(TenantService); ok {
		api = registerTenantAPI(mux, cfg, svc, log)
		if hr, err = registerHR(mux, cfg, svc, pg.rd, log); err != nil {
			return nil, err
		}
	}
	pg.register(mux)
	p := &Public{server: newServer("http", mux, log), pages: pg, api: api, hr: hr}
	if cfg.HTTP.ListenTLS != "" {
		setup, err := newTLSSetup(cfg, log)
		if err != nil {
			return nil, err
		}
		p.server = newServer("http", setup.redirectHandler(), log)
		https := newServer("https", hsts(mux), log)
		https.srv.TLSConfig = setup.config
		p.https = &https
	}
	return p, nil
}

// ListenTLS opens http.listen_tls at addr and serves HTTPS there in the
// background; without http.listen_tls in the config it is an error.
func (p *Public) ListenTLS(addr string) error {
	if p.https == nil {
		return errors.New("https: http.listen_tls is not configured")
	}
	return p.https.listenTLS(addr, p.https.srv.TLSConfig)
}

// TLSAddr is the address of the HTTPS listener, nil when none is open.
func (p *Public) TLSAddr() net.Addr {
	if p.https == nil || p.https.ln == nil {
		return nil
	}
	return p.https.Addr()
}

// Shutdown stops the plain and the HTTPS listener gracefully.
func (p *Public) Shutdown(ctx context.Context) error {
	err := p.server.Shutdown(ctx)
	if p.https != nil {
		err = errors.Join(err, p.https.Shutdown(ctx))
	}
	return err
}
