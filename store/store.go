// Package store is careerrelay's durable state in one bbolt file: the mail
// queue (message metadata and small bodies; large bodies are files in the
// spool folder beside it, see spool.go), and later send and click records,
// referrals, the ledger and the webhook outbox. Writes from concurrent
// callers are group-committed: one bbolt transaction (and its fsyncs)
// carries every Update that arrived while the previous commit was on disk.
package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// ErrNotFound is returned for a queue id that is not (or no longer) queued.
var ErrNotFound = errors.New("store: not found")

// ErrClosed is returned by Update and View once Close has been called.
var ErrClosed = errors.New("store: closed")

// ErrCommitUncertain is wrapped in the error of every Update of a group
// whose commit failed in a way that leaves its outcome unknown: bbolt wrote
// the new meta page, so this process already sees the writes, but the
// fdatasync after it failed, and the store could not make the writes
// durable afterwards (see resolve). The writes may be on disk, or may
// appear there later, or never. The store has then stopped (ErrFailed):
// nothing in this process reads, acts on or builds on them. A caller must
// not claim success, and must not claim that nothing happened either.
var ErrCommitUncertain = errors.New("store: commit outcome unknown")

// ErrFailed is wrapped in the error of every Update and View after a
// commit ended with ErrCommitUncertain: the in-memory view may hold writes
// that are not on disk, so the store serves nothing more until a restart
// reads the file again.
var ErrFailed = errors.New("store: failed after a commit of unknown outcome (restart to recover)")

// DefaultLockTimeout is how long Open waits for another process to release
// the store file when Options.LockTimeout is zero.
const DefaultLockTimeout = 5 * time.Second

// maxBatch bounds how many Updates share one transaction, so that one
// transaction (and the re-runs after a failing fn) stays short.
const maxBatch = 256

// Options tune Open.
type Options struct {
	Logger *slog.Logger
	// Fault, when set, is called with an operation name; a non-nil error
	// fails that operation as a disk error would. It exists for tests that
	// prove a failed write never yields a 250. The operations are:
	//   - "commit", before every bbolt commit (on the committer goroutine):
	//     the transaction is rolled back, nothing is written, as when
	//     bbolt fails before it writes the meta page;
	//   - "meta-sync", after a bbolt commit has written and synced its
	//     meta page (on the committer goroutine): the commit is reported
	//     failed as when the fdatasync after the meta page write fails.
	//     bbolt has no hook there, and it keeps no state that tells the two
	//     apart: in both, the new meta page is in the file (the page cache)
	//     and Commit returns an error. What a real failure adds, and no test
	//     can show without a failing disk, is that the page may then never
	//     reach the disk;
	//   - "spool", in SpoolFile.Finish (on the caller's goroutine: Fault
	//     must be safe for concurrent use when spool files are written).
	// Both commit operations are also called for the fence commits that
	// resolve a failed one (see resolve).
	Fault func(op string) error
	// LockTimeout is how long Open waits for the file lock held by another
	// process; zero means DefaultLockTimeout.
	LockTimeout time.Duration
}

// Stats counts the work of the group committer since Open.
type Stats struct {
	Updates uint64 // Update calls whose fn was committed
	Commits uint64 // successful read-write transactions (each two fsyncs)
	Failed  uint64 // transactions that failed to begin or commit (whatever resolve found)
}

// DB is the open store. It holds bbolt's file lock: one process at a time.
type DB struct {
	bolt     *bolt.DB
	log      *slog.Logger
	fault    func(op string) error
	spoolDir string // large bodies, one file each (spool.go)
	tmpDir   string // unlinked transient files (TempFile)

	mu     sync.Mutex
	cond   *sync.Cond // signalled when queue grows or closed is set
	queue  []*request // Updates waiting for the committer, in arrival order
	closed bool
	done   chan struct{} // closed when the committer has exited

	closeOnce sync.Once
	closeErr  error

	lastNano atomic.Int64 // time part of the newest queue id (see newID)

	updates, commits, failed atomic.Uint64

	// broken, once set (under mu), is the ErrFailed error that every later
	// Update and View returns: a commit's outcome could not be determined.
	broken error

	// testQueued, when set (tests only), is called with the queue length
	// after each Update is queued.
	testQueued func(n int)
}

// tuneBolt, when set (benchmarks only), adjusts the bbolt options of Open.
var tuneBolt func(o *bolt.Options)

// boltOptions are the bbolt settings for a write-heavy queue. Commits keep
// both fsyncs (NoSync and NoGrowSync stay false): a 250 promises durability.
// The file never shrinks, so after a backlog drains most of it is free
// pages: a synced freelist is then rewritten by every commit, which
// BenchmarkBoltOptions shows cutting throughput to a third (20,000 free
// 10 KB messages: ~2,450 vs ~800 msgs/s at one caller, ~9,400 vs ~3,000 at
// ten). NoFreelistSync costs a scan of the tree on every Open instead
// (~25 ms vs ~1 ms with 20,000 queued messages, BenchmarkOpen). The hashmap
// freelist stays fast however fragmented the file gets (it measured the
// same as the array here).
func boltOptions(timeout time.Duration) *bolt.Options {
	o := &bolt.Options{
		Timeout:         timeout,
		FreelistType:    bolt.FreelistMapType,
		NoFreelistSync:  true,
		InitialMmapSize: 64 << 20, // readers rarely block a remap
	}
	if tuneBolt != nil {
		tuneBolt(o)
	}
	return o
}

// Open opens (creating if needed) the store file at path, and beside it the
// folders spool/ and tmp/. Once it holds the file lock it empties tmp/ and
// removes every spool file that no queued message names.
func Open(path string, opts Options) (*DB, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: create folder of %s: %w", path, err)
	}
	timeout := opts.LockTimeout
	if timeout <= 0 {
		timeout = DefaultLockTimeout
	}
	bdb, err := bolt.Open(path, 0o600, boltOptions(timeout))
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("store: open %s: no lock after %v (store locked by another process?): %w", path, timeout, err)
	}
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	db := &DB{
		bolt:     bdb,
		log:      log.With("path", path),
		fault:    opts.Fault,
		spoolDir: filepath.Join(dir, spoolFolder),
		tmpDir:   filepath.Join(dir, tmpFolder),
		done:     make(chan struct{}),
	}
	db.cond = sync.NewCond(&db.mu)
	if err := db.prepareFolders(); err != nil {
		bdb.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	if err := bdb.Update(db.init); err != nil {
		bdb.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	if err := bdb.View(db.sweepSpool); err != nil {
		bdb.Close()
		return nil, fmt.Errorf("store: open %s: spool: %w", path, err)
	}
	go db.run()
	return db, nil
}

// Close waits for pending commits and closes the file. Updates queued
// before Close are committed; later ones get ErrClosed.
func (db *DB) Close() error {
	err := ErrClosed
	db.closeOnce.Do(func() {
		db.mu.Lock()
		db.closed = true
		db.cond.Signal()
		db.mu.Unlock()
		<-db.done
		if cerr := db.bolt.Close(); cerr != nil {
			db.closeErr = fmt.Errorf("store: close: %w", cerr)
		}
		err = db.closeErr
	})
	return err
}

// Bolt exposes the underlying bbolt handle for packages that keep their own
// buckets (send records, ledger); they write through Update all the same.
func (db *DB) Bolt() *bolt.DB { return db.bolt }

// Stats returns the group committer's counters.
func (db *DB) Stats() Stats {
	return Stats{Updates: db.updates.Load(), Commits: db.commits.Load(), Failed: db.failed.Load()}
}

// Update runs fn in a read-write transaction that may be shared with other
// concurrent Updates (group commit). When Update returns nil, fn's writes
// are on disk (fsynced), and the spool files of messages fn deleted are
// removed. If fn returns an error, none of fn's writes are
// committed and the error is returned; other callers' writes are unaffected.
// fn may be run more than once (when another fn in its group failed), so it
// must not have side effects outside tx.
//
// If ctx ends before fn's transaction starts, Update returns ctx.Err() and
// fn never runs; once the transaction has started, Update reports its real
// outcome. A failed commit fails every Update of the group with an error
// wrapping the cause. After Close, Update returns ErrClosed. A panic in fn
// is re-raised in the caller of Update.
//
// fn runs on the store's one committer goroutine, in a transaction it
// shares: it must be quick (no network, no waiting); it must not commit or
// roll back tx, call Update or View, or call runtime.Goexit (t.FailNow);
// and the values it passes to bbolt's Put must not change before Update
// returns.
//
// A failed commit is one of two kinds (see resolve). Either nothing of the
// group is written and never will be: the error does not wrap
// ErrCommitUncertain, and the caller may say so. Or the outcome is unknown:
// the error wraps ErrCommitUncertain, and from then on the store is failed
// (ErrFailed). A commit whose fsync reported an error but that the store
// then made durable returns nil: it is committed.
func (db *DB) Update(ctx context.Context, fn func(tx *Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r := &request{fn: fn, done: make(chan error, 1)}
	db.mu.Lock()
	if db.closed {
		db.mu.Unlock()
		return ErrClosed
	}
	if db.broken != nil {
		db.mu.Unlock()
		return db.broken
	}
	db.queue = append(db.queue, r)
	if db.testQueued != nil {
		db.testQueued(len(db.queue))
	}
	db.cond.Signal()
	db.mu.Unlock()

	var err error
	select {
	case err = <-r.done:
	case <-ctx.Done():
		if r.state.CompareAndSwap(waiting, cancelled) {
			return ctx.Err()
		}
		err = <-r.done // the committer has it: wait for the real result
	}
	if p, ok := err.(*panicError); ok {
		panic(p.value)
	}
	return err
}

// View runs fn in a read-only transaction. Once the store has failed
// (ErrFailed) it returns that error: what it would read may not be on disk.
func (db *DB) View(fn func(tx *Tx) error) error {
	db.mu.Lock()
	closed, broken := db.closed, db.broken
	db.mu.Unlock()
	if closed {
		return ErrClosed
	}
	if broken != nil {
		return broken
	}
	err := db.bolt.View(func(btx *bolt.Tx) error {
		return fn(&Tx{tx: btx, db: db})
	})
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return ErrClosed // Close ran after our check
	}
	return err
}

// Tx is a store transaction.
type Tx struct {
	tx *bolt.Tx
	db *DB

	// Side effects that wait for the commit (afterCommit); a transaction
	// that is rolled back (and re-run in a fresh Tx) drops them.
	removes  []string     // spool files of deleted messages
	enqueued []*SpoolFile // spool files of enqueued messages
}

// Bolt exposes the underlying bbolt transaction.
func (tx *Tx) Bolt() *bolt.Tx { return tx.tx }

// request states: the committer claims a waiting request (taken), or its
// caller withdraws it (cancelled); whichever swaps first wins.
const (
	waiting int32 = iota
	taken
	cancelled
)

// request is one Update waiting for, or inside, a group commit.
type request struct {
	fn     func(tx *Tx) error
	done   chan error // receives the outcome exactly once
	state  atomic.Int32
	failed bool // fn returned an error in this batch and was answered
}

// panicError carries a panic from fn back to the caller of Update.
type panicError struct{ value any }

func (p *panicError) Error() string { return fmt.Sprintf("store: panic in Update: %v", p.value) }

// call runs fn, turning a panic into a *panicError.
func (r *request) call(tx *Tx, log *slog.Logger) (err error) {
	defer func() {
		if v := recover(); v != nil {
			log.Error("panic in store Update", "panic", v, "stack", string(debug.Stack()))
			err = &panicError{value: v}
		}
	}()
	err = r.fn(tx)
	if err == nil && tx.tx.DB() == nil {
		err = errors.New("store: Update fn closed its transaction")
	}
	return err
}

// run is the committer: it takes the first waiting request and every one
// queued behind it (up to maxBatch), commits them in one transaction and
// answers them. Requests queue up while a commit is on disk, so batches grow
// with load without any timer. After Close it drains the queue and exits.
func (db *DB) run() {
	defer close(db.done)
	var batch []*request
	for {
		db.mu.Lock()
		for len(db.queue) == 0 && !db.closed {
			db.cond.Wait()
		}
		if len(db.queue) == 0 {
			db.mu.Unlock()
			return
		}
		n := min(len(db.queue), maxBatch)
		batch = append(batch[:0], db.queue[:n]...)
		rest := copy(db.queue, db.queue[n:])
		clear(db.queue[rest:])
		db.queue = db.queue[:rest]
		db.mu.Unlock()

		live := batch[:0]
		for _, r := range batch {
			if r.state.CompareAndSwap(waiting, taken) {
				live = append(live, r)
			}
		}
		db.commit(live)
		clear(batch)
	}
}

// commit runs the fns of reqs in one read-write transaction and answers
// every request. A fn that fails is answered at once and the transaction is
// rolled back and re-run without it.
func (db *DB) commit(reqs []*request) {
	for {
		db.mu.Lock()
		broken := db.broken
		db.mu.Unlock()
		if broken != nil {
			db.answerAll(reqs, broken)
			return
		}
		ok := 0
		for _, r := range reqs {
			if !r.failed {
				ok++
			}
		}
		if ok == 0 {
			return
		}
		btx, err := db.bolt.Begin(true)
		if err != nil {
			db.failed.Add(1)
			db.log.Error("store begin failed", "updates", ok, "err", err)
			db.answerAll(reqs, fmt.Errorf("store: begin transaction: %w", err))
			return
		}
		tx := &Tx{tx: btx, db: db}
		rerun := false
		for _, r := range reqs {
			if r.failed {
				continue
			}
			if err := r.call(tx, db.log); err != nil {
				r.failed = true
				r.done <- err
				rerun = true
				break
			}
		}
		if rerun {
			_ = btx.Rollback() // ErrTxClosed if fn closed it; nothing to undo then
			continue
		}
		txid := btx.ID()
		err = db.commitTx(btx)
		if err != nil {
			db.failed.Add(1)
			err = db.resolve(txid, err)
			if err != nil {
				db.log.Error("store commit failed", "updates", ok, "err", err)
				if errors.Is(err, ErrCommitUncertain) {
					// The writes may be on disk: the spool files they name
					// stay (Open's sweep decides), and those of deleted
					// messages too.
					for _, f := range tx.enqueued {
						f.committed.Store(true)
					}
				}
				db.answerAll(reqs, err)
				return
			}
			db.log.Warn("store commit reported an error, but its writes are durable: a later commit on top of them was synced", "updates", ok, "txid", txid)
		}
		db.commits.Add(1)
		db.updates.Add(uint64(ok))
		if len(tx.removes) > 0 || len(tx.enqueued) > 0 {
			db.afterCommit(tx) // before the answers: Update's caller sees it done
		}
		db.answerAll(reqs, nil)
		return
	}
}

// answerAll answers every request of reqs not yet answered.
func (db *DB) answerAll(reqs []*request, err error) {
	for _, r := range reqs {
		if !r.failed {
			r.done <- err
		}
	}
}
