package store

import (
	"context"
	"errors"

	bolt "go.etcd.io/bbolt"
)

// The shared records (send records, clicks, referrals, the ledger and
// balances, the webhook outbox, the audit trail, the privacy state) are
// kept in named buckets of ordered keys, written in serializable
// transactions. Shared is that store: this package's bbolt file for one
// node (DB.Shared), or PostgreSQL for several (package store/postgres),
// both held to the same contract (package store/storetest). The mail
// queue is not in it: it stays in each node's own bbolt file.
type Shared interface {
	// Update runs fn in a read-write transaction and commits it. fn may
	// run more than once (a group commit re-runs it, a serialization
	// failure retries it): it must only read and write through tx, and
	// its effects outside tx must be idempotent. An error from fn rolls
	// the transaction back and is returned.
	Update(ctx context.Context, fn func(tx SharedTx) error) error
	// View runs fn in a read-only transaction: a consistent snapshot.
	View(fn func(tx SharedTx) error) error
}

// SharedTx is one transaction of a Shared store.
type SharedTx interface {
	// Bucket returns the named bucket; the buckets are those this package
	// names (BucketReferrals, ...), which every Shared store has.
	Bucket(name string) Bucket
}

// Bucket is an ordered map of byte keys to byte values within a
// transaction. Keys sort bytewise. A value returned by Get or a cursor is
// valid only within the transaction and must not be modified.
type Bucket interface {
	Get(key []byte) []byte
	Put(key, value []byte) error
	Delete(key []byte) error
	// NextSequence returns the bucket's next sequence number, from 1.
	NextSequence() (uint64, error)
	// Sequence is the bucket's current sequence number (0 before the
	// first NextSequence); SetSequence sets it (store migrate).
	Sequence() uint64
	SetSequence(n uint64) error
	// ForEach calls fn for every key in order; fn must not write to the
	// bucket.
	ForEach(fn func(k, v []byte) error) error
	// Cursor iterates the keys in order; it must not be used after the
	// bucket is written to.
	Cursor() Cursor
}

// Cursor walks a bucket's keys in order; a nil key means past the end.
type Cursor interface {
	First() (key, value []byte)
	Last() (key, value []byte)
	Seek(seek []byte) (key, value []byte)
	Next() (key, value []byte)
}

// ErrUnavailable is wrapped by the errors of a Shared store that cannot
// be reached (a database down or cut off): nothing was read or written,
// and trying again later may work. Mail with personal links is then
// refused with 451 and link pages answer 503.
var ErrUnavailable = errors.New("store: the shared store is unreachable")

// Shared returns the shared records' store in this bbolt file: the one
// node setup (no store.shared in the configuration).
func (db *DB) Shared() Shared { return boltShared{db} }

type boltShared struct{ db *DB }

func (s boltShared) Update(ctx context.Context, fn func(tx SharedTx) error) error {
	return s.db.Update(ctx, func(tx *Tx) error { return fn(boltTx{tx.tx}) })
}

func (s boltShared) View(fn func(tx SharedTx) error) error {
	return s.db.View(func(tx *Tx) error { return fn(boltTx{tx.tx}) })
}

// Shared is the transaction's view as a SharedTx (the same bbolt
// transaction), for code that writes queue and shared records in one
// commit on a single node.
func (tx *Tx) Shared() SharedTx { return boltTx{tx.tx} }

type boltTx struct{ tx *bolt.Tx }

func (t boltTx) Bucket(name string) Bucket { return boltBucket{t.tx.Bucket([]byte(name))} }

type boltBucket struct{ *bolt.Bucket }

func (b boltBucket) Cursor() Cursor { return b.Bucket.Cursor() }
