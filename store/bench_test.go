package store

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// body10k is a typical rewritten rejection mail.
var body10k = bytes.Repeat([]byte("0123456789abcdef"), 10<<10/16)

// enqueueWays are the ways of making one enqueue durable that the
// benchmarks compare: our group commit, one bbolt transaction per call, and
// bbolt's own Batch with its defaults (up to 1000 calls or 10 ms).
var enqueueWays = []struct {
	name string
	op   func(db *DB) error
}{
	{"group", func(db *DB) error {
		return db.Update(context.Background(), func(tx *Tx) error { return tx.Enqueue(new(Message), body10k) })
	}},
	{"bolt-update", func(db *DB) error {
		return db.Bolt().Update(func(btx *bolt.Tx) error {
			return (&Tx{tx: btx, db: db}).Enqueue(new(Message), body10k)
		})
	}},
	{"bolt-batch", func(db *DB) error {
		return db.Bolt().Batch(func(btx *bolt.Tx) error {
			return (&Tx{tx: btx, db: db}).Enqueue(new(Message), body10k)
		})
	}},
}

// runConcurrently runs op b.N times from conc goroutines and reports the
// throughput in msgs/s and the mean commit size where known.
func runConcurrently(b *testing.B, db *DB, conc int, op func(db *DB) error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	start := db.Stats()
	b.ResetTimer()
	for range conc {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				if err := op(db); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	if s := db.Stats(); s.Commits > start.Commits {
		b.ReportMetric(float64(s.Updates-start.Updates)/float64(s.Commits-start.Commits), "msgs/commit")
	}
}

func openBench(b *testing.B) *DB {
	b.Helper()
	db, err := Open(filepath.Join(b.TempDir(), "bench.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return db
}

// BenchmarkEnqueue: one op is one durable enqueue of a 10 KB body; ns/op
// is the wall time per message with conc callers at once.
func BenchmarkEnqueue(b *testing.B) {
	for _, way := range enqueueWays {
		for _, conc := range []int{1, 10, 50} {
			b.Run(fmt.Sprintf("%s/c=%d", way.name, conc), func(b *testing.B) {
				runConcurrently(b, openBench(b), conc, way.op)
			})
		}
	}
}

// churn is a queue in steady state: each op enqueues a 10 KB message and
// deletes the caller's oldest one beyond a backlog of 20, so freed pages
// fill the freelist as they do in production.
func churn(db *DB, conc int) func(db *DB) error {
	var mu sync.Mutex
	var ids []string
	return func(db *DB) error {
		m := new(Message)
		mu.Lock()
		var old string
		if len(ids) > 20*conc {
			old, ids = ids[0], ids[1:]
		}
		mu.Unlock()
		err := db.Update(context.Background(), func(tx *Tx) error {
			if old != "" {
				if err := tx.Delete(old); err != nil {
					return err
				}
			}
			return tx.Enqueue(m, body10k)
		})
		mu.Lock()
		ids = append(ids, m.ID)
		mu.Unlock()
		return err
	}
}

// fillAndDrain queues n 10 KB messages and delivers them all, as after an
// outage of the next hop: the file keeps its size and its pages are free.
func fillAndDrain(b *testing.B, db *DB, n int) {
	b.Helper()
	var ids []string
	for len(ids) < n {
		err := db.Update(context.Background(), func(tx *Tx) error {
			for range 500 {
				m := new(Message)
				if err := tx.Enqueue(m, body10k); err != nil {
					return err
				}
				ids = append(ids, m.ID)
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	for len(ids) > 0 {
		k := min(len(ids), 500)
		err := db.Update(context.Background(), func(tx *Tx) error {
			for _, id := range ids[:k] {
				if err := tx.Delete(id); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		ids = ids[k:]
	}
}

// BenchmarkBoltOptions measures the bbolt settings of boltOptions against
// the alternatives, with group commit of a queue in steady state (churn)
// in a file that holds 20,000 free 10 KB messages' worth of pages.
func BenchmarkBoltOptions(b *testing.B) {
	variants := []struct {
		name string
		tune func(o *bolt.Options)
	}{
		{"chosen(map,nofreelistsync)", nil},
		{"map,freelistsync", func(o *bolt.Options) { o.NoFreelistSync = false }},
		{"array,freelistsync(bbolt-default)", func(o *bolt.Options) {
			o.FreelistType, o.NoFreelistSync = bolt.FreelistArrayType, false
		}},
	}
	for _, v := range variants {
		for _, conc := range []int{1, 10} {
			b.Run(fmt.Sprintf("%s/c=%d", v.name, conc), func(b *testing.B) {
				tuneBolt = v.tune
				defer func() { tuneBolt = nil }()
				db := openBench(b)
				fillAndDrain(b, db, 20000)
				runConcurrently(b, db, conc, churn(db, conc))
			})
		}
	}
}

// BenchmarkOpen measures what NoFreelistSync costs: reopening a store that
// holds 20,000 queued 10 KB messages (about 200 MB).
func BenchmarkOpen(b *testing.B) {
	for _, noSync := range []bool{true, false} {
		b.Run(fmt.Sprintf("nofreelistsync=%v", noSync), func(b *testing.B) {
			tuneBolt = func(o *bolt.Options) { o.NoFreelistSync = noSync }
			defer func() { tuneBolt = nil }()
			path := filepath.Join(b.TempDir(), "bench.db")
			db, err := Open(path, Options{})
			if err != nil {
				b.Fatal(err)
			}
			for range 20000 / 500 {
				err := db.Update(context.Background(), func(tx *Tx) error {
					for range 500 {
						if err := tx.Enqueue(new(Message), body10k); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			if err := db.Close(); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for b.Loop() {
				db, err := Open(path, Options{})
				if err != nil {
					b.Fatal(err)
				}
				db.Close()
			}
		})
	}
}
