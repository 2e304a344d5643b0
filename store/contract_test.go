package store_test

import (
	"path/filepath"
	"testing"

	"github.com/careerrelay/careerrelay/store"
	"github.com/careerrelay/careerrelay/store/storetest"
)

// TestSharedContract: the bbolt file's Shared passes the contract of the
// shared records' store (package store/storetest), as PostgreSQL's does.
func TestSharedContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Shared {
		db, err := store.Open(filepath.Join(t.TempDir(), "careerrelay.db"), store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db.Shared()
	})
}
