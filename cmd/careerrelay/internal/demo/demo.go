// Package demo is `careerrelay demo`: a self-contained tour of the relay in
// a temporary folder. It writes a config with generated secrets and an
// Ed25519 DKIM key, runs the relay in-process (server.Run, capture
// delivery, loopback ports), sends a dozen sample rejection mails over
// SMTP as an ATS would, shows one rewritten, signed copy and its personal
// link, lets ten candidates consent over HTTP as a browser would, and
// prints the resulting ledger (one credit for ten referrals) and the
// metrics. Then it stops the relay and removes the folder.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"time"

	"github.com/careerrelay/careerrelay/configs"
	"github.com/careerrelay/careerrelay/internal/server"
)

// Options tune Run.
type Options struct {
	// Keep leaves the temporary folder (config, secrets, store, captured
	// mail) in place and prints its path.
	Keep bool
	// Dir is where the temporary folder is made; "" is os.TempDir().
	Dir string
	// Log receives the relay's log; nil discards it.
	Log *slog.Logger
	// Timeout bounds the whole tour (default 45s).
	Timeout time.Duration
}

// Run runs the tour, writing it to w. It returns an error when a step does
// not turn out as the tour says (a mail refused, a consent not recorded,
// the credit missing), after stopping the relay.
func Run(ctx context.Context, w io.Writer, opts Options) (err error) {
	began := time.Now()
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = 45 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}

	dir, err := os.MkdirTemp(opts.Dir, "careerrelay-demo-")
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	defer func() {
		if opts.Keep {
			fmt.Fprintf(w, "\nフォルダを残しました / folder kept: %s\n", dir)
			fmt.Fprintf(w, "  serve it again: careerrelay serve -config %s (SMTP and admin take new free ports; the log names them)\n", filepath.Join(dir, "careerrelay.yaml"))
			return
		}
		if rerr := os.RemoveAll(dir); rerr != nil && err == nil {
			err = fmt.Errorf("demo: removing %s: %w", dir, rerr)
		}
	}()

	t := &tour{w: w, dir: dir}
	t.section(1, "準備", "Setup")
	if t.files, err = writeFiles(dir); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	agency := newAgency(t.files.hookSecret)
	defer agency.Close()
	t.agency = agency

	stop, err := t.startRelay(ctx, log)
	if err != nil {
		return err
	}
	stopped := false
	defer func() {
		if !stopped {
			stop()
		}
	}()
	t.printSetup()

	steps := []func(context.Context) error{t.send, t.delivered, t.showRewritten, t.consent, t.ledger, t.metrics}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("demo: %w (%v)", err, context.Cause(ctx))
			}
			return fmt.Errorf("demo: %w", err)
		}
	}

	t.section(8, "片付け", "Cleanup")
	stop()
	stopped = true
	fmt.Fprintln(w, "relay stopped (SMTP, HTTP and admin closed; queue and store flushed)")
	if !opts.Keep {
		fmt.Fprintln(w, "temporary folder removed (careerrelay demo -keep keeps it)")
	}
	fmt.Fprintf(w, "\ndemo OK in %.1fs\n", time.Since(began).Seconds())
	return nil
}

// startRelay writes the config and runs the relay in the background until
// the returned stop is called. The link base URL must name the HTTP port,
// so that one is chosen first; should another program take it meanwhile,
// another is tried.
func (t *tour) startRelay(ctx context.Context, log *slog.Logger) (stop func(), err error) {
	for try := 1; ; try++ {
		httpAddr, err := freeAddr()
		if err != nil {
			return nil, fmt.Errorf("demo: %w", err)
		}
		cfg, err := t.files.config(httpAddr, t.agency.URL+hookPath)
		if err != nil {
			return nil, fmt.Errorf("demo: the generated config: %w", err)
		}
		stop, err := t.run(ctx, cfg, log)
		if isListenError(err, httpAddr) && try < 3 {
			continue
		}
		return stop, err
	}
}

func (t *tour) run(ctx context.Context, cfg *configs.Config, log *slog.Logger) (func(), error) {
	relayCtx, stopRelay := context.WithCancel(context.WithoutCancel(ctx))
	ready := make(chan server.Ready, 1)
	done := make(chan error, 1)
	go func() {
		done <- server.Run(relayCtx, cfg, log, server.Options{
			OnReady:       func(r server.Ready) { ready <- r },
			Console:       io.Discard,
			ShutdownGrace: 5 * time.Second,
		})
	}()
	select {
	case t.ready = <-ready:
	case err := <-done:
		stopRelay()
		if err == nil {
			err = errors.New("the relay stopped at once")
		}
		return nil, fmt.Errorf("demo: starting the relay: %w", err)
	case <-ctx.Done():
		stopRelay()
		<-done
		return nil, fmt.Errorf("demo: starting the relay: %w", ctx.Err())
	}
	t.cfg = cfg
	t.base = cfg.Links.BaseURL
	return func() {
		stopRelay()
		if err := <-done; err != nil {
			fmt.Fprintf(t.w, "relay: %v\n", err)
		}
	}, nil
}

// agency stands in for the partner agency's webhook endpoint: it checks
// each referral's signature and counts them.
type agency struct {
	*httptest.Server
	hooks chan hook
}

type hook struct {
	referralID string
	signed     bool
}

func newAgency(secret []byte) *agency {
	a := &agency{hooks: make(chan hook, 100)}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.receive(w, r, secret)
	}))
	return a
}
