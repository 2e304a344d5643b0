package inbound

import (
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/careerrelay/careerrelay/internal/pipeline"
	"github.com/careerrelay/careerrelay/store"
	gosmtp "github.com/emersion/go-smtp"
)

// TestStoreWriteFailureAnswers451 drives the real pipeline and store with a
// commit failure injected: the client gets 451 4.3.0, never 250 or a 5xx,
// nothing is queued, and once the disk is back the same message is accepted.
func TestStoreWriteFailureAnswers451(t *testing.T) {
	var failing atomic.Bool
	failing.Store(true)
	db, err := store.Open(filepath.Join(t.TempDir(), "q.db"), store.Options{
		Fault: func(op string) error {
			if failing.Load() {
				return errors.New("injected: no space left on device")
			}
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := testConfig("127.0.0.0/8")
	pipe, err := pipeline.New(cfg, db, log, pipeline.Options{})
	if err != nil {
		t.Fatal(err)
	}
	addr := startServer(t, cfg, pipe)

	err = send(t, addr, "hr@acme.example", []string{"c@cand.example"}, plainMail)
	var se *gosmtp.SMTPError
	if !errors.As(err, &se) || se.Code != 451 || se.EnhancedCode != (gosmtp.EnhancedCode{4, 3, 0}) {
		t.Fatalf("with a failing store: %v, want 451 4.3.0", err)
	}
	queued := func() (n int) {
		db.View(func(tx *store.Tx) error { n = tx.QueueLen(); return nil })
		return n
	}
	if n := queued(); n != 0 {
		t.Fatalf("%d messages queued after a failed commit", n)
	}

	failing.Store(false)
	if err := send(t, addr, "hr@acme.example", []string{"c@cand.example"}, plainMail); err != nil {
		t.Fatalf("after the store recovered: %v", err)
	}
	if n := queued(); n != 1 {
		t.Fatalf("%d messages queued, want 1", n)
	}
}
