// Package store is careerrelay's durable state in one bbolt file: the mail
// queue (message metadata and bodies), and later send and click records,
// referrals, the ledger and the webhook outbox. Writes from concurrent
// callers are group-committed: one bbolt transaction (and its fsyncs)
// carries every Update that arrived while the previous commit was on disk.
package store

import (
	"context"
	"errors"
	"log/slog"

	bolt "go.etcd.io/bbolt"
)

// ErrNotFound is returned for a queue id that is not (or no longer) queued.
var ErrNotFound = errors.New("store: not found")

var errNotImplemented = errors.New("store: not implemented yet")

// Options tune Open.
type Options struct {
	Logger *slog.Logger
	// Fault, when set, is called before every commit with the operation
	// name; a non-nil error fails that commit as a disk error would. It
	// exists for tests that prove a failed write never yields a 250.
	Fault func(op string) error
}

// DB is the open store. It holds bbolt's file lock: one process at a time.
type DB struct {
	bolt *bolt.DB
}

// Open opens (creating if needed) the store file at path.
func Open(path string, opts Options) (*DB, error) { return nil, errNotImplemented }

// Close waits for pending commits and closes the file.
func (db *DB) Close() error { return errNotImplemented }

// Bolt exposes the underlying bbolt handle for packages that keep their own
// buckets (send records, ledger); they write through Update all the same.
func (db *DB) Bolt() *bolt.DB { return db.bolt }

// Update runs fn in a read-write transaction that may be shared with other
// concurrent Updates (group commit). When Update returns nil, fn's writes
// are on disk (fsynced). If fn returns an error, none of fn's writes are
// committed and the error is returned; other callers' writes are unaffected.
// fn may be run more than once (when another fn in its group failed), so it
// must not have side effects outside tx.
func (db *DB) Update(ctx context.Context, fn func(tx *Tx) error) error {
	return errNotImplemented
}

// View runs fn in a read-only transaction.
func (db *DB) View(fn func(tx *Tx) error) error { return errNotImplemented }

// Tx is a store transaction.
type Tx struct {
	tx *bolt.Tx
}

// Bolt exposes the underlying bbolt transaction.
func (tx *Tx) Bolt() *bolt.Tx { return tx.tx }

// Enqueue adds m with its body to the queue. It assigns m.ID (unique, sorting
// by arrival) and m.Size; the caller sets everything else.
func (tx *Tx) Enqueue(m *Message, body []byte) error { return errNotImplemented }

// Get returns the queued message id, or ErrNotFound.
func (tx *Tx) Get(id string) (*Message, error) { return nil, errNotImplemented }

// Put replaces the metadata of a queued message (attempt counts, recipient
// states, next attempt). The body is unchanged.
func (tx *Tx) Put(m *Message) error { return errNotImplemented }

// Delete removes a queued message and its body.
func (tx *Tx) Delete(id string) error { return errNotImplemented }

// Body returns a copy of the body of a queued message, or ErrNotFound.
func (tx *Tx) Body(id string) ([]byte, error) { return nil, errNotImplemented }

// Queued calls fn for every queued message in id order, stopping at the
// first error fn returns.
func (tx *Tx) Queued(fn func(m *Message) error) error { return errNotImplemented }

// QueueLen is the number of queued messages.
func (tx *Tx) QueueLen() int { return 0 }
