package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// bigBody is a message of about n octets: a header section, then lines.
func bigBody(n int) []byte {
	var b bytes.Buffer
	b.WriteString("From: HR <hr@acme.example>\r\nTo: taro@example.net\r\nSubject: large\r\n\r\n")
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "line %07d: the quick brown fox jumps over the lazy dog\r\n", i)
	}
	return b.Bytes()
}

// spool writes body to a finished spool file of db, in uneven pieces.
func spool(t *testing.T, db *DB, body []byte) *SpoolFile {
	t.Helper()
	f, err := db.CreateSpool()
	if err != nil {
		t.Fatal(err)
	}
	for rest := body; len(rest) > 0; {
		n := min(len(rest), 7777)
		if _, err := f.Write(rest[:n]); err != nil {
			t.Fatal(err)
		}
		rest = rest[n:]
	}
	if f.Size() != int64(len(body)) {
		t.Errorf("Size %d after writing %d", f.Size(), len(body))
	}
	if err := f.Finish(); err != nil {
		t.Fatal(err)
	}
	return f
}

func enqueueSpooled(t *testing.T, db *DB, m *Message, f *SpoolFile) {
	t.Helper()
	if err := db.Update(context.Background(), func(tx *Tx) error { return tx.EnqueueSpooled(m, f) }); err != nil {
		t.Fatalf("EnqueueSpooled: %v", err)
	}
}

func exists(t *testing.T, path string) bool {
	t.Helper()
	_, err := os.Lstat(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return err == nil
}

// dirNames lists a folder.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

var spoolNamePattern = regexp.MustCompile(`^[0-9a-f]{32}\.eml$`)

func TestOpenCreatesSpoolAndTmp(t *testing.T) {
	_, path := openTest(t, Options{})
	for _, d := range []string{"spool", "tmp"} {
		fi, err := os.Stat(filepath.Join(filepath.Dir(path), d))
		if err != nil {
			t.Fatal(err)
		}
		if !fi.IsDir() || fi.Mode().Perm() != 0o700 {
			t.Errorf("%s: %v, want a folder with mode 0700", d, fi.Mode())
		}
	}
}

func TestSpoolRoundTrip(t *testing.T) {
	db, path := openTest(t, Options{})
	spoolDir := filepath.Join(filepath.Dir(path), "spool")
	body := bigBody(3 << 20)
	f := spool(t, db, body)
	if !spoolNamePattern.MatchString(f.Name()) {
		t.Errorf("spool file name %q does not match %v", f.Name(), spoolNamePattern)
	}
	fi, err := os.Stat(filepath.Join(spoolDir, f.Name()))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 || fi.Size() != int64(len(body)) {
		t.Errorf("spool file: mode %v size %d, want 0600 and %d", fi.Mode().Perm(), fi.Size(), len(body))
	}

	m := &Message{From: "hr@acme.example", Rcpts: []Rcpt{{Addr: "taro@example.net"}}, Size: 1, Spool: "junk"}
	enqueueSpooled(t, db, m, f)
	if !idPattern.MatchString(m.ID) || m.Size != int64(len(body)) || m.Spool != f.Name() {
		t.Errorf("after EnqueueSpooled: id %q size %d spool %q", m.ID, m.Size, m.Spool)
	}
	f.Discard() // committed: the file is the queue's now
	if !exists(t, filepath.Join(spoolDir, f.Name())) {
		t.Fatal("Discard after the enqueue committed removed the file")
	}

	check := func(db *DB) {
		t.Helper()
		var b Body
		err := db.View(func(tx *Tx) error {
			got, err := tx.Get(m.ID)
			if err != nil {
				return err
			}
			if got.Spool != f.Name() || got.Size != int64(len(body)) {
				t.Errorf("Get: spool %q size %d", got.Spool, got.Size)
			}
			if v := getBody(tx.Bolt().Bucket(bucketBodies), []byte(m.ID)); v != nil {
				t.Errorf("a spooled body has a bbolt value of %d octets", len(v))
			}
			if n := tx.QueueLen(); n != 1 {
				t.Errorf("QueueLen %d, want 1", n)
			}
			b, err = tx.Body(m.ID)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if !b.Spooled() || b.Size() != int64(len(body)) {
			t.Fatalf("Body: spooled %v size %d", b.Spooled(), b.Size())
		}
		for range 2 { // each Open starts at the first octet
			r, err := b.Open()
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(r)
			r.Close()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, body) {
				t.Fatalf("Open read %d octets, not the %d written", len(got), len(body))
			}
		}
		h, err := b.Header(64 << 10)
		if err != nil {
			t.Fatal(err)
		}
		if want := "From: HR <hr@acme.example>\r\nTo: taro@example.net\r\nSubject: large\r\n\r\n"; string(h) != want {
			t.Errorf("Header = %q, want %q", h, want)
		}
		if h, _ := b.Header(10); string(h) != "From: HR <" {
			t.Errorf("Header(10) = %q", h)
		}
		if all, err := b.Bytes(); err != nil || !bytes.Equal(all, body) {
			t.Errorf("Bytes: %d octets, %v", len(all), err)
		}
	}
	check(db)

	// Put keeps the body; it may not move it.
	err = db.Update(context.Background(), func(tx *Tx) error {
		cur, err := tx.Get(m.ID)
		if err != nil {
			return err
		}
		cur.Attempts++
		if err := tx.Put(cur); err != nil {
			return err
		}
		cur.Spool = ""
		if err := tx.Put(cur); err == nil {
			t.Error("Put that drops the spool file succeeded")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	check(db)

	if err := db.Update(context.Background(), func(tx *Tx) error { return tx.Delete(m.ID) }); err != nil {
		t.Fatal(err)
	}
	if names := dirNames(t, spoolDir); len(names) != 0 {
		t.Errorf("spool folder after Delete: %v", names)
	}
}

func TestEnqueueSpooledRefusesUnfinished(t *testing.T) {
	db, _ := openTest(t, Options{})
	other, _ := openTest(t, Options{})
	unfinished, err := db.CreateSpool()
	if err != nil {
		t.Fatal(err)
	}
	defer unfinished.Discard()
	unfinished.Write([]byte("Subject: x\r\n\r\n"))
	discarded := spool(t, db, []byte("Subject: x\r\n\r\n"))
	discarded.Discard()
	foreign := spool(t, other, []byte("Subject: x\r\n\r\n"))
	defer foreign.Discard()

	for name, f := range map[string]*SpoolFile{"unfinished": unfinished, "discarded": discarded, "of another store": foreign, "nil": nil} {
		err := db.Update(context.Background(), func(tx *Tx) error { return tx.EnqueueSpooled(&Message{}, f) })
		if err == nil {
			t.Errorf("EnqueueSpooled of a %s file succeeded", name)
		}
	}
	if _, err := discarded.Write([]byte("x")); err == nil {
		t.Error("Write after Discard succeeded")
	}
	if err := discarded.Finish(); err == nil {
		t.Error("Finish after Discard succeeded")
	}
	err = db.View(func(tx *Tx) error {
		if n := tx.QueueLen(); n != 0 {
			t.Errorf("QueueLen %d", n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestSpoolDiscard(t *testing.T) {
	db, path := openTest(t, Options{})
	spoolDir := filepath.Join(filepath.Dir(path), "spool")
	open, err := db.CreateSpool()
	if err != nil {
		t.Fatal(err)
	}
	open.Write([]byte("partial"))
	finished := spool(t, db, []byte("Subject: x\r\n\r\nbody\r\n"))
	if n := len(dirNames(t, spoolDir)); n != 2 {
		t.Fatalf("%d spool files, want 2", n)
	}
	for range 2 { // idempotent
		open.Discard()
		finished.Discard()
	}
	if names := dirNames(t, spoolDir); len(names) != 0 {
		t.Errorf("spool folder after Discard: %v", names)
	}
}

// A failed Finish (the disk) leaves a file the caller discards, and no 250.
func TestSpoolFinishFault(t *testing.T) {
	errDisk := errors.New("disk on fire")
	db, _ := openTest(t, Options{Fault: func(op string) error {
		if op == "spool" {
			return errDisk
		}
		return nil
	}})
	f, err := db.CreateSpool()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Discard()
	f.Write([]byte("Subject: x\r\n\r\n"))
	if err := f.Finish(); !errors.Is(err, errDisk) {
		t.Fatalf("Finish: %v, want %v", err, errDisk)
	}
	if err := db.Update(context.Background(), func(tx *Tx) error { return tx.EnqueueSpooled(&Message{}, f) }); err == nil {
		t.Error("EnqueueSpooled of a file whose Finish failed succeeded")
	}
}

// The file of a deleted message goes only once the delete is committed: a
// failed commit, a failing fn, or a rolled-back first run of a fn (another
// fn of its group failed) all keep it.
func TestSpoolDeleteOnlyAfterCommit(t *testing.T) {
	var fail atomic.Bool
	errDisk := errors.New("disk on fire")
	db, path := openTest(t, Options{Fault: func(op string) error {
		if op == "commit" && fail.Load() {
			return errDisk
		}
		return nil
	}})
	spoolDir := filepath.Join(filepath.Dir(path), "spool")
	m := &Message{From: "hr@acme.example", Rcpts: []Rcpt{{Addr: "taro@example.net"}}}
	f := spool(t, db, bigBody(200<<10))
	enqueueSpooled(t, db, m, f)
	file := filepath.Join(spoolDir, f.Name())
	queued := func() bool {
		t.Helper()
		var ok bool
		err := db.View(func(tx *Tx) error {
			_, err := tx.Get(m.ID)
			ok = err == nil
			if errors.Is(err, ErrNotFound) {
				err = nil
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	del := func(tx *Tx) error { return tx.Delete(m.ID) }

	// The commit fails.
	fail.Store(true)
	if err := db.Update(context.Background(), del); !errors.Is(err, errDisk) {
		t.Fatalf("Delete with a failing commit: %v, want %v", err, errDisk)
	}
	fail.Store(false)
	if !exists(t, file) || !queued() {
		t.Fatalf("after a failed commit: file exists %v, queued %v; want both", exists(t, file), queued())
	}

	// The fn fails after deleting.
	errFn := errors.New("fn failed")
	if err := db.Update(context.Background(), func(tx *Tx) error {
		if err := del(tx); err != nil {
			return err
		}
		return errFn
	}); err != errFn {
		t.Fatalf("failing fn: %v", err)
	}
	if !exists(t, file) || !queued() {
		t.Fatal("a failing fn's delete removed the file or the message")
	}

	// The delete's first run is rolled back with another fn's failure; the
	// re-run commits and only then removes the file.
	release := hold(t, db)
	lens := queuedLens(db)
	var runs atomic.Int32
	var existedAtRerun atomic.Bool
	a := startUpdate(context.Background(), db, func(tx *Tx) error {
		if runs.Add(1) == 2 {
			_, err := os.Lstat(file)
			existedAtRerun.Store(err == nil)
		}
		return del(tx)
	})
	waitQueued(t, lens, 1)
	b := startUpdate(context.Background(), db, func(tx *Tx) error { return errFn })
	waitQueued(t, lens, 2)
	if err := release(); err != nil {
		t.Fatal(err)
	}
	if err := <-b; err != errFn {
		t.Errorf("b: %v", err)
	}
	if err := <-a; err != nil {
		t.Fatalf("a: %v", err)
	}
	if runs.Load() != 2 || !existedAtRerun.Load() {
		t.Errorf("delete ran %d times; file there at the re-run: %v; want 2 runs and the file kept by the rollback", runs.Load(), existedAtRerun.Load())
	}
	if exists(t, file) || queued() {
		t.Errorf("after the committed delete: file exists %v, queued %v; want neither", exists(t, file), queued())
	}
}

// syncBuffer is a log destination for tests.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Open removes the spool files no queued message names (a crash between
// writing a file and committing its message, or between a delete's commit
// and the removal), keeps the others, and empties tmp/.
func TestOpenSweepsOrphans(t *testing.T) {
	db, path := openTest(t, Options{})
	dir := filepath.Dir(path)
	spoolDir, tmpDir := filepath.Join(dir, "spool"), filepath.Join(dir, "tmp")

	kept := &Message{From: "hr@acme.example", Rcpts: []Rcpt{{Addr: "taro@example.net"}}}
	keptFile := spool(t, db, bigBody(100<<10))
	enqueueSpooled(t, db, kept, keptFile)
	inline := &Message{From: "hr@acme.example", Rcpts: []Rcpt{{Addr: "hanako@example.net"}}}
	enqueue(t, db, inline, []byte("Subject: small\r\n\r\nhi\r\n"))

	never := spool(t, db, bigBody(10<<10)) // finished, never enqueued
	half, err := db.CreateSpool()          // crashed while writing
	if err != nil {
		t.Fatal(err)
	}
	half.Write(bigBody(100 << 10))
	half.f.Close() // the process "dies": no Finish, no Discard
	// The delete committed, the removal did not happen.
	deleted := &Message{From: "hr@acme.example", Rcpts: []Rcpt{{Addr: "jiro@example.net"}}}
	deletedFile := spool(t, db, bigBody(10<<10))
	enqueueSpooled(t, db, deleted, deletedFile)
	saved, err := os.ReadFile(filepath.Join(spoolDir, deletedFile.Name()))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(context.Background(), func(tx *Tx) error { return tx.Delete(deleted.ID) }); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(spoolDir, deletedFile.Name()), saved, 0o600); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string]string{".x.tmp-123": "leftover", "notes.txt": "?"} {
		if err := os.WriteFile(filepath.Join(spoolDir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(tmpDir, "incoming-1"), []byte("stale"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(tmpDir, "sub"), 0o700); err != nil {
		t.Fatal(err)
	}
	if n := len(dirNames(t, spoolDir)); n != 6 {
		t.Fatalf("%d files in spool/ before reopen, want 6", n)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	var logs syncBuffer
	db, err = Open(path, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if names := dirNames(t, spoolDir); len(names) != 1 || names[0] != keptFile.Name() {
		t.Errorf("spool/ after reopen: %v, want only %s", names, keptFile.Name())
	}
	if names := dirNames(t, tmpDir); len(names) != 0 {
		t.Errorf("tmp/ after reopen: %v, want empty", names)
	}
	if !strings.Contains(logs.String(), "removed orphaned spool files") || !strings.Contains(logs.String(), "count=5") {
		t.Errorf("log does not report 5 orphans removed:\n%s", logs.String())
	}
	_ = never
	err = db.View(func(tx *Tx) error {
		if n := tx.QueueLen(); n != 2 {
			t.Errorf("QueueLen %d, want 2", n)
		}
		for _, m := range []*Message{kept, inline} {
			b, err := tx.Body(m.ID)
			if err != nil {
				return err
			}
			if got, err := b.Bytes(); err != nil || int64(len(got)) != m.Size {
				t.Errorf("%s: body of %d octets (%v), want %d", m.ID, len(got), err, m.Size)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestTempFileIsUnlinked(t *testing.T) {
	db, path := openTest(t, Options{})
	dir := filepath.Dir(path)
	f, err := db.TempFile()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if filepath.Dir(f.Name()) != filepath.Join(dir, "tmp") {
		t.Errorf("temp file %s, want it in %s", f.Name(), filepath.Join(dir, "tmp"))
	}
	if exists(t, f.Name()) {
		t.Errorf("temp file %s has a name in the file system", f.Name())
	}
	for _, d := range []string{"tmp", "spool"} {
		if names := dirNames(t, filepath.Join(dir, d)); len(names) != 0 {
			t.Errorf("%s/ holds %v", d, names)
		}
	}
	data := bigBody(1 << 20)
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(f)
	if err != nil || !bytes.Equal(got, data) {
		t.Errorf("read back %d octets (%v), want %d", len(got), err, len(data))
	}
}

func TestBodyHeader(t *testing.T) {
	for _, c := range []struct {
		body  string
		limit int
		want  string
	}{
		{"A: 1\r\nB: 2\r\n\r\nbody\r\n\r\nmore", 100, "A: 1\r\nB: 2\r\n\r\n"},
		{"A: 1\nB: 2\n\nbody\n", 100, "A: 1\nB: 2\n\n"},
		{"A: 1\r\n\tfolded\r\n\r\n", 100, "A: 1\r\n\tfolded\r\n\r\n"},
		{"\r\nno header", 100, "\r\n"},
		{"A: 1\r\nB: 2\r\n", 100, "A: 1\r\nB: 2\r\n"}, // no end: all of it
		{"A: 1\r\nB: 2\r\n\r\nbody", 8, "A: 1\r\nB:"}, // no end within the limit
		{"A: 1\r\n\r\nbody", 6, "A: 1\r\n"},           // the limit comes first
		{"A: 1\r\n\r\nbody", 7, "A: 1\r\n\r"},         // ... by one octet
		{"A: 1\r\n\r\nbody", 8, "A: 1\r\n\r\n"},       // exactly
		{"", 100, ""},
	} {
		if got, err := InlineBody([]byte(c.body)).Header(c.limit); err != nil || string(got) != c.want {
			t.Errorf("inline %q Header(%d) = %q, %v; want %q", c.body, c.limit, got, err, c.want)
		}
	}
	db, _ := openTest(t, Options{})
	f := spool(t, db, []byte("A: 1\nB: 2\n\nbody\n"))
	defer f.Discard()
	b := Body{path: f.path, size: f.Size()}
	if got, err := b.Header(100); err != nil || string(got) != "A: 1\nB: 2\n\n" {
		t.Errorf("spooled Header = %q, %v", got, err)
	}
	if _, err := b.Header(0); err == nil {
		t.Error("Header(0) succeeded")
	}
}
