package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"time"
)

// errReaders is returned by the scrub pass while read transactions are
// open: a page freed by a recent commit may still be read by them.
var errReaders = errors.New("store: read transactions are open")

// ScrubFree overwrites with zeros every page of the store file that bbolt
// has freed and that still holds data, and syncs the file, so that a
// record deleted or rewritten by an earlier commit (a candidate's erased
// address) leaves no byte behind in the file. bbolt never shrinks its file
// and reuses free pages only when it needs them, so without this a deleted
// value stays readable in the file for as long as its page is free.
//
// The pass runs in a write transaction, so no commit can take a free page
// while it is being zeroed, and only when no read transaction is open: one
// that began before the last commit may still read pages that commit
// freed. It waits for such a moment up to the deadline of ctx (or one
// minute). It returns how many pages it zeroed.
func (db *DB) ScrubFree(ctx context.Context) (int, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Minute)
		defer cancel()
	}
	f, err := os.OpenFile(db.bolt.Path(), os.O_RDWR, 0)
	if err != nil {
		return 0, fmt.Errorf("store: scrub: %w", err)
	}
	defer f.Close()
	pageSize := db.bolt.Info().PageSize
	wait := time.Millisecond
	total, from := 0, 2 // pages 0 and 1 are the meta pages
	for {
		zeroed, next := 0, 0
		err := db.Update(ctx, func(tx *Tx) error {
			zeroed, next = 0, 0
			if db.bolt.Stats().OpenTxN > 0 {
				return errReaders
			}
			var err error
			zeroed, next, err = zeroFreePages(tx, f, pageSize, from, from+scrubPages)
			return err
		})
		switch {
		case err == nil:
			total += zeroed
			if next == 0 {
				if total > 0 {
					if err := f.Sync(); err != nil {
						return total, fmt.Errorf("store: scrub: sync: %w", err)
					}
				}
				return total, nil
			}
			from = next
			continue
		case !errors.Is(err, errReaders):
			return total, fmt.Errorf("store: scrub: %w", err)
		}
		select {
		case <-ctx.Done():
			return total, fmt.Errorf("store: scrub: no moment without readers: %w", ctx.Err())
		case <-time.After(wait):
		}
		wait = min(2*wait, 100*time.Millisecond)
	}
}

// scrubPages is how many pages one scrub commit looks at (64 MiB of 4 KiB
// pages), so that a large file does not hold the writer for long.
const scrubPages = 16384

// zeroFreePages writes zeros over the free pages of tx's file with ids in
// [from, to) that are not zero yet, and returns how many it zeroed and
// the id to go on from (0: the end of the file). Called in a write
// transaction with no reader open, before the transaction has freed pages
// of its own (bbolt frees pages when it commits), so that every free page
// is unreachable from every meta page.
func zeroFreePages(tx *Tx, f *os.File, pageSize, from, to int) (n, next int, err error) {
	buf := make([]byte, pageSize)
	zero := make([]byte, pageSize)
	for id := from; ; id++ {
		if id == to {
			return n, to, nil
		}
		info, err := tx.tx.Page(id)
		if err != nil {
			return n, 0, err
		}
		if info == nil { // past the high-water mark
			return n, 0, nil
		}
		if info.Type != "free" {
			continue
		}
		off := int64(id) * int64(pageSize)
		if _, err := f.ReadAt(buf, off); err != nil {
			return n, 0, err
		}
		if bytes.Equal(buf, zero) {
			continue
		}
		if _, err := f.WriteAt(zero, off); err != nil {
			return n, 0, err
		}
		n++
	}
}
