package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/careerrelay/careerrelay/configs"
	"github.com/careerrelay/careerrelay/internal/metrics"
	"github.com/careerrelay/careerrelay/store"
	"github.com/careerrelay/careerrelay/store/postgres"
)

// sharedStore is where the node keeps the shared records: external (the
// PostgreSQL store of store.shared) or nil for the node's own bbolt file,
// and the health check of both.
type sharedStore struct {
	external store.Shared // nil: the shared records are in db
	health   func() error // /healthz: names the store that fails
}

// storeCheckInterval is how often careerrelay_store_up is refreshed.
const storeCheckInterval = 10 * time.Second

// openShared opens store.shared when configured (connecting and migrating
// its schema: a database that does not answer at start keeps the node
// from starting; later it reconnects by itself) and starts the checks
// behind careerrelay_store_up. The returned func stops them and closes.
func openShared(ctx context.Context, cfg *configs.Config, db *store.DB, log *slog.Logger) (*sharedStore, func(), error) {
	s := &sharedStore{}
	local := func() error {
		if err := db.Err(); err != nil {
			return fmt.Errorf("local store (data_dir): %w", err)
		}
		return nil
	}
	var pg *postgres.Store
	ping := func() error { return nil }
	if cfg.Store.Shared.Driver != "" {
		octx, cancel := context.WithTimeout(ctx, 30*time.Second)
		var err error
		pg, err = postgres.Open(octx, cfg.Store.Shared.DSN, postgres.Options{})
		cancel()
		if err != nil {
			return nil, nil, fmt.Errorf("store.shared: %w", err)
		}
		s.external = pg
		ping = func() error {
			pctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			if err := pg.Ping(pctx); err != nil {
				return fmt.Errorf("shared store (PostgreSQL): %w", err)
			}
			return nil
		}
		log.Info("shared records in PostgreSQL (store.shared)")
	}
	s.health = func() error { return errors.Join(local(), ping()) }
	up := func(err error) float64 {
		if err != nil {
			return 0
		}
		return 1
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(storeCheckInterval)
		defer t.Stop()
		for {
			metrics.StoreUp.WithLabelValues("local").Set(up(local()))
			if pg != nil {
				err := ping()
				if err != nil {
					log.Warn("the shared store does not answer", "err", err)
				}
				metrics.StoreUp.WithLabelValues("shared").Set(up(err))
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	return s, func() {
		close(stop)
		<-done
		if pg != nil {
			pg.Close()
		}
	}, nil
}
