package store

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
)

// TestScrubFreeLeavesNoDeletedBytes deletes a record and shows that its
// bytes stay in the file (bbolt frees the page without clearing it) until
// ScrubFree zeroes the free pages; the records still there are intact.
func TestScrubFreeLeavesNoDeletedBytes(t *testing.T) {
	db, path := openTest(t, Options{})
	ctx := context.Background()
	secret := []byte("erase-me-" + strings.Repeat("x", 40) + "@candidate.example")
	keep := []byte("keep-me-" + strings.Repeat("y", 40) + "@candidate.example")
	put := func(k string, v []byte) {
		t.Helper()
		if err := db.Update(ctx, func(tx *Tx) error { return tx.Bolt().Bucket([]byte(BucketAudit)).Put([]byte(k), v) }); err != nil {
			t.Fatal(err)
		}
	}
	put("a", secret)
	put("b", keep)
	if err := db.Update(ctx, func(tx *Tx) error { return tx.Bolt().Bucket([]byte(BucketAudit)).Delete([]byte("a")) }); err != nil {
		t.Fatal(err)
	}
	inFile := func(b []byte) bool {
		t.Helper()
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return bytes.Contains(data, b)
	}
	if !inFile(secret) {
		t.Fatal("the deleted record is not in the file before the scrub: the test would prove nothing")
	}
	n, err := db.ScrubFree(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 || inFile(secret) {
		t.Fatalf("after ScrubFree (%d pages zeroed) the deleted record is still in the file", n)
	}
	if !inFile(keep) {
		t.Error("the record that was kept is gone from the file")
	}
	err = db.View(func(tx *Tx) error {
		if got := tx.Bolt().Bucket([]byte(BucketAudit)).Get([]byte("b")); !bytes.Equal(got, keep) {
			t.Errorf("kept record reads %q", got)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The store opens again and still reads it.
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db2, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	if err := db2.View(func(tx *Tx) error {
		if got := tx.Bolt().Bucket([]byte(BucketAudit)).Get([]byte("b")); !bytes.Equal(got, keep) {
			t.Errorf("after reopening, kept record reads %q", got)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n, err := db2.ScrubFree(ctx); err != nil || n != 0 {
		t.Errorf("a second scrub zeroed %d pages (err %v), want 0: free pages were zeroed already", n, err)
	}
}

// TestScrubFreeWaitsForReaders: while a read transaction is open the pass
// does not run (it could zero a page that reader still uses), and it gives
// up at the context's deadline.
func TestScrubFreeWaitsForReaders(t *testing.T) {
	db, _ := openTest(t, Options{})
	rtx, err := db.Bolt().Begin(false)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200e6)
	defer cancel()
	if _, err := db.ScrubFree(ctx); err == nil {
		t.Error("ScrubFree ran while a reader was open")
	}
	rtx.Rollback()
	if _, err := db.ScrubFree(context.Background()); err != nil {
		t.Errorf("ScrubFree with no reader: %v", err)
	}
}
