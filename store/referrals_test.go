package store

import (
	"context"
	"path/filepath"
	"testing"
)

// Open creates package referral's buckets, and what is written to them
// survives a reopen.
func TestReferralBucketsCreatedAndKept(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.db")
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(context.Background(), func(tx *Tx) error {
		for _, name := range referralBuckets {
			b := tx.Bolt().Bucket(name)
			if b == nil {
				t.Errorf("bucket %s missing after Open", name)
				continue
			}
			if err := b.Put([]byte("k"), name); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if db, err = Open(path, Options{}); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.View(func(tx *Tx) error {
		for _, name := range referralBuckets {
			if v := tx.Bolt().Bucket(name).Get([]byte("k")); string(v) != string(name) {
				t.Errorf("bucket %s after reopen: %q", name, v)
			}
		}
		return nil
	})
}
