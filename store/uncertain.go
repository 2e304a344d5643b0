package store

import (
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// What a failed bbolt commit leaves behind (go.etcd.io/bbolt v1.5.0,
// tx.Commit with the options of boltOptions: NoSync false, NoFreelistSync
// true):
//
//  1. Commit spills the changed nodes into new pages (copy on write: no
//     page reachable from the current meta page is overwritten), grows the
//     file if needed, then tx.write: pwrite of every dirty page, then the
//     first fdatasync. Any failure up to here calls tx.rollback and returns
//     the error. The meta page was not touched: neither this process nor
//     the disk will ever see the transaction. The pages written are free
//     pages that nothing references. A definite failure.
//  2. tx.writeMeta: pwrite of the meta page (slot txid%2), then the second
//     fdatasync. If the pwrite fails, the slot holds at worst a torn meta
//     page, which fails its checksum, so the other slot (the previous
//     transaction) is read: still a definite failure. If the second
//     fdatasync fails, the meta page is already in the file as this
//     process reads it: bbolt maps the file MAP_SHARED, db.meta() picks
//     the valid slot with the highest txid, and that is now the failed
//     transaction. Commit calls tx.rollback, which releases the writer lock
//     and, with NoFreelistSync, rebuilds the freelist by scanning the tree
//     of db.meta(), the new one. bbolt neither closes nor marks itself
//     failed: the next read sees the writes (the queue would deliver the
//     message) and the next write transaction builds on them.
//     Whether the meta page is on disk is unknown: the kernel may write it
//     back later, or (Linux after a writeback error, "fsyncgate") mark it
//     clean and never write it, while this process and any process that
//     opens the file before the page is evicted still read it. Reading the
//     file again cannot tell: reads come from the same page cache.
//
// So the store decides as follows (resolve). It reads the txid that a new
// read transaction sees. Below the failed transaction's txid: case 1, the
// error is definite, and the store goes on. Otherwise: case 2. The data
// pages of that transaction were synced (the first fdatasync returned
// nil, or writeMeta would not have run), so only its meta page may be
// missing on disk. The store then commits an empty transaction on top (a
// fence). An empty bbolt commit allocates no page (no node changed, and
// with NoFreelistSync no freelist page): it writes only the meta page of
// the other slot, with txid+1 and the same root, and runs both fdatasyncs.
// When it returns nil, that meta page is durable and names a tree whose
// pages are all durable: the failed transaction is on disk for good, and
// its Updates are answered nil. Nothing was overwritten meanwhile, so a
// crash during the fence leaves either meta slot pointing at intact pages.
//
// While the committer settles a commit, a View may already read its
// writes (as it may between any commit's meta page write and its second
// fdatasync: bbolt's readers never wait for the sync). Nothing acts on
// such a read alone: a delivery attempt and an agency webhook each start
// with an Update that records them, and Updates wait behind the committer,
// so they run after the commit is settled, or get ErrFailed.
//
// When fenceAttempts fences fail too, the disk cannot make anything
// durable. The Updates are answered with ErrCommitUncertain, and the store
// fails itself (ErrFailed): no later Update or View runs, so nothing in
// this process reads, delivers or builds on writes that may not exist.
// After a restart the file decides: the writes may be there (a message
// answered 451 is then delivered, and the sender's retry is a second copy)
// or not. That double fault is the one case nothing can guarantee: the
// process cannot learn what the disk holds.
const fenceAttempts = 3

// commitTx commits btx, with the test faults of Options.Fault.
func (db *DB) commitTx(btx *bolt.Tx) error {
	if db.fault != nil {
		if err := db.fault("commit"); err != nil {
			_ = btx.Rollback()
			return err
		}
	}
	if err := btx.Commit(); err != nil {
		return err
	}
	if db.fault != nil {
		if err := db.fault("meta-sync"); err != nil {
			// As bbolt would report a failed fdatasync after the meta page
			// write: the meta page is in the file, Commit says it failed.
			return fmt.Errorf("fdatasync after the meta page write: %w", err)
		}
	}
	return nil
}

// visibleTxid is the txid of the meta page that bbolt reads now.
func (db *DB) visibleTxid() (int, error) {
	rtx, err := db.bolt.Begin(false)
	if err != nil {
		return 0, err
	}
	id := rtx.ID()
	_ = rtx.Rollback()
	return id, nil
}

// resolve decides what the commit of transaction txid, which failed with
// cause, did (see the comment above fenceAttempts). It returns nil when the
// transaction is durable after all, a plain error when it is certainly not
// committed, and an error wrapping ErrCommitUncertain, after failing the
// store, when nobody can tell.
func (db *DB) resolve(txid int, cause error) error {
	seen, err := db.visibleTxid()
	if err != nil {
		return db.fail(txid, cause, fmt.Errorf("reading the meta page: %w", err))
	}
	if seen < txid {
		return fmt.Errorf("store: commit: %w", cause)
	}
	db.log.Warn("store commit failed after its meta page was written: syncing a fence commit to settle it", "txid", txid, "err", cause)
	var ferr error
	for range fenceAttempts {
		if ferr = db.fence(); ferr == nil {
			return nil
		}
		db.failed.Add(1)
	}
	return db.fail(txid, cause, ferr)
}

// fence commits an empty transaction: its meta page, once synced, makes
// every earlier transaction whose pages were synced durable.
func (db *DB) fence() error {
	btx, err := db.bolt.Begin(true)
	if err != nil {
		return err
	}
	return db.commitTx(btx)
}

// Err is nil while the store works, and the ErrFailed error once a commit
// could not be settled and the store refuses everything until a restart
// (/healthz reports it).
func (db *DB) Err() error {
	db.mu.Lock()
	defer db.mu.Unlock()
	return db.broken
}

// fail stops the store after the commit of txid could not be settled, and
// returns the error for the Updates of that commit.
func (db *DB) fail(txid int, cause, settle error) error {
	err := fmt.Errorf("store: commit of transaction %d: %w: %w (and it could not be made durable: %w)", txid, ErrCommitUncertain, cause, settle)
	db.mu.Lock()
	if db.broken == nil {
		db.broken = fmt.Errorf("%w: %w", ErrFailed, err)
	}
	db.mu.Unlock()
	db.log.Error("store failed: a commit may or may not be on disk; refusing every read and write until restart", "txid", txid, "err", err)
	return err
}
