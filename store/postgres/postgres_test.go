package postgres

import (
	"context"
	"errors"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/careerrelay/careerrelay/internal/testlib"
	"github.com/careerrelay/careerrelay/store"
	"github.com/careerrelay/careerrelay/store/storetest"
)

func open(t *testing.T, dsn string) *Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := Open(ctx, dsn, Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// TestContract: the store passes the contract of store.Shared, each
// subtest on an empty database of one private server.
func TestContract(t *testing.T) {
	pg := testlib.NewPostgres(t)
	storetest.Run(t, func(t *testing.T) store.Shared { return open(t, pg.NewDatabase(t)) })
}

// TestTwoNodes: two Stores on one database (two nodes) open at once, both
// migrating a new database, and increments through both are counted
// exactly once each.
func TestTwoNodes(t *testing.T) {
	dsn := testlib.StartPostgres(t)
	var a, b *Store
	var wg sync.WaitGroup
	for _, s := range []**Store{&a, &b} {
		wg.Go(func() {
			st, err := Open(context.Background(), dsn, Options{})
			if err != nil {
				t.Errorf("Open: %v", err)
				return
			}
			*s = st
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	defer a.Close()
	defer b.Close()
	var versions int
	if err := a.pool.QueryRow(context.Background(), "SELECT count(*) FROM schema_migrations").Scan(&versions); err != nil || versions != 1 {
		t.Fatalf("schema_migrations: %d rows, %v; want 1", versions, err)
	}
	// A third node opening a migrated database changes nothing.
	open(t, dsn)
	storetest.Counter(t, a, b, 60)
}

// TestRetryBound: an Update that always fails with a serialization
// failure gives up after MaxAttempts runs of fn, with that error.
func TestRetryBound(t *testing.T) {
	dsn := testlib.StartPostgres(t)
	s, err := Open(context.Background(), dsn, Options{MaxAttempts: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	runs := 0
	err = s.Update(context.Background(), func(tx store.SharedTx) error {
		runs++
		// A statement that fails as a serialization failure would.
		_, err := tx.(*txn).tx.Exec(context.Background(), "DO $$ BEGIN RAISE EXCEPTION 'conflict' USING ERRCODE = '40001'; END $$")
		return tx.(*txn).fail(err)
	})
	if runs != 3 || err == nil || !retryable(err) || !strings.Contains(err.Error(), "gave up after 3 attempts") {
		t.Fatalf("Update: %d runs, %v; want 3 runs and a serialization failure", runs, err)
	}
}

// TestUnknownBucket: a bucket that is not one of store.SharedBuckets fails
// the transaction, without a panic, even when fn ignores the error.
func TestUnknownBucket(t *testing.T) {
	s := open(t, testlib.StartPostgres(t))
	err := s.Update(context.Background(), func(tx store.SharedTx) error {
		b := tx.Bucket("nope")
		if v := b.Get([]byte("k")); v != nil {
			t.Errorf("Get = %q", v)
		}
		if k, _ := b.Cursor().First(); k != nil {
			t.Errorf("First = %q", k)
		}
		if err := b.Put([]byte("k"), []byte("v")); err == nil {
			t.Error("Put in an unknown bucket: no error")
		}
		return tx.Bucket(store.BucketReferrals).Put([]byte("k"), []byte("v")) // ignored
	})
	if err == nil || !strings.Contains(err.Error(), `no bucket "nope"`) {
		t.Fatalf("Update = %v, want the unknown bucket's error", err)
	}
	if err := s.View(func(tx store.SharedTx) error {
		if v := tx.Bucket(store.BucketReferrals).Get([]byte("k")); v != nil {
			t.Errorf("the failed Update's write is there: %q", v)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// Writes in a View fail it.
	err = s.View(func(tx store.SharedTx) error { return tx.Bucket(store.BucketReferrals).Put([]byte("k"), []byte("v")) })
	if err == nil {
		t.Fatal("Put in a View: no error")
	}
}

// TestUnavailable: with the server stopped, Update, View and Ping fail
// with ErrUnavailable (and fn does not run); once it runs again, the same
// Store works, its pool reconnecting by itself.
func TestUnavailable(t *testing.T) {
	pg := testlib.NewPostgres(t)
	s := open(t, pg.DSN)
	ctx := context.Background()
	put := func(v string) error {
		return s.Update(ctx, func(tx store.SharedTx) error {
			return tx.Bucket(store.BucketReferrals).Put([]byte("k"), []byte(v))
		})
	}
	if err := put("1"); err != nil {
		t.Fatal(err)
	}
	// A restart breaks every connection of the pool, which pings only
	// those idle for over a second: Update drops the broken ones.
	fillPool(t, s)
	pg.Stop(t)
	pg.Start(t)
	if err := put("2"); err != nil {
		t.Fatalf("Update after a restart, on a full pool of broken connections: %v", err)
	}
	fillPool(t, s)
	pg.Stop(t)
	ran := false
	err := s.Update(ctx, func(tx store.SharedTx) error {
		ran = true
		return tx.Bucket(store.BucketReferrals).Put([]byte("k"), []byte("2"))
	})
	if !errors.Is(err, ErrUnavailable) || errors.Is(err, store.ErrCommitUncertain) {
		t.Fatalf("Update with the server stopped: %v; want ErrUnavailable", err)
	}
	if ran {
		t.Error("fn ran with the server stopped")
	}
	if err := s.View(func(store.SharedTx) error { return nil }); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("View with the server stopped: %v; want ErrUnavailable", err)
	}
	if err := s.Ping(ctx); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Ping with the server stopped: %v; want ErrUnavailable", err)
	}
	t.Logf("with the server stopped: %v", err)
	pg.Start(t)
	if err := put("3"); err != nil {
		t.Fatalf("Update after the server restarted: %v", err)
	}
	if err := s.View(func(tx store.SharedTx) error {
		if v := tx.Bucket(store.BucketReferrals).Get([]byte("k")); string(v) != "3" {
			t.Errorf("after the restart: %q, want 3", v)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
}

// fillPool makes s's pool hold as many connections as it may.
func fillPool(t *testing.T, s *Store) {
	t.Helper()
	var wg sync.WaitGroup
	barrier := make(chan struct{})
	for range s.pool.Config().MaxConns {
		wg.Go(func() {
			s.View(func(store.SharedTx) error { <-barrier; return nil })
		})
	}
	testlib.WaitFor(t, 10*time.Second, "a full pool", func() bool { return s.pool.Stat().AcquiredConns() == s.pool.Config().MaxConns })
	close(barrier)
	wg.Wait()
}

// TestOpenUnavailable: Open of a server that is not there fails with
// ErrUnavailable.
func TestOpenUnavailable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := Open(ctx, "host="+t.TempDir()+" user=postgres sslmode=disable", Options{})
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Open: %v; want ErrUnavailable", err)
	}
}

// TestBrokenConnection: a connection that breaks in the middle of fn (its
// backend is terminated) fails that run with ErrUnavailable; Update runs fn
// once more on another connection, which commits.
func TestBrokenConnection(t *testing.T) {
	s := open(t, testlib.StartPostgres(t))
	ctx := context.Background()
	runs := 0
	err := s.Update(ctx, func(tx store.SharedTx) error {
		runs++
		if runs == 1 {
			var pid int
			if err := tx.(*txn).tx.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
				return err
			}
			if _, err := s.pool.Exec(ctx, "SELECT pg_terminate_backend($1)", pid); err != nil {
				return err
			}
		}
		return tx.Bucket(store.BucketReferrals).Put([]byte("k"), []byte("v"))
	})
	if err != nil || runs != 2 {
		t.Fatalf("Update: %v after %d runs; want success after 2", err, runs)
	}
	if err := s.View(func(tx store.SharedTx) error {
		if v := tx.Bucket(store.BucketReferrals).Get([]byte("k")); string(v) != "v" {
			t.Errorf("k = %q, want v", v)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// TestCommitUncertain: the connection dies after COMMIT was sent and before
// its answer (a deferred trigger holds the COMMIT, then the backend is
// killed): Update returns an error wrapping store.ErrCommitUncertain and
// ErrUnavailable, and does not run fn again. Once the server has recovered,
// the Store works.
func TestCommitUncertain(t *testing.T) {
	s := open(t, testlib.StartPostgres(t))
	ctx := context.Background()
	if _, err := s.pool.Exec(ctx, `
		CREATE FUNCTION slow() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN IF NEW.key = 'slow'::bytea THEN PERFORM pg_sleep(60); END IF; RETURN NULL; END $$;
		CREATE CONSTRAINT TRIGGER slow AFTER INSERT ON kv DEFERRABLE INITIALLY DEFERRED
		FOR EACH ROW EXECUTE FUNCTION slow()`); err != nil {
		t.Fatal(err)
	}
	pids := make(chan int, 10)
	done := make(chan error, 1)
	runs := 0
	go func() {
		done <- s.Update(ctx, func(tx store.SharedTx) error {
			runs++
			var pid int
			if err := tx.(*txn).tx.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
				return err
			}
			pids <- pid
			return tx.Bucket(store.BucketReferrals).Put([]byte("slow"), []byte("v"))
		})
	}()
	pid := <-pids
	testlib.WaitFor(t, 30*time.Second, "the COMMIT in the deferred trigger", func() bool {
		var event string
		s.pool.QueryRow(ctx, "SELECT coalesce(wait_event, '') FROM pg_stat_activity WHERE pid = $1", pid).Scan(&event)
		return event == "PgSleep"
	})
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err := <-done
	if !errors.Is(err, store.ErrCommitUncertain) || !errors.Is(err, ErrUnavailable) || runs != 1 {
		t.Fatalf("Update: %v after %d runs; want ErrCommitUncertain and ErrUnavailable after 1", err, runs)
	}
	t.Logf("the uncertain commit: %v", err)
	// The postmaster restarts every backend and recovers; meanwhile
	// Update fails with ErrUnavailable.
	var last error
	if !testlib.Poll(60*time.Second, func() bool {
		last = s.Update(ctx, func(tx store.SharedTx) error {
			return tx.Bucket(store.BucketReferrals).Put([]byte("after"), []byte("v"))
		})
		if last != nil && !errors.Is(last, ErrUnavailable) {
			t.Fatalf("Update while the server recovers: %v; want ErrUnavailable", last)
		}
		return last == nil
	}) {
		t.Fatalf("the Store did not work again after the server recovered: %v", last)
	}
}

// TestNoStarvation: many clients incrementing one counter at once, each
// Update allowed only serialAfter+1 attempts, all succeed and the count is
// exact: a transaction that keeps losing serialization conflicts runs
// alone on its last attempt instead of giving up (without the exclusive
// attempt, some of these Updates give up).
func TestNoStarvation(t *testing.T) {
	dsn := testlib.StartPostgres(t)
	s, err := Open(context.Background(), dsn, Options{MaxAttempts: serialAfter + 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const clients, each = 12, 25
	key := []byte("n")
	var wg sync.WaitGroup
	var failed sync.Map
	for c := 0; c < clients; c++ {
		wg.Go(func() {
			for i := 0; i < each; i++ {
				err := s.Update(context.Background(), func(tx store.SharedTx) error {
					b := tx.Bucket(store.BucketSends)
					n := 0
					if v := b.Get(key); v != nil {
						n = int(v[0])<<8 | int(v[1])
					}
					n++
					return b.Put(key, []byte{byte(n >> 8), byte(n)})
				})
				if err != nil {
					failed.Store(err.Error(), true)
				}
			}
		})
	}
	wg.Wait()
	failed.Range(func(k, _ any) bool { t.Errorf("Update failed: %v", k); return true })
	var n int
	s.View(func(tx store.SharedTx) error {
		v := tx.Bucket(store.BucketSends).Get(key)
		n = int(v[0])<<8 | int(v[1])
		return nil
	})
	if n != clients*each {
		t.Errorf("counter %d, want %d", n, clients*each)
	}
}
