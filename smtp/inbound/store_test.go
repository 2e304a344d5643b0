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

// sendReply sends one message and returns the reply to its DATA: the 250's
// text, or the error.
func sendReply(t *testing.T, addr string) (string, error) {
	t.Helper()
	c, err := gosmtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Mail("hr@acme.example", nil); err != nil {
		return "", err
	}
	if err := c.Rcpt("c@cand.example", nil); err != nil {
		return "", err
	}
	w, err := c.Data()
	if err != nil {
		return "", err
	}
	io.WriteString(w, plainMail)
	resp, err := w.CloseWithResponse()
	if err != nil {
		return "", err
	}
	return resp.StatusText, nil
}

// TestMetaSyncFailureReplyMatchesStore drives the real pipeline and store
// with the fdatasync after bbolt's meta page write failing (the fault
// "meta-sync"), then reopens the file: the reply is what the file holds.
func TestMetaSyncFailureReplyMatchesStore(t *testing.T) {
	setup := func(t *testing.T, failures int) (addr, path string, db *store.DB) {
		var left atomic.Int64
		left.Store(int64(failures))
		path = filepath.Join(t.TempDir(), "q.db")
		db, err := store.Open(path, store.Options{Fault: func(op string) error {
			if op == "meta-sync" && (failures < 0 || left.Add(-1) >= 0) {
				return errors.New("injected: fdatasync: input/output error")
			}
			return nil
		}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		cfg := testConfig("127.0.0.0/8")
		pipe, err := pipeline.New(cfg, db, slog.New(slog.NewTextHandler(io.Discard, nil)), pipeline.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return startServer(t, cfg, pipe), path, db
	}
	// reopen returns the queue ids the file holds.
	reopen := func(t *testing.T, db *store.DB, path string) (ids []string) {
		t.Helper()
		db.Close()
		db2, err := store.Open(path, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer db2.Close()
		db2.View(func(tx *store.Tx) error {
			return tx.Queued(func(m *store.Message) error { ids = append(ids, m.ID); return nil })
		})
		return ids
	}

	// Once: the store settles the commit with a synced fence, so the
	// message is durable and the client gets 250 with its queue id.
	t.Run("settled", func(t *testing.T) {
		addr, path, db := setup(t, 1)
		text, err := sendReply(t, addr)
		if err != nil {
			t.Fatalf("reply: %v, want 250", err)
		}
		ids := reopen(t, db, path)
		if len(ids) != 1 || text != "2.0.0 queued as "+ids[0] {
			t.Errorf("reply %q, file holds %v", text, ids)
		}
	})

	// Always: nobody can tell whether the message is on disk. The client
	// gets 451 (a 250 could be a lie that loses the mail), and the store
	// stops: the next message gets 451 too, and nothing in this process
	// reads the uncertain copy, so it is never delivered from here. After a
	// restart, the file decides: in this test the disk did sync, so the copy
	// is there and is delivered next to the sender's retry, a duplicate;
	// with a real disk it may be missing, and the retry is the only copy.
	t.Run("unsettled", func(t *testing.T) {
		addr, path, db := setup(t, -1)
		for i := range 2 {
			_, err := sendReply(t, addr)
			var se *gosmtp.SMTPError
			if !errors.As(err, &se) || se.Code != 451 || se.EnhancedCode != (gosmtp.EnhancedCode{4, 3, 0}) {
				t.Fatalf("message %d: %v, want 451 4.3.0", i, err)
			}
		}
		if err := db.View(func(*store.Tx) error { return nil }); !errors.Is(err, store.ErrFailed) {
			t.Errorf("View after the uncertain commit: %v, want ErrFailed", err)
		}
		if ids := reopen(t, db, path); len(ids) > 1 {
			t.Errorf("file holds %v: the second message was queued by a failed store", ids)
		}
	})
}
