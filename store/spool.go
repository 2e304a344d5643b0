package store

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"

	bolt "go.etcd.io/bbolt"

	"github.com/careerrelay/careerrelay/internal/durable"
)

// Large bodies live in the spool folder beside the database file, one file
// each, instead of in bbolt: bbolt would copy a value into heap pages on
// every commit and keep it mapped (and resident) after every read, so fifty
// concurrent 10 MB messages would cost gigabytes of memory. Small bodies
// stay inline, where one group commit makes hundreds of them durable with
// one fsync.
//
// A spooled body is written and fsynced (file and folder) before the
// transaction that enqueues it commits; a file that no queued message names
// (a crash came between the two, or after a delete) is removed at Open.
//
// The folders beside the database file:
//
//	spool/  one file per spooled body, named by Message.Spool (32 hex
//	        digits + ".eml"); removed after the commit that deletes its
//	        message, and at Open when no queued message names it
//	tmp/    transient files of TempFile, unlinked at once; emptied at Open

// Folder names beside the database file.
const (
	spoolFolder = "spool"
	tmpFolder   = "tmp"
)

// spoolBufSize is the write buffer of a SpoolFile.
const spoolBufSize = 64 << 10

// SpoolFile is a large body being written to the spool folder. Write it,
// then Finish (flush, fsync the file and the folder) before passing it to
// Tx.EnqueueSpooled; Discard it when it will not be enqueued.
//
// A SpoolFile belongs to one message: enqueue it once. Deleting that
// message removes the file. Writing is not safe for concurrent use.
type SpoolFile struct {
	f    *os.File
	name string
	size int64

	db        *DB
	path      string
	w         *bufio.Writer
	err       error       // the first write error, sticky
	finished  bool        // Finish succeeded
	discarded bool        // Discard ran
	committed atomic.Bool // a transaction that enqueued it committed
}

// newSpoolName returns a random file name for a spool file.
func newSpoolName() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:]) + ".eml"
}

// validSpoolName says whether name (from a stored message) can only name a
// file directly inside the spool folder.
func validSpoolName(name string) bool {
	return name != "" && name != "." && name != ".." &&
		!strings.ContainsAny(name, `/\`+"\x00") && filepath.Base(name) == name
}

// CreateSpool creates a new, empty spool file (mode 0600).
func (db *DB) CreateSpool() (*SpoolFile, error) {
	for range 3 {
		name := newSpoolName()
		path := filepath.Join(db.spoolDir, name)
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, os.ErrExist) {
			continue // 128 random bits: never, in practice
		}
		if err != nil {
			return nil, fmt.Errorf("store: create spool file: %w", err)
		}
		return &SpoolFile{f: f, name: name, db: db, path: path, w: bufio.NewWriterSize(f, spoolBufSize)}, nil
	}
	return nil, errors.New("store: create spool file: no free name")
}

// Name is the file's name in the spool folder, as Message.Spool holds it.
func (f *SpoolFile) Name() string { return f.name }

// Write appends p to the file (buffered).
func (f *SpoolFile) Write(p []byte) (int, error) {
	switch {
	case f.err != nil:
		return 0, f.err
	case f.finished || f.discarded || f.w == nil:
		return 0, errors.New("store: write to a finished or discarded spool file")
	}
	n, err := f.w.Write(p)
	f.size += int64(n)
	if err != nil {
		f.err = fmt.Errorf("store: write spool file: %w", err)
		return n, f.err
	}
	return n, nil
}

// Size is the number of octets written so far.
func (f *SpoolFile) Size() int64 { return f.size }

// Finish makes the file durable: flushed, fsynced, closed, and its folder
// fsynced. After Finish the file may be enqueued. When Finish fails, the
// caller Discards the file. Options.Fault is called with "spool" first.
func (f *SpoolFile) Finish() error {
	switch {
	case f.discarded:
		return errors.New("store: finish of a discarded spool file")
	case f.finished:
		return nil
	case f.err != nil:
		return f.err
	}
	if err := f.finish(); err != nil {
		f.err = err // sticky: the file is only good for Discard now
		return err
	}
	f.finished = true
	return nil
}

func (f *SpoolFile) finish() error {
	if f.db.fault != nil {
		if err := f.db.fault("spool"); err != nil {
			return fmt.Errorf("store: spool file: %w", err)
		}
	}
	if err := f.w.Flush(); err != nil {
		return fmt.Errorf("store: write spool file: %w", err)
	}
	if err := f.f.Sync(); err != nil {
		return fmt.Errorf("store: fsync spool file: %w", err)
	}
	err := f.f.Close()
	f.f, f.w = nil, nil
	if err != nil {
		return fmt.Errorf("store: close spool file: %w", err)
	}
	if err := durable.SyncDir(f.db.spoolDir); err != nil {
		return fmt.Errorf("store: spool file: %w", err)
	}
	return nil
}

// Discard closes and removes a spool file that will not be enqueued (or
// whose enqueueing transaction failed). It is safe to call after Finish and
// more than once. Once a transaction that enqueued the file has committed,
// the file belongs to the queue and Discard does nothing, so callers may
// simply defer it.
func (f *SpoolFile) Discard() {
	if f == nil || f.discarded || f.committed.Load() {
		return
	}
	f.discarded = true
	if f.f != nil {
		f.f.Close()
		f.f, f.w = nil, nil
	}
	if err := os.Remove(f.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		f.db.log.Warn("cannot remove discarded spool file", "file", f.name, "err", err)
	}
}

// EnqueueSpooled adds m to the queue with the finished spool file f as its
// body, as Enqueue does for an inline body: it assigns m.ID, and sets
// m.Size and m.Spool from f. No body goes into bbolt.
func (tx *Tx) EnqueueSpooled(m *Message, f *SpoolFile) error {
	if m == nil {
		return errors.New("store: enqueue: nil message")
	}
	if err := tx.checkSpool(f); err != nil {
		return err
	}
	meta, _ := tx.queue()
	key := tx.newKey(meta)
	m.ID = string(key)
	m.Size = f.size
	m.Spool = f.name
	m.Shared = ""
	if err := tx.putNew(meta, m, key); err != nil {
		return err
	}
	tx.enqueued = append(tx.enqueued, f)
	return nil
}

// checkSpool says why f cannot be enqueued in tx, if it cannot.
func (tx *Tx) checkSpool(f *SpoolFile) error {
	switch {
	case f == nil:
		return errors.New("store: enqueue: nil spool file")
	case f.discarded:
		return errors.New("store: enqueue: spool file was discarded")
	case !f.finished:
		return errors.New("store: enqueue: spool file not finished")
	case f.db != tx.db:
		return errors.New("store: enqueue: spool file of another store")
	}
	return nil
}

// TempFile returns a new file for transient data (the DATA of a large
// message being received) in the folder of the database, already unlinked:
// it disappears when closed or when the process dies. It lives in tmp/,
// never in the spool folder, and tmp/ is emptied at Open.
func (db *DB) TempFile() (*os.File, error) {
	f, err := os.CreateTemp(db.tmpDir, "incoming-*")
	if err != nil {
		return nil, fmt.Errorf("store: temp file: %w", err)
	}
	if err := os.Remove(f.Name()); err != nil {
		f.Close()
		return nil, fmt.Errorf("store: temp file: %w", err)
	}
	return f, nil
}

// spoolRef is the part of a stored Message that says where its body is.
type spoolRef struct {
	Spool  string `json:"spool"`
	Size   int64  `json:"size"`
	Shared string `json:"shared"`
}

// bodyKey is the key of the body in bucketBodies (or of its copy count,
// for a shared one) of the message stored under id.
func (r spoolRef) bodyKey(id []byte) []byte {
	if r.Shared != "" {
		return []byte(r.Shared)
	}
	return id
}

// spoolKey and sharedKey are how the spool and shared fields start in a
// Message's JSON. Inside a JSON string every quote is escaped, so only the
// fields themselves can match; a value with neither is an inline body of
// its own and needs no decoding.
var (
	spoolKey  = []byte(`"spool":"`)
	sharedKey = []byte(`"shared":"`)
)

// spoolOf returns where the body of the message stored as v is: its spool
// file name and size, or "" when it is inline, and the key of the body it
// shares, or "" when the body is its own.
func spoolOf(v []byte) (spoolRef, error) {
	if !bytes.Contains(v, spoolKey) && !bytes.Contains(v, sharedKey) {
		return spoolRef{}, nil
	}
	var r spoolRef
	if err := json.Unmarshal(v, &r); err != nil {
		return spoolRef{}, err
	}
	if r.Spool != "" && !validSpoolName(r.Spool) {
		return spoolRef{}, fmt.Errorf("invalid spool file name %q", r.Spool)
	}
	return r, nil
}

// afterCommit runs once tx has committed: files of deleted messages are
// removed, and files it enqueued are no longer the caller's to discard.
// A file that cannot be removed is left for the sweep at the next Open.
func (db *DB) afterCommit(tx *Tx) {
	for _, f := range tx.enqueued {
		f.committed.Store(true)
	}
	for _, name := range tx.removes {
		if err := os.Remove(filepath.Join(db.spoolDir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			db.log.Error("cannot remove the spool file of a deleted message", "file", name, "err", err)
		}
	}
}

// prepareFolders creates spool/ and tmp/ and empties tmp/. It runs once
// Open holds the file lock, so no other process uses them.
func (db *DB) prepareFolders() error {
	for _, d := range []string{db.spoolDir, db.tmpDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return fmt.Errorf("create folder %s: %w", d, err)
		}
	}
	entries, err := os.ReadDir(db.tmpDir)
	if err != nil {
		return fmt.Errorf("read folder %s: %w", db.tmpDir, err)
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(db.tmpDir, e.Name())); err != nil {
			db.log.Warn("cannot remove leftover temporary file", "file", e.Name(), "err", err)
		}
	}
	return nil
}

// sweepSpool removes every file of the spool folder that no queued message
// names: bodies whose enqueue never committed, or whose message was deleted
// just before a crash, and leftovers of any kind. It runs once Open holds
// the file lock, before anything can create spool files.
func (db *DB) sweepSpool(btx *bolt.Tx) error {
	entries, err := os.ReadDir(db.spoolDir)
	if err != nil {
		return fmt.Errorf("read folder %s: %w", db.spoolDir, err)
	}
	if len(entries) == 0 {
		return nil // the usual case: no need to read the queue
	}
	named := map[string]bool{}
	err = btx.Bucket(bucketQueue).ForEach(func(k, v []byte) error {
		r, err := spoolOf(v)
		if err != nil {
			return fmt.Errorf("decode %s: %w", k, err)
		}
		if r.Spool != "" {
			named[r.Spool] = true
		}
		return nil
	})
	if err != nil {
		return err
	}
	removed := 0
	for _, e := range entries {
		if named[e.Name()] && e.Type().IsRegular() {
			continue
		}
		if err := os.RemoveAll(filepath.Join(db.spoolDir, e.Name())); err != nil {
			db.log.Warn("cannot remove orphaned spool file", "file", e.Name(), "err", err)
			continue
		}
		removed++
	}
	if removed > 0 {
		db.log.Info("removed orphaned spool files", "count", removed, "kept", len(entries)-removed)
	}
	return nil
}
