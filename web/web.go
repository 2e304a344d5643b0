// Package web serves careerrelay's HTTP side: on http.listen the candidates'
// link pages and the Prometheus /metrics endpoint, on admin.listen the admin
// API.
package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Public is the listener on http.listen.
type Public struct {
	srv *http.Server
	ln  net.Listener
	log *slog.Logger
}

// NewPublic builds the public handler: /metrics from reg and /healthz.
func NewPublic(reg *prometheus.Registry, log *slog.Logger) *Public {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	return &Public{
		log: log,
		srv: &http.Server{
			Handler:           mux,
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
func (p *Public) Listen(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("http listen %s: %w", addr, err)
	}
	p.ln = ln
	go func() {
		if err := p.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			p.log.Error("http listener stopped", "addr", addr, "err", err)
		}
	}()
	return nil
}

// Addr is the address listened on.
func (p *Public) Addr() net.Addr { return p.ln.Addr() }

// Shutdown stops the listener gracefully.
func (p *Public) Shutdown(ctx context.Context) error { return p.srv.Shutdown(ctx) }
