package store

import (
	"errors"
	"io"
	"os"
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

// Body is the body of a queued message: inline bytes or a spool file.
type Body struct {
	inline []byte
	path   string // spool file; "" when inline
	size   int64
}

// InlineBody is a Body held in memory (small bodies, tests).
func InlineBody(b []byte) Body { return Body{inline: b, size: int64(len(b))} }

// Size is the body's length in octets.
func (b Body) Size() int64 { return b.size }

// Spooled says whether the body is a spool file.
func (b Body) Spooled() bool { return b.path != "" }

// Open returns a reader of the whole body. Each call starts at the first
// octet, so a failed attempt can be retried on another connection.
func (b Body) Open() (io.ReadCloser, error) {
	return nil, errors.New("store: Body.Open: not implemented")
}

// Bytes returns the whole body in memory. Use it for small bodies only
// (tests, capture mode); delivery streams with Open.
func (b Body) Bytes() ([]byte, error) {
	if b.path == "" {
		return b.inline, nil
	}
	return os.ReadFile(b.path)
}

// Header returns the body's header section (up to and including the empty
// line that ends it), read from the start of the body and at most max
// octets long.
func (b Body) Header(max int) ([]byte, error) {
	return nil, errors.New("store: Body.Header: not implemented")
}

// SpoolFile is a large body being written to the spool folder. Write it,
// then Finish (flush, fsync the file and the folder) before passing it to
// Tx.EnqueueSpooled; Discard it when it will not be enqueued.
type SpoolFile struct {
	f    *os.File
	name string
	size int64
}

// CreateSpool creates a new, empty spool file.
func (db *DB) CreateSpool() (*SpoolFile, error) {
	return nil, errors.New("store: CreateSpool: not implemented")
}

// Write appends p to the file (buffered).
func (f *SpoolFile) Write(p []byte) (int, error) {
	return 0, errors.New("store: SpoolFile.Write: not implemented")
}

// Size is the number of octets written so far.
func (f *SpoolFile) Size() int64 { return f.size }

// Finish makes the file durable: flushed, fsynced, closed, and its folder
// fsynced. After Finish the file may be enqueued.
func (f *SpoolFile) Finish() error {
	return errors.New("store: SpoolFile.Finish: not implemented")
}

// Discard closes and removes a spool file that will not be enqueued (or
// whose enqueueing transaction failed). It is safe to call after Finish and
// more than once.
func (f *SpoolFile) Discard() {}

// EnqueueSpooled adds m to the queue with the finished spool file f as its
// body, as Enqueue does for an inline body.
func (tx *Tx) EnqueueSpooled(m *Message, f *SpoolFile) error {
	return errors.New("store: EnqueueSpooled: not implemented")
}

// TempFile returns a new file for transient data (the DATA of a large
// message being received) in the folder of the database, already unlinked:
// it disappears when closed or when the process dies.
func (db *DB) TempFile() (*os.File, error) {
	return nil, errors.New("store: TempFile: not implemented")
}
