package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/careerrelay/careerrelay/configs"
	"github.com/careerrelay/careerrelay/internal/referral"
	"github.com/careerrelay/careerrelay/store"
	"github.com/careerrelay/careerrelay/store/postgres"
)

const storeUsage = `Usage:
  careerrelay store migrate -config FILE -from-bbolt PATH

migrate copies the shared records (send records, clicks, referrals, the
ledger and balances, the webhook outbox, the audit trail, the privacy
state) of a node's bbolt file PATH (its data_dir/careerrelay.db) into the
PostgreSQL database of FILE's store.shared, then verifies the ledger there.
Stop the node first: bbolt allows one process per file. Running it again
copies the same records onto themselves and duplicates nothing. It refuses
a database that holds another store's ledger or privacy key. The mail
queue is not copied: let the node deliver it before, or keep that node's
data_dir.
`

// runStore handles the shared store's operations.
func runStore(args []string) int {
	sub := ""
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		sub, args = args[0], args[1:]
	}
	fs := flag.NewFlagSet("store "+sub, flag.ContinueOnError)
	fs.Usage = func() { io.WriteString(os.Stderr, storeUsage+"\nFlags:\n"); fs.PrintDefaults() }
	path := fs.String("config", "", "configuration file (YAML) with store.shared")
	from := fs.String("from-bbolt", "", "migrate: the bbolt file to copy (data_dir/careerrelay.db of a stopped node)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if sub != "migrate" || *path == "" || *from == "" || fs.NArg() > 0 {
		fmt.Fprint(os.Stderr, "store: migrate, -config FILE and -from-bbolt PATH are required\n\n"+storeUsage)
		return 2
	}
	cfg, err := configs.Load(*path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if cfg.Store.Shared.Driver == "" {
		fmt.Fprintf(os.Stderr, "store migrate: %s has no store.shared: name the PostgreSQL database to copy into\n", *path)
		return 2
	}
	if err := migrateStore(context.Background(), cfg, *from, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "store migrate:", err)
		return 1
	}
	return 0
}

// migrateBatch bounds the records one PostgreSQL transaction copies.
const migrateBatch = 500

// migrateStore copies the shared buckets of the bbolt file at path into
// cfg's PostgreSQL store and verifies the ledger there.
func migrateStore(ctx context.Context, cfg *configs.Config, path string, out io.Writer) error {
	src, err := store.Open(path, store.Options{LockTimeout: 2 * time.Second})
	if err != nil {
		return fmt.Errorf("open %s (stop the node that uses it first): %w", path, err)
	}
	defer src.Close()
	dst, err := postgres.Open(ctx, cfg.Store.Shared.DSN, postgres.Options{})
	if err != nil {
		return err
	}
	defer dst.Close()
	if err := sameStore(src.Shared(), dst); err != nil {
		return err
	}
	for _, name := range store.SharedBuckets {
		n, err := copyBucket(ctx, src.Shared(), dst, name)
		if err != nil {
			return fmt.Errorf("copy %s: %w", name, err)
		}
		fmt.Fprintf(out, "%-18s %d records\n", name, n)
	}
	// The ledger as every node will read it from the database.
	svc, err := referral.New(cfg, src, nil, referral.Options{Shared: dst})
	if err != nil {
		return err
	}
	entries, err := svc.Ledger()
	if err != nil {
		return err
	}
	if err := referral.Verify(entries); err != nil {
		return fmt.Errorf("the copied ledger does not verify: %w", err)
	}
	head := ""
	if len(entries) > 0 {
		head = entries[len(entries)-1].Hash
	}
	fmt.Fprintf(out, "ledger OK: %d entries, head %s\n", len(entries), head)
	return nil
}

// sameStore refuses to copy into a database that already holds another
// store's records: a different privacy key, or a ledger whose first entry
// differs (two chains cannot be merged).
func sameStore(src, dst store.Shared) error {
	var srcKey, dstKey, srcFirst, dstFirst []byte
	read := func(s store.Shared, key, first *[]byte) error {
		return s.View(func(tx store.SharedTx) error {
			*key = bytes.Clone(tx.Bucket(store.BucketPrivacy).Get([]byte("key_check")))
			_, v := tx.Bucket(store.BucketLedger).Cursor().First()
			*first = bytes.Clone(v)
			return nil
		})
	}
	if err := read(src, &srcKey, &srcFirst); err != nil {
		return err
	}
	if err := read(dst, &dstKey, &dstFirst); err != nil {
		return err
	}
	switch {
	case srcKey != nil && dstKey != nil && !bytes.Equal(srcKey, dstKey):
		return errors.New("the database's privacy key is not this store's: it holds another store's records")
	case srcFirst != nil && dstFirst != nil && !bytes.Equal(srcFirst, dstFirst):
		return errors.New("the database holds another ledger: two hash chains cannot be merged")
	}
	return nil
}

// copyBucket copies every record of bucket name, migrateBatch a
// transaction, and the bucket's sequence; it returns how many records.
func copyBucket(ctx context.Context, src, dst store.Shared, name string) (int, error) {
	var after []byte
	total := 0
	for {
		var keys, vals [][]byte
		var seq uint64
		err := src.View(func(tx store.SharedTx) error {
			b := tx.Bucket(name)
			seq = b.Sequence()
			c := b.Cursor()
			k, v := c.First()
			if after != nil {
				if k, v = c.Seek(after); k != nil && bytes.Equal(k, after) {
					k, v = c.Next()
				}
			}
			for ; k != nil && len(keys) < migrateBatch; k, v = c.Next() {
				keys, vals = append(keys, bytes.Clone(k)), append(vals, bytes.Clone(v))
			}
			return nil
		})
		if err != nil {
			return total, err
		}
		err = dst.Update(ctx, func(tx store.SharedTx) error {
			b := tx.Bucket(name)
			for i := range keys {
				if err := b.Put(keys[i], vals[i]); err != nil {
					return err
				}
			}
			if b.Sequence() < seq {
				return b.SetSequence(seq)
			}
			return nil
		})
		if err != nil {
			return total, err
		}
		total += len(keys)
		if len(keys) < migrateBatch {
			return total, nil
		}
		after = keys[len(keys)-1]
	}
}
