package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	berrors "go.etcd.io/bbolt/errors"
)

var testBucket = []byte("test")

// openTest opens a store in a fresh temporary folder and closes it at the
// end of the test (a second Close by the test itself is harmless).
func openTest(t testing.TB, opts Options) (*DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "careerrelay.db")
	db, err := Open(path, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db, path
}

// put is an Update fn that stores key=value in the test bucket.
func put(key, value string) func(tx *Tx) error {
	return func(tx *Tx) error {
		b, err := tx.Bolt().CreateBucketIfNotExists(testBucket)
		if err != nil {
			return err
		}
		return b.Put([]byte(key), []byte(value))
	}
}

// get reads key from the test bucket ("" when absent).
func get(t *testing.T, db *DB, key string) string {
	t.Helper()
	var v string
	err := db.View(func(tx *Tx) error {
		if b := tx.Bolt().Bucket(testBucket); b != nil {
			v = string(b.Get([]byte(key)))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("View: %v", err)
	}
	return v
}

// queuedLens returns a channel that receives the queue length each time an
// Update is queued from now on (so call it after hold, whose Update would
// count otherwise).
func queuedLens(db *DB) <-chan int {
	ch := make(chan int, 1024)
	db.mu.Lock()
	db.testQueued = func(n int) { ch <- n }
	db.mu.Unlock()
	return ch
}

// waitQueued returns once n Updates wait for the committer.
func waitQueued(t *testing.T, lens <-chan int, n int) {
	t.Helper()
	for l := range lens {
		if l >= n {
			return
		}
	}
}

// hold keeps the committer busy inside an Update until release is called,
// so that the Updates started meanwhile queue up and form the next batch.
// release returns the held Update's result.
func hold(t *testing.T, db *DB) (release func() error) {
	t.Helper()
	started := make(chan struct{})
	rel := make(chan struct{})
	errc := make(chan error, 1)
	var once sync.Once
	go func() {
		errc <- db.Update(context.Background(), func(tx *Tx) error {
			once.Do(func() { close(started) })
			<-rel
			return nil
		})
	}()
	<-started
	return func() error {
		close(rel)
		return <-errc
	}
}

// startUpdate runs db.Update in a goroutine; the channel gets its result.
func startUpdate(ctx context.Context, db *DB, fn func(tx *Tx) error) <-chan error {
	errc := make(chan error, 1)
	go func() { errc <- db.Update(ctx, fn) }()
	return errc
}

func TestOpenCreatesPrivateFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "sub")
	path := filepath.Join(dir, "careerrelay.db")
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for p, want := range map[string]os.FileMode{dir: 0o700, path: 0o600} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got&^want != 0 {
			t.Errorf("%s: mode %v, want at most %v", p, got, want)
		}
	}
}

func TestOpenLocked(t *testing.T) {
	db, path := openTest(t, Options{})
	_ = db
	_, err := Open(path, Options{LockTimeout: 50 * time.Millisecond})
	if err == nil {
		t.Fatal("second Open of a locked store succeeded")
	}
	for _, want := range []string{path, "store locked by another process?"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestUpdateView(t *testing.T) {
	db, _ := openTest(t, Options{})
	if err := db.Update(context.Background(), put("k", "v")); err != nil {
		t.Fatal(err)
	}
	if got := get(t, db, "k"); got != "v" {
		t.Errorf("got %q, want v", got)
	}
	err := db.View(func(tx *Tx) error { return tx.Enqueue(&Message{}, nil) })
	if !errors.Is(err, berrors.ErrTxNotWritable) {
		t.Errorf("Enqueue in View: %v, want ErrTxNotWritable", err)
	}
	if s := db.Stats(); s.Updates != 1 || s.Commits != 1 {
		t.Errorf("stats %+v, want 1 update in 1 commit", s)
	}
}

func TestSurvivesReopen(t *testing.T) {
	db, path := openTest(t, Options{})
	if err := db.Update(context.Background(), put("k", "v")); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if got := get(t, db, "k"); got != "v" {
		t.Errorf("after reopen got %q, want v", got)
	}
}

func TestConcurrentUpdates(t *testing.T) {
	const workers, each = 50, 40
	db, path := openTest(t, Options{})
	var (
		mu  sync.Mutex
		ids = map[string]string{} // id -> body
		wg  sync.WaitGroup
	)
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				body := fmt.Sprintf("body %d/%d", w, i)
				m := &Message{From: "hr@acme.example", Rcpts: []Rcpt{{Addr: fmt.Sprintf("c%d-%d@example.net", w, i)}}}
				err := db.Update(context.Background(), func(tx *Tx) error { return tx.Enqueue(m, []byte(body)) })
				if err != nil {
					errs <- err
					continue
				}
				mu.Lock()
				if _, dup := ids[m.ID]; dup {
					errs <- fmt.Errorf("duplicate id %s", m.ID)
				}
				ids[m.ID] = body
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	s := db.Stats()
	t.Logf("%d updates in %d commits", s.Updates, s.Commits)
	if s.Updates != workers*each || s.Commits > s.Updates {
		t.Errorf("stats %+v", s)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.View(func(tx *Tx) error {
		if n := tx.QueueLen(); n != workers*each {
			t.Errorf("QueueLen %d, want %d", n, workers*each)
		}
		for id, want := range ids {
			body, err := bodyOf(tx, id)
			if err != nil {
				return fmt.Errorf("%s: %w", id, err)
			}
			if string(body) != want {
				t.Errorf("%s: body %q, want %q", id, body, want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestFailingFnIsIsolated(t *testing.T) {
	db, _ := openTest(t, Options{})
	release := hold(t, db)
	lens := queuedLens(db)

	errBad := errors.New("bad fn")
	var runsA, runsB, runsC atomic.Int32
	a := startUpdate(context.Background(), db, func(tx *Tx) error { runsA.Add(1); return put("a", "1")(tx) })
	waitQueued(t, lens, 1)
	b := startUpdate(context.Background(), db, func(tx *Tx) error {
		runsB.Add(1)
		if err := put("b", "2")(tx); err != nil {
			return err
		}
		return errBad
	})
	waitQueued(t, lens, 2)
	c := startUpdate(context.Background(), db, func(tx *Tx) error { runsC.Add(1); return put("c", "3")(tx) })
	waitQueued(t, lens, 3)
	if err := release(); err != nil {
		t.Fatal(err)
	}

	if err := <-a; err != nil {
		t.Errorf("a: %v", err)
	}
	if err := <-b; err != errBad {
		t.Errorf("b: %v, want %v", err, errBad)
	}
	if err := <-c; err != nil {
		t.Errorf("c: %v", err)
	}
	for k, want := range map[string]string{"a": "1", "b": "", "c": "3"} {
		if got := get(t, db, k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	// a ran, was rolled back with b's failure and re-ran; b ran once; c
	// ran only in the committed transaction.
	if runsA.Load() != 2 || runsB.Load() != 1 || runsC.Load() != 1 {
		t.Errorf("runs a=%d b=%d c=%d, want 2 1 1", runsA.Load(), runsB.Load(), runsC.Load())
	}
	if s := db.Stats(); s.Commits != 2 || s.Updates != 3 {
		t.Errorf("stats %+v, want 3 updates (hold, a, c) in 2 commits", s)
	}
}

func TestCommitFaultFailsBatch(t *testing.T) {
	errDisk := errors.New("disk on fire")
	var fail atomic.Bool
	var ops []string
	db, _ := openTest(t, Options{Fault: func(op string) error {
		ops = append(ops, op) // only the committer calls Fault
		if fail.Load() && op == "commit" {
			return errDisk
		}
		return nil
	}})
	release := hold(t, db)
	lens := queuedLens(db)

	var results []<-chan error
	for i := range 3 {
		key := fmt.Sprintf("k%d", i)
		results = append(results, startUpdate(context.Background(), db, func(tx *Tx) error {
			var m Message
			if err := tx.Enqueue(&m, []byte(key)); err != nil {
				return err
			}
			return put(key, "v")(tx)
		}))
		waitQueued(t, lens, i+1)
	}
	// The held transaction commits before the queued ones start.
	fail.Store(true)
	if err := release(); !errors.Is(err, errDisk) {
		// release's commit happens after fail is set: it fails too.
		t.Errorf("held Update: %v, want %v", err, errDisk)
	}
	for i, errc := range results {
		if err := <-errc; !errors.Is(err, errDisk) || errors.Is(err, ErrCommitUncertain) {
			t.Errorf("update %d: %v, want wrapping %v, a definite failure", i, err, errDisk)
		}
	}
	err := db.View(func(tx *Tx) error {
		if n := tx.QueueLen(); n != 0 {
			t.Errorf("QueueLen %d after failed commits", n)
		}
		return tx.Queued(func(m *Message) error { return fmt.Errorf("queued after failed commit: %s", m.ID) })
	})
	if err != nil {
		t.Error(err)
	}
	for i := range 3 {
		if got := get(t, db, fmt.Sprintf("k%d", i)); got != "" {
			t.Errorf("k%d stored after failed commit", i)
		}
	}
	if s := db.Stats(); s.Commits != 0 || s.Failed != 2 {
		t.Errorf("stats %+v, want 0 commits and 2 failed", s)
	}

	// The store recovers once the disk does.
	fail.Store(false)
	if err := db.Update(context.Background(), put("after", "ok")); err != nil {
		t.Fatal(err)
	}
	if got := get(t, db, "after"); got != "ok" {
		t.Errorf("after = %q", got)
	}
	for _, op := range ops {
		if op != "commit" && op != "meta-sync" {
			t.Errorf("Fault called with %q", op)
		}
	}
}

func TestClosed(t *testing.T) {
	db, _ := openTest(t, Options{})
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	ran := false
	if err := db.Update(context.Background(), func(*Tx) error { ran = true; return nil }); !errors.Is(err, ErrClosed) {
		t.Errorf("Update after Close: %v, want ErrClosed", err)
	}
	if ran {
		t.Error("fn ran after Close")
	}
	if err := db.View(func(*Tx) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Errorf("View after Close: %v, want ErrClosed", err)
	}
	if err := db.Close(); !errors.Is(err, ErrClosed) {
		t.Errorf("second Close: %v, want ErrClosed", err)
	}
}

func TestCloseDrainsQueue(t *testing.T) {
	db, path := openTest(t, Options{})
	release := hold(t, db)
	lens := queuedLens(db)
	var results []<-chan error
	for i := range 3 {
		results = append(results, startUpdate(context.Background(), db, put(fmt.Sprintf("k%d", i), "v")))
		waitQueued(t, lens, i+1)
	}
	closed := make(chan error, 1)
	go func() { closed <- db.Close() }()
	if err := release(); err != nil {
		t.Fatal(err)
	}
	for i, errc := range results {
		if err := <-errc; err != nil {
			t.Errorf("update %d: %v", i, err)
		}
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for i := range 3 {
		if got := get(t, db, fmt.Sprintf("k%d", i)); got != "v" {
			t.Errorf("k%d = %q after Close and reopen", i, got)
		}
	}
}

func TestCancelledBeforeScheduling(t *testing.T) {
	db, _ := openTest(t, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ran := false
	if err := db.Update(ctx, func(*Tx) error { ran = true; return nil }); err != context.Canceled {
		t.Errorf("Update with cancelled ctx: %v, want context.Canceled", err)
	}
	if ran {
		t.Error("fn ran although ctx was cancelled")
	}
}

func TestCancelledWhileQueued(t *testing.T) {
	db, _ := openTest(t, Options{})
	release := hold(t, db)
	lens := queuedLens(db)

	ctx, cancel := context.WithCancel(context.Background())
	var ran atomic.Bool
	errc := startUpdate(ctx, db, func(tx *Tx) error { ran.Store(true); return put("k", "v")(tx) })
	waitQueued(t, lens, 1)
	cancel()
	if err := <-errc; err != context.Canceled {
		t.Errorf("Update cancelled while queued: %v, want context.Canceled", err)
	}
	if err := release(); err != nil {
		t.Fatal(err)
	}
	// The committer handles requests in order: once this one is done, the
	// cancelled one has been skipped.
	if err := db.Update(context.Background(), put("later", "v")); err != nil {
		t.Fatal(err)
	}
	if ran.Load() || get(t, db, "k") != "" {
		t.Error("cancelled Update was run")
	}
}

func TestCancelledAfterStartReportsResult(t *testing.T) {
	db, _ := openTest(t, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	err := db.Update(ctx, func(tx *Tx) error {
		cancel() // the transaction has started: the commit decides
		return put("k", "v")(tx)
	})
	if err != nil {
		t.Errorf("Update: %v, want nil (committed)", err)
	}
	if got := get(t, db, "k"); got != "v" {
		t.Errorf("k = %q, want v", got)
	}
}

func TestPanicReachesCaller(t *testing.T) {
	db, _ := openTest(t, Options{})
	func() {
		defer func() {
			if v := recover(); v != "boom" {
				t.Errorf("recovered %v, want boom", v)
			}
		}()
		db.Update(context.Background(), func(tx *Tx) error {
			if err := put("k", "v")(tx); err != nil {
				return err
			}
			panic("boom")
		})
		t.Error("Update returned after a panic in fn")
	}()
	if err := db.Update(context.Background(), put("after", "ok")); err != nil {
		t.Fatal(err)
	}
	if get(t, db, "k") != "" || get(t, db, "after") != "ok" {
		t.Error("panicking fn's writes stored, or store unusable after it")
	}
}
