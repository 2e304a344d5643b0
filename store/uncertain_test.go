package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
)

// metaSyncFaults returns an Options.Fault that fails the next n "meta-sync"
// operations once armed (n < 0: all of them), as the fdatasync after
// bbolt's meta page write would fail.
func metaSyncFaults(armed *atomic.Bool, n int) func(op string) error {
	var left atomic.Int64
	left.Store(int64(n))
	return func(op string) error {
		if op != "meta-sync" || !armed.Load() {
			return nil
		}
		if n >= 0 && left.Add(-1) < 0 {
			return nil
		}
		return errors.New("fdatasync: input/output error")
	}
}

// reopenGet closes db, reopens the file without faults and returns key's
// value and the queue length as the file holds them.
func reopenGet(t *testing.T, db *DB, path, key string) (string, int) {
	t.Helper()
	db.Close()
	db2, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	n := 0
	db2.View(func(tx *Tx) error { n = tx.QueueLen(); return nil })
	return get(t, db2, key), n
}

// The sync after the meta page fails once: the commit is settled by the
// fence, Update returns nil, and the writes are in the file.
func TestMetaSyncFailureSettledByFence(t *testing.T) {
	var armed atomic.Bool
	db, path := openTest(t, Options{Fault: metaSyncFaults(&armed, 1)})
	armed.Store(true)
	m := new(Message)
	err := db.Update(context.Background(), func(tx *Tx) error {
		if err := tx.Enqueue(m, []byte("body")); err != nil {
			return err
		}
		return put("k", "v")(tx)
	})
	if err != nil {
		t.Fatalf("Update after a settled meta sync failure: %v", err)
	}
	if s := db.Stats(); s.Failed != 1 || s.Commits != 1 || s.Updates != 1 {
		t.Errorf("stats %+v, want 1 failed (settled), 1 commit, 1 update", s)
	}
	// The store goes on.
	if err := db.Update(context.Background(), put("after", "ok")); err != nil {
		t.Fatal(err)
	}
	if v, n := reopenGet(t, db, path, "k"); v != "v" || n != 1 {
		t.Errorf("after reopen: k=%q, %d queued; want v, 1", v, n)
	}
}

// The sync fails for the commit and for every fence: the Update gets
// ErrCommitUncertain, and the store refuses every later Update and View,
// so nothing in this process acts on writes that may not be on disk. A
// spool file the uncertain commit named is kept for the next Open to judge.
func TestMetaSyncFailureUnsettled(t *testing.T) {
	var armed atomic.Bool
	db, path := openTest(t, Options{Fault: metaSyncFaults(&armed, -1)})
	f, err := db.CreateSpool()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Discard()
	f.Write([]byte("large body"))
	if err := f.Finish(); err != nil {
		t.Fatal(err)
	}
	armed.Store(true)
	m := new(Message)
	err = db.Update(context.Background(), func(tx *Tx) error {
		if err := tx.EnqueueSpooled(m, f); err != nil {
			return err
		}
		return put("k", "v")(tx)
	})
	if !errors.Is(err, ErrCommitUncertain) {
		t.Fatalf("Update: %v, want ErrCommitUncertain", err)
	}
	f.Discard() // what a caller does after an error
	if _, err := os.Stat(filepath.Join(filepath.Dir(path), spoolFolder, f.Name())); err != nil {
		t.Errorf("spool file of an uncertain commit removed: %v", err)
	}
	if s := db.Stats(); s.Failed != 1+fenceAttempts {
		t.Errorf("stats %+v, want %d failed (the commit and its fences)", s, 1+fenceAttempts)
	}
	ran := false
	if err := db.Update(context.Background(), func(*Tx) error { ran = true; return nil }); !errors.Is(err, ErrFailed) || ran {
		t.Errorf("Update after an uncertain commit: %v (fn ran: %v), want ErrFailed", err, ran)
	}
	if err := db.Err(); !errors.Is(err, ErrFailed) {
		t.Errorf("Err after an uncertain commit: %v, want ErrFailed", err)
	}
	if err := db.View(func(*Tx) error { ran = true; return nil }); !errors.Is(err, ErrFailed) || ran {
		t.Errorf("View after an uncertain commit: %v (fn ran: %v), want ErrFailed", err, ran)
	}
	// In this test the disk did sync (the fault only reports a failure),
	// so the file holds the writes; with a real failure it may or may
	// not. Either way Open is consistent: a queued message has its body.
	db.Close()
	db2, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	err = db2.View(func(tx *Tx) error {
		b, err := bodyOf(tx, m.ID)
		if err != nil {
			return err
		}
		if string(b) != "large body" {
			t.Errorf("body %q", b)
		}
		return nil
	})
	if err != nil {
		t.Errorf("queued message after reopen: %v", err)
	}
}

// The second of two fences succeeds: settled, nil.
func TestMetaSyncFailureSettledBySecondFence(t *testing.T) {
	var armed atomic.Bool
	db, path := openTest(t, Options{Fault: metaSyncFaults(&armed, 2)})
	armed.Store(true)
	if err := db.Update(context.Background(), put("k", "v")); err != nil {
		t.Fatalf("Update: %v", err)
	}
	if v, _ := reopenGet(t, db, path, "k"); v != "v" {
		t.Errorf("after reopen k=%q", v)
	}
}

// A fence writes the meta page and nothing else: no page is allocated, so
// no page that an older meta page names is overwritten while a commit is
// unsettled (what resolve relies on).
func TestFenceWritesOnlyTheMetaPage(t *testing.T) {
	db, _ := openTest(t, Options{})
	if err := db.Update(context.Background(), put("k", "v")); err != nil {
		t.Fatal(err)
	}
	before := db.bolt.Stats().TxStats
	txid, err := db.visibleTxid()
	if err != nil {
		t.Fatal(err)
	}
	if err := db.fence(); err != nil {
		t.Fatal(err)
	}
	after := db.bolt.Stats().TxStats
	if n := after.GetPageCount() - before.GetPageCount(); n != 0 {
		t.Errorf("fence allocated %d pages", n)
	}
	if n := after.GetWrite() - before.GetWrite(); n != 1 {
		t.Errorf("fence wrote %d times, want 1 (the meta page)", n)
	}
	if now, _ := db.visibleTxid(); now != txid+1 {
		t.Errorf("txid %d after the fence, want %d", now, txid+1)
	}
	if get(t, db, "k") != "v" {
		t.Error("fence lost k")
	}
}
