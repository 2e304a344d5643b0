// Package postgres keeps the shared records (store.Shared: send records,
// clicks, referrals, the ledger and balances, the webhook outbox, the audit
// trail, the privacy state, ratings) in PostgreSQL, so that several
// careerrelay nodes share them; one node keeps them in its bbolt file
// (store.DB.Shared). Both are held to the contract of package
// store/storetest.
//
// Every bucket is rows of one table, kv(bucket, key, value), keys bytea
// (compared bytewise, as bbolt's), with each bucket's sequence in kv_seq.
// Update runs fn in a SERIALIZABLE transaction and runs it again after a
// serialization failure or a deadlock; View is a REPEATABLE READ READ ONLY
// transaction, a snapshot. The schema is created and migrated by Open,
// under an advisory lock, so nodes may start together.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/careerrelay/careerrelay/store"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ErrUnavailable is wrapped in the error of Open, Update, View and Ping
// when the database cannot be reached: the connection is refused, broken,
// or the server is shutting down or starting. It is temporary: the pool
// connects again by itself, and a later call may succeed, so a caller
// answers "try again later" (SMTP 451, HTTP 503).
//
// An Update whose COMMIT was sent but not answered returns an error that
// wraps ErrUnavailable and store.ErrCommitUncertain: its writes may or may
// not be committed; it is not run again.
// It is store.ErrUnavailable, which the rest of careerrelay checks for
// without knowing which database is behind the shared store.
var ErrUnavailable = store.ErrUnavailable

// Options tunes a Store; the zero value is the default.
type Options struct {
	// MaxConns bounds the pool's connections (default: pgxpool's, the
	// larger of 4 and the number of CPUs; or pool_max_conns in the DSN).
	MaxConns int32
	// StatementTimeout bounds each statement on the server (default 30 s,
	// unless the DSN sets statement_timeout), so that View, which has no
	// context, cannot hang on a stuck server.
	StatementTimeout time.Duration
	// MaxAttempts bounds how often Update runs fn after serialization
	// failures and deadlocks (default 20).
	MaxAttempts int
}

// Defaults of Options.
const (
	defaultStatementTimeout = 30 * time.Second
	defaultMaxAttempts      = 20
	defaultConnectTimeout   = 10 * time.Second
	// pageSize is how many rows ForEach and a Cursor read at a time.
	pageSize = 512
	// Backoff between attempts of Update: a random time up to the
	// bound, which doubles from retryFirst to retryMax.
	retryFirst = 2 * time.Millisecond
	retryMax   = 200 * time.Millisecond
	// migrateLock is the key of the advisory lock of migrations.
	migrateLock = 0x63726d6967 // "crmig"
	// updateLock is the key of the advisory lock every Update takes: shared
	// (for its transaction) on its first attempts, exclusive (for the
	// attempt, taken before it begins) from attempt serialAfter+1 on and
	// on the last, so that a transaction that keeps losing serialization
	// conflicts runs alone instead of starving.
	updateLock  = 0x6372757064 // "crupd"
	serialAfter = 3
)

// Store is the shared records in a PostgreSQL database. It is safe for
// concurrent use; several Stores, in one process or many, may use one
// database.
type Store struct {
	pool        *pgxpool.Pool
	maxAttempts int
	buckets     map[string]bool
}

var _ store.Shared = (*Store)(nil)

//go:embed migrations/*.sql
var migrations embed.FS

// Open connects to the database of dsn (a libpq connection string or URL),
// creates or migrates the schema, and returns the Store. A database that
// cannot be reached gives an error wrapping ErrUnavailable.
func Open(ctx context.Context, dsn string, opts Options) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	timeout := opts.StatementTimeout
	if timeout <= 0 {
		timeout = defaultStatementTimeout
	}
	if _, set := cfg.ConnConfig.RuntimeParams["statement_timeout"]; !set {
		cfg.ConnConfig.RuntimeParams["statement_timeout"] = strconv.FormatInt(timeout.Milliseconds(), 10)
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = defaultConnectTimeout
	}
	s := &Store{maxAttempts: opts.MaxAttempts, buckets: map[string]bool{}}
	if s.maxAttempts <= 0 {
		s.maxAttempts = defaultMaxAttempts
	}
	for _, b := range store.SharedBuckets {
		s.buckets[b] = true
	}
	if s.pool, err = pgxpool.NewWithConfig(ctx, cfg); err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if err := s.migrate(ctx); err != nil {
		s.pool.Close()
		return nil, err
	}
	return s, nil
}

// Close closes the pool's connections; it waits for those in use.
func (s *Store) Close() { s.pool.Close() }

// Ping checks that the database answers (for the health check).
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return classify("ping", err, false)
	}
	return nil
}

// Scrub rewrites the table of the shared records (VACUUM FULL), so that
// the old versions of rows an erasure or the retention pass blanked leave
// the table's files, then forces a checkpoint, after which the old files
// are gone. It takes an exclusive lock on the table for as long as the
// rewrite lasts: every node waits for it. What it cannot reach: the WAL
// segments not yet recycled, replicas' own WAL, and backups.
func (s *Store) Scrub(ctx context.Context) error {
	for _, q := range []string{"VACUUM (FULL) kv", "CHECKPOINT"} {
		if _, err := s.pool.Exec(ctx, q); err != nil {
			return classify("scrub", err, false)
		}
	}
	return nil
}

// migrate applies the migrations the database lacks, in order, in one
// transaction that holds an advisory lock: a node that starts while
// another migrates waits for it and then finds nothing to do. A database
// migrated by a newer node, with versions this binary does not know, is
// used as it is (migrations only add).
func (s *Store) migrate(ctx context.Context) error {
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	slices.Sort(names)
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(migrateLock)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version int PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
			return err
		}
		rows, _ := tx.Query(ctx, "SELECT version FROM schema_migrations")
		applied, err := pgx.CollectRows(rows, pgx.RowTo[int32])
		if err != nil {
			return err
		}
		for _, name := range names {
			base := strings.TrimPrefix(name, "migrations/")
			prefix, _, _ := strings.Cut(base, "_")
			v, err := strconv.Atoi(prefix)
			if err != nil {
				return fmt.Errorf("migration %s: no version", name)
			}
			if slices.Contains(applied, int32(v)) {
				continue
			}
			sql, err := migrations.ReadFile(name)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, string(sql)); err != nil {
				return fmt.Errorf("migration %s: %w", base, err)
			}
			if _, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version) VALUES ($1)", v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return classify("migrate", err, false)
	}
	return nil
}

// Update runs fn in a SERIALIZABLE transaction and commits it. After a
// serialization failure or a deadlock (in fn's statements or at COMMIT) it
// rolls back and runs fn again, after a random pause that grows from
// 2 ms to 200 ms, at most Options.MaxAttempts times in all. Under a steady
// stream of conflicting Updates (every consent appends to the one ledger
// chain) a retry could lose to the next newcomer again and again. So each
// of the first serialAfter attempts takes an advisory lock (updateLock)
// shared, for its transaction; later attempts, and the last, take it
// exclusive on their connection before they begin (so that their snapshot
// is taken after the wait) and give it back after their COMMIT or
// ROLLBACK. PostgreSQL queues a shared request behind a waiting exclusive
// one: the exclusive attempt waits only for the Updates already running,
// then runs alone among Updates and cannot lose a conflict to another. A pooled
// connection that broke before COMMIT (one kept across a server restart)
// is dropped and fn runs again on another; a failure to connect returns an
// error wrapping ErrUnavailable at once. Any failed statement in fn fails
// the transaction, even when fn ignores the error (Get reports none): that
// error is returned, and nothing is committed. If ctx ends before the
// transaction starts, fn does not run; COMMIT itself is not cancelled by
// ctx, so that its outcome is known.
func (s *Store) Update(ctx context.Context, fn func(tx store.SharedTx) error) error {
	bound := retryFirst
	broken := 0
	for attempt := 1; ; attempt++ {
		err := s.attempt(ctx, fn, attempt > serialAfter || attempt == s.maxAttempts)
		var ce *pgconn.ConnectError
		switch {
		case err == nil:
			return nil
		case errors.Is(err, ErrUnavailable) && !errors.As(err, &ce) && !errors.Is(err, store.ErrCommitUncertain) &&
			broken <= int(s.pool.Config().MaxConns) && ctx.Err() == nil:
			// A pooled connection that broke before COMMIT (the server
			// restarted since it was last used): the pool drops it, and
			// fn runs again on another one, or a new one. Nothing was
			// committed. A failure to connect is returned at once.
			broken++
			attempt--
			continue
		case !retryable(err):
			return err
		case attempt >= s.maxAttempts:
			return fmt.Errorf("postgres: update: gave up after %d attempts: %w", attempt, err)
		}
		t := time.NewTimer(time.Duration(rand.Int64N(int64(bound))) + 100*time.Microsecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("postgres: update: %w (after %v)", ctx.Err(), err)
		case <-t.C:
		}
		bound = min(2*bound, retryMax)
	}
}

// attempt runs fn once in a transaction, alone among Updates when
// exclusive is set.
func (s *Store) attempt(ctx context.Context, fn func(tx store.SharedTx) error, exclusive bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	opts := pgx.TxOptions{IsoLevel: pgx.Serializable}
	var ptx pgx.Tx
	var err error
	if exclusive {
		c, lerr := s.lockExclusive(ctx)
		if lerr != nil {
			return lerr
		}
		defer s.unlockExclusive(ctx, c) // after the rollback below
		ptx, err = c.BeginTx(ctx, opts)
	} else {
		ptx, err = s.pool.BeginTx(ctx, opts)
	}
	if err != nil {
		return classify("update: begin", err, false)
	}
	defer rollback(ctx, ptx) // after a panic in fn, a failure, or a commit (then a no-op)
	if !exclusive {
		if _, err := ptx.Exec(ctx, "SELECT pg_advisory_xact_lock_shared($1)", int64(updateLock)); err != nil {
			return classify("update: lock", err, ptx.Conn().IsClosed())
		}
	}
	t := &txn{s: s, ctx: ctx, tx: ptx}
	ferr := fn(t)
	if t.err != nil {
		// A statement failed: the transaction is aborted whatever fn
		// made of it; its error (a serialization failure?) decides.
		return classify("update", t.err, t.closed())
	}
	if ferr != nil {
		return ferr
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), defaultStatementTimeout)
	defer cancel()
	if err := ptx.Commit(cctx); err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) || pgconn.SafeToRetry(err) {
			// The server refused the COMMIT (a serialization failure,
			// retried), or it was never sent: nothing was committed.
			return classify("update: commit", err, false)
		}
		// Sent, and no answer: committed or not, no one can tell here.
		return fmt.Errorf("postgres: update: commit: %w: %w: %v", ErrUnavailable, store.ErrCommitUncertain, err)
	}
	return nil
}

// lockExclusive takes a pooled connection and updateLock exclusively on it,
// outside any transaction.
func (s *Store) lockExclusive(ctx context.Context) (*pgxpool.Conn, error) {
	c, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, classify("update: connect", err, false)
	}
	if _, err := c.Exec(ctx, "SELECT pg_advisory_lock($1)", int64(updateLock)); err != nil {
		closed := c.Conn().IsClosed()
		dropIfLocked(c)
		return nil, classify("update: lock", err, closed)
	}
	return c, nil
}

// unlockExclusive gives updateLock back and returns c to the pool.
func (s *Store) unlockExclusive(ctx context.Context, c *pgxpool.Conn) {
	uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if _, err := c.Exec(uctx, "SELECT pg_advisory_unlock($1)", int64(updateLock)); err != nil {
		dropIfLocked(c)
		return
	}
	c.Release()
}

// dropIfLocked closes c's connection instead of pooling it, because it
// may still hold updateLock: ending the session releases the lock.
func dropIfLocked(c *pgxpool.Conn) {
	cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c.Conn().Close(cctx)
	c.Release()
}

// rollback ends ptx unless it was committed, on a context that ctx's end
// does not cancel but that a stuck server cannot hold forever.
func rollback(ctx context.Context, ptx pgx.Tx) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	ptx.Rollback(rctx)
}

// View runs fn in a REPEATABLE READ READ ONLY transaction: every read in
// fn sees the same snapshot, taken at its first statement. Writes fail.
func (s *Store) View(fn func(tx store.SharedTx) error) error {
	ctx := context.Background()
	ptx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return classify("view: begin", err, false)
	}
	defer rollback(ctx, ptx)
	t := &txn{s: s, ctx: ctx, tx: ptx}
	ferr := fn(t)
	if t.err != nil {
		return classify("view", t.err, t.closed())
	}
	return ferr
}

// txn is a transaction; err is its first failed statement's error, after
// which PostgreSQL refuses every statement until the rollback.
type txn struct {
	s   *Store
	ctx context.Context
	tx  pgx.Tx
	err error
}

// closed reports whether the transaction's connection has been closed (it
// broke).
func (t *txn) closed() bool { return t.tx.Conn().IsClosed() }

// fail records the transaction's first error and returns it.
func (t *txn) fail(err error) error {
	if t.err == nil {
		t.err = err
	}
	return err
}

// Bucket returns the named bucket. A name that is not one of
// store.SharedBuckets is a programming error: it fails the transaction (the
// bucket's Get returns nil, its writes and ForEach return the error, its
// cursor is empty) rather than panic.
func (t *txn) Bucket(name string) store.Bucket {
	if !t.s.buckets[name] {
		t.fail(fmt.Errorf("postgres: no bucket %q", name))
	}
	return &bucket{t: t, name: name}
}

type bucket struct {
	t    *txn
	name string
}

func (b *bucket) check() error {
	if !b.t.s.buckets[b.name] {
		return b.t.fail(fmt.Errorf("postgres: no bucket %q", b.name))
	}
	if b.t.err != nil {
		return fmt.Errorf("postgres: transaction failed before: %w", b.t.err)
	}
	return nil
}

func (b *bucket) Get(key []byte) []byte {
	if b.check() != nil {
		return nil
	}
	var v []byte
	err := b.t.tx.QueryRow(b.t.ctx, "SELECT value FROM kv WHERE bucket = $1 AND key = $2", b.name, key).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		b.t.fail(err)
		return nil
	}
	if v == nil {
		v = []byte{}
	}
	return v
}

func (b *bucket) Put(key, value []byte) error {
	if err := b.check(); err != nil {
		return err
	}
	if len(key) == 0 {
		return errors.New("postgres: put: empty key")
	}
	if value == nil {
		value = []byte{}
	}
	_, err := b.t.tx.Exec(b.t.ctx, `INSERT INTO kv (bucket, key, value) VALUES ($1, $2, $3)
		ON CONFLICT (bucket, key) DO UPDATE SET value = excluded.value`, b.name, key, value)
	if err != nil {
		return b.t.fail(fmt.Errorf("postgres: put in %s: %w", b.name, err))
	}
	return nil
}

func (b *bucket) Delete(key []byte) error {
	if err := b.check(); err != nil {
		return err
	}
	if _, err := b.t.tx.Exec(b.t.ctx, "DELETE FROM kv WHERE bucket = $1 AND key = $2", b.name, key); err != nil {
		return b.t.fail(fmt.Errorf("postgres: delete in %s: %w", b.name, err))
	}
	return nil
}

func (b *bucket) NextSequence() (uint64, error) {
	if err := b.check(); err != nil {
		return 0, err
	}
	var seq int64
	err := b.t.tx.QueryRow(b.t.ctx, `INSERT INTO kv_seq (bucket, seq) VALUES ($1, 1)
		ON CONFLICT (bucket) DO UPDATE SET seq = kv_seq.seq + 1 RETURNING seq`, b.name).Scan(&seq)
	if err != nil {
		return 0, b.t.fail(fmt.Errorf("postgres: next sequence of %s: %w", b.name, err))
	}
	return uint64(seq), nil
}

// Sequence returns the bucket's current sequence number (0 before the
// first NextSequence).
func (b *bucket) Sequence() uint64 {
	if b.check() != nil {
		return 0
	}
	var seq int64
	err := b.t.tx.QueryRow(b.t.ctx, `SELECT seq FROM kv_seq WHERE bucket = $1`, b.name).Scan(&seq)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		b.t.fail(fmt.Errorf("postgres: sequence of %s: %w", b.name, err))
	}
	return uint64(seq)
}

// SetSequence sets the bucket's sequence number (store migrate: to the
// copied store's).
func (b *bucket) SetSequence(n uint64) error {
	if err := b.check(); err != nil {
		return err
	}
	_, err := b.t.tx.Exec(b.t.ctx, `INSERT INTO kv_seq (bucket, seq) VALUES ($1, $2)
		ON CONFLICT (bucket) DO UPDATE SET seq = $2`, b.name, int64(n))
	if err != nil {
		return b.t.fail(fmt.Errorf("postgres: set sequence of %s: %w", b.name, err))
	}
	return nil
}

// page reads up to pageSize rows of the bucket after the key from (from
// included when incl), in key order.
func (b *bucket) page(from []byte, incl bool) ([]kv, error) {
	if err := b.check(); err != nil {
		return nil, err
	}
	op := ">"
	if incl {
		op = ">="
	}
	rows, _ := b.t.tx.Query(b.t.ctx, "SELECT key, value FROM kv WHERE bucket = $1 AND key "+op+
		" $2 ORDER BY key LIMIT "+strconv.Itoa(pageSize), b.name, from)
	var page []kv
	var k, v []byte
	_, err := pgx.ForEachRow(rows, []any{&k, &v}, func() error {
		page = append(page, kv{slices.Clone(k), nonNil(slices.Clone(v))})
		return nil
	})
	if err != nil {
		return nil, b.t.fail(fmt.Errorf("postgres: read %s: %w", b.name, err))
	}
	return page, nil
}

func nonNil(v []byte) []byte {
	if v == nil {
		return []byte{}
	}
	return v
}

type kv struct{ k, v []byte }

func (b *bucket) ForEach(fn func(k, v []byte) error) error {
	c := &cursor{b: b}
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if err := fn(k, v); err != nil {
			return err
		}
	}
	return c.err
}

func (b *bucket) Cursor() store.Cursor { return &cursor{b: b} }

// cursor holds one page of rows; Next reads the following page after its
// last key when the page was full.
type cursor struct {
	b    *bucket
	page []kv
	i    int
	err  error
}

func (c *cursor) load(from []byte, incl bool) (key, value []byte) {
	c.page, c.i = nil, 0
	c.page, c.err = c.b.page(from, incl)
	return c.at()
}

func (c *cursor) at() (key, value []byte) {
	if c.i >= len(c.page) {
		return nil, nil
	}
	return c.page[c.i].k, c.page[c.i].v
}

func (c *cursor) First() (key, value []byte) { return c.load([]byte{}, true) }

// Last positions the cursor on the bucket's last key.
func (c *cursor) Last() (key, value []byte) {
	c.page, c.i = nil, 0
	if err := c.b.check(); err != nil {
		c.err = err
		return nil, nil
	}
	var k, v []byte
	err := c.b.t.tx.QueryRow(c.b.t.ctx, "SELECT key, value FROM kv WHERE bucket = $1 ORDER BY key DESC LIMIT 1", c.b.name).Scan(&k, &v)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, nil
	case err != nil:
		c.err = c.b.t.fail(fmt.Errorf("postgres: read %s: %w", c.b.name, err))
		return nil, nil
	}
	c.page = []kv{{slices.Clone(k), nonNil(slices.Clone(v))}}
	return c.at()
}

func (c *cursor) Seek(seek []byte) (key, value []byte) {
	if seek == nil {
		seek = []byte{}
	}
	return c.load(seek, true)
}

func (c *cursor) Next() (key, value []byte) {
	if c.i >= len(c.page) {
		return nil, nil // past the end, or not positioned
	}
	c.i++
	if c.i == len(c.page) && len(c.page) == pageSize {
		return c.load(c.page[c.i-1].k, false)
	}
	return c.at()
}

// retryable reports a serialization failure or a deadlock.
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
}

// unavailable reports whether err means the server could not be reached
// or the connection broke (closed: the connection is closed after it).
func unavailable(err error, closed bool) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		// Connection exceptions; the server shutting down, crashed or
		// starting; too many connections.
		return strings.HasPrefix(pe.Code, "08") || pe.Code == "57P01" || pe.Code == "57P02" ||
			pe.Code == "57P03" || pe.Code == "53300"
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	return closed || errors.Is(err, pgconn.ErrConnClosed) || errors.As(err, &ce) || errors.As(err, &ne) || errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// classify wraps err for what was done, with ErrUnavailable when it is a
// failure to reach the server.
func classify(what string, err error, closed bool) error {
	if unavailable(err, closed) {
		return fmt.Errorf("postgres: %s: %w: %w", what, ErrUnavailable, err)
	}
	return fmt.Errorf("postgres: %s: %w", what, err)
}
