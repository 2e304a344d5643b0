// Package storetest is the contract of store.Shared, which every
// implementation passes (the bbolt file's DB.Shared and package
// store/postgres): ordered byte keys, sequences, read-your-own-writes,
// rollback on error, snapshots, and serializable Updates under
// concurrency, the property that package referral relies on for "a
// candidate counts once" and "one hash chain".
package storetest

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/careerrelay/careerrelay/store"
)

// Buckets the tests write; any of store.SharedBuckets would do.
const (
	bucketA = store.BucketReferrals
	bucketB = store.BucketLedger
)

// Run runs the contract's tests as subtests of t; open returns a fresh,
// empty store for each (closed by its own t.Cleanup).
func Run(t *testing.T, open func(t *testing.T) store.Shared) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Shared)
	}{
		{"RoundTrip", testRoundTrip},
		{"Order", testOrder},
		{"PrefixScan", testPrefixScan},
		{"Sequence", testSequence},
		{"ReadOwnWrites", testReadOwnWrites},
		{"Rollback", testRollback},
		{"Snapshot", testSnapshot},
		{"Counter", func(t *testing.T, s store.Shared) { Counter(t, s, s, 40) }},
		{"ManyKeys", testManyKeys},
		{"LargeValues", testLargeValues},
		{"EveryBucket", testEveryBucket},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, open(t)) })
	}
}

var ctx = context.Background()

func update(t *testing.T, s store.Shared, fn func(tx store.SharedTx) error) {
	t.Helper()
	if err := s.Update(ctx, fn); err != nil {
		t.Fatalf("Update: %v", err)
	}
}

func view(t *testing.T, s store.Shared, fn func(tx store.SharedTx) error) {
	t.Helper()
	if err := s.View(fn); err != nil {
		t.Fatalf("View: %v", err)
	}
}

// put stores the pairs k1, v1, k2, v2, ... in bucket in one Update.
func put(t *testing.T, s store.Shared, bucket string, kvs ...string) {
	t.Helper()
	update(t, s, func(tx store.SharedTx) error {
		b := tx.Bucket(bucket)
		for i := 0; i < len(kvs); i += 2 {
			if err := b.Put([]byte(kvs[i]), []byte(kvs[i+1])); err != nil {
				return err
			}
		}
		return nil
	})
}

// get reads key from bucket in a View; ok is false when it is absent.
func get(t *testing.T, s store.Shared, bucket, key string) (value string, ok bool) {
	t.Helper()
	view(t, s, func(tx store.SharedTx) error {
		v := tx.Bucket(bucket).Get([]byte(key))
		value, ok = string(v), v != nil
		return nil
	})
	return value, ok
}

type pair struct{ k, v string }

// forEach lists bucket with ForEach.
func forEach(t *testing.T, s store.Shared, bucket string) []pair {
	t.Helper()
	var got []pair
	view(t, s, func(tx store.SharedTx) error {
		return tx.Bucket(bucket).ForEach(func(k, v []byte) error {
			got = append(got, pair{string(k), string(v)})
			return nil
		})
	})
	return got
}

// cursor lists bucket with a Cursor from First.
func cursor(t *testing.T, s store.Shared, bucket string) []pair {
	t.Helper()
	var got []pair
	view(t, s, func(tx store.SharedTx) error {
		c := tx.Bucket(bucket).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			got = append(got, pair{string(k), string(v)})
		}
		return nil
	})
	return got
}

func testRoundTrip(t *testing.T, s store.Shared) {
	if _, ok := get(t, s, bucketA, "k"); ok {
		t.Fatal("Get in an empty bucket found a value")
	}
	put(t, s, bucketA, "k", "v1")
	if v, ok := get(t, s, bucketA, "k"); !ok || v != "v1" {
		t.Fatalf("Get = %q, %v; want v1", v, ok)
	}
	put(t, s, bucketA, "k", "v2")
	if v, _ := get(t, s, bucketA, "k"); v != "v2" {
		t.Fatalf("Get after overwrite = %q; want v2", v)
	}
	if _, ok := get(t, s, bucketB, "k"); ok {
		t.Fatal("a key is visible in another bucket")
	}
	update(t, s, func(tx store.SharedTx) error { return tx.Bucket(bucketA).Delete([]byte("k")) })
	if _, ok := get(t, s, bucketA, "k"); ok {
		t.Fatal("Get found a deleted key")
	}
	// Deleting an absent key is no error.
	update(t, s, func(tx store.SharedTx) error { return tx.Bucket(bucketA).Delete([]byte("absent")) })
	// A key of any bytes; a value read is a copy the caller may keep
	// after the transaction only by copying it: compare inside.
	key := []byte{0, 0xff, 'x', 0}
	update(t, s, func(tx store.SharedTx) error { return tx.Bucket(bucketA).Put(key, []byte{0, 1, 2}) })
	view(t, s, func(tx store.SharedTx) error {
		if v := tx.Bucket(bucketA).Get(key); !bytes.Equal(v, []byte{0, 1, 2}) {
			t.Errorf("binary key: Get = %v", v)
		}
		if v := tx.Bucket(bucketA).Get(key[:3]); v != nil {
			t.Errorf("a prefix of a key: Get = %v, want nil", v)
		}
		return nil
	})
}

// keys in bytewise order, with 0x00 and 0xff bytes, a key and its
// prefixes; inserted shuffled.
var ordered = []string{"\x00", "\x00\x00", "\x00\x01", "A", "Z", "a", "a\x00", "a\x00b", "ab", "a\xff", "b", "\x7f", "\x80", "\xfe\xff", "\xff", "\xff\x00", "\xff\xff\xff"}

func testOrder(t *testing.T, s store.Shared) {
	shuffled := slices.Clone(ordered)
	for i := range shuffled { // a fixed permutation: reversed pairs
		j := len(shuffled) - 1 - i
		if i < j {
			shuffled[i], shuffled[j] = shuffled[j], shuffled[i]
		}
	}
	var kvs []string
	for _, k := range shuffled {
		kvs = append(kvs, k, "v"+k)
	}
	put(t, s, bucketA, kvs...)
	var want []pair
	for _, k := range ordered {
		want = append(want, pair{k, "v" + k})
	}
	if got := forEach(t, s, bucketA); !slices.Equal(got, want) {
		t.Errorf("ForEach:\n got %q\nwant %q", got, want)
	}
	if got := cursor(t, s, bucketA); !slices.Equal(got, want) {
		t.Errorf("Cursor:\n got %q\nwant %q", got, want)
	}
	view(t, s, func(tx store.SharedTx) error {
		c := tx.Bucket(bucketA).Cursor()
		for _, tc := range []struct{ seek, want string }{
			{"", "\x00"}, {"\x00", "\x00"}, {"\x00\x00\x00", "\x00\x01"}, {"a", "a"}, {"a\x01", "ab"}, {"ac", "a\xff"},
			{"aa", "ab"}, {"c", "\x7f"}, {"\xfe", "\xfe\xff"}, {"\xff\x00\x00", "\xff\xff\xff"},
		} {
			k, v := c.Seek([]byte(tc.seek))
			if string(k) != tc.want || string(v) != "v"+tc.want {
				t.Errorf("Seek(%q) = %q, %q; want %q", tc.seek, k, v, tc.want)
			}
		}
		// Seek, then Next to the end.
		k, _ := c.Seek([]byte("\xfe"))
		var rest []string
		for ; k != nil; k, _ = c.Next() {
			rest = append(rest, string(k))
		}
		if want := ordered[len(ordered)-4:]; !slices.Equal(rest, want) {
			t.Errorf("Seek then Next: %q, want %q", rest, want)
		}
		if k, _ := c.Next(); k != nil {
			t.Errorf("Next past the end = %q", k)
		}
		if k, v := c.Seek([]byte("\xff\xff\xff\x00")); k != nil || v != nil {
			t.Errorf("Seek past the end = %q, %q; want nil", k, v)
		}
		// First again after the end.
		if k, _ := c.First(); string(k) != "\x00" {
			t.Errorf("First after the end = %q", k)
		}
		// Last: the greatest key (the ledger's head), then nothing after it.
		if k, v := c.Last(); string(k) != ordered[len(ordered)-1] || string(v) != "v"+ordered[len(ordered)-1] {
			t.Errorf("Last = %q, %q; want %q", k, v, ordered[len(ordered)-1])
		}
		if k, _ := c.Next(); k != nil {
			t.Errorf("Next after Last = %q", k)
		}
		if k, _ := tx.Bucket(bucketB).Cursor().Last(); k != nil {
			t.Errorf("Last of an empty bucket = %q", k)
		}
		if k, _ := tx.Bucket(bucketB).Cursor().First(); k != nil {
			t.Errorf("First of an empty bucket = %q", k)
		}
		return nil
	})
}

// testPrefixScan scans as package referral does: Seek(prefix), then Next
// while the key has the prefix.
func testPrefixScan(t *testing.T, s store.Shared) {
	put(t, s, bucketA, "t1\x00a", "1", "t1\x00b", "2", "t1", "0", "t10\x00a", "x", "t1\x01", "y", "t0\x00z", "z", "t1\x00\xff", "3")
	scan := func(prefix string) []string {
		var got []string
		view(t, s, func(tx store.SharedTx) error {
			c := tx.Bucket(bucketA).Cursor()
			p := []byte(prefix)
			for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
				got = append(got, string(k)+"="+string(v))
			}
			return nil
		})
		return got
	}
	if got, want := scan("t1\x00"), []string{"t1\x00a=1", "t1\x00b=2", "t1\x00\xff=3"}; !slices.Equal(got, want) {
		t.Errorf("prefix t1\\x00: %q, want %q", got, want)
	}
	if got := scan("t2\x00"); got != nil {
		t.Errorf("prefix t2\\x00: %q, want none", got)
	}
	if got := scan("t0\x00"); !slices.Equal(got, []string{"t0\x00z=z"}) {
		t.Errorf("prefix t0\\x00: %q", got)
	}
}

func testSequence(t *testing.T, s store.Shared) {
	var a, b []uint64
	for range 3 {
		update(t, s, func(tx store.SharedTx) error {
			n, err := tx.Bucket(bucketA).NextSequence()
			a = append(a, n)
			return err
		})
	}
	update(t, s, func(tx store.SharedTx) error {
		for range 2 {
			n, err := tx.Bucket(bucketB).NextSequence()
			if err != nil {
				return err
			}
			b = append(b, n)
		}
		return nil
	})
	if !slices.Equal(a, []uint64{1, 2, 3}) || !slices.Equal(b, []uint64{1, 2}) {
		t.Errorf("sequences: %v and %v, want [1 2 3] and [1 2]", a, b)
	}
	// A rolled back transaction does not use up a number.
	errFail := errors.New("fail")
	if err := s.Update(ctx, func(tx store.SharedTx) error {
		if _, err := tx.Bucket(bucketA).NextSequence(); err != nil {
			return err
		}
		return errFail
	}); !errors.Is(err, errFail) {
		t.Fatalf("Update = %v, want fn's error", err)
	}
	update(t, s, func(tx store.SharedTx) error {
		n, err := tx.Bucket(bucketA).NextSequence()
		if n != 4 {
			t.Errorf("after a rollback: NextSequence = %d, want 4", n)
		}
		return err
	})
	// Sequence reads it; SetSequence moves it (store migrate).
	update(t, s, func(tx store.SharedTx) error {
		b := tx.Bucket(bucketA)
		if n := b.Sequence(); n != 4 {
			t.Errorf("Sequence = %d, want 4", n)
		}
		if err := b.SetSequence(100); err != nil {
			return err
		}
		n, err := b.NextSequence()
		if n != 101 {
			t.Errorf("after SetSequence(100): NextSequence = %d, want 101", n)
		}
		return err
	})
}

func testReadOwnWrites(t *testing.T, s store.Shared) {
	put(t, s, bucketA, "old", "1", "gone", "2")
	update(t, s, func(tx store.SharedTx) error {
		b := tx.Bucket(bucketA)
		if err := b.Put([]byte("new"), []byte("3")); err != nil {
			return err
		}
		if err := b.Put([]byte("old"), []byte("4")); err != nil {
			return err
		}
		if err := b.Delete([]byte("gone")); err != nil {
			return err
		}
		if v := b.Get([]byte("new")); string(v) != "3" {
			t.Errorf("Get of a key put in this Update = %q", v)
		}
		if v := b.Get([]byte("old")); string(v) != "4" {
			t.Errorf("Get of a key overwritten in this Update = %q", v)
		}
		if v := b.Get([]byte("gone")); v != nil {
			t.Errorf("Get of a key deleted in this Update = %q", v)
		}
		var keys []string
		c := tx.Bucket(bucketA).Cursor() // a cursor after the writes
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			keys = append(keys, string(k))
		}
		if want := []string{"new", "old"}; !slices.Equal(keys, want) {
			t.Errorf("Cursor after writes in this Update: %q, want %q", keys, want)
		}
		return nil
	})
}

func testRollback(t *testing.T, s store.Shared) {
	put(t, s, bucketA, "keep", "1", "del", "2")
	errFail := errors.New("fn failed")
	err := s.Update(ctx, func(tx store.SharedTx) error {
		a, b := tx.Bucket(bucketA), tx.Bucket(bucketB)
		if err := a.Put([]byte("keep"), []byte("changed")); err != nil {
			return err
		}
		if err := a.Delete([]byte("del")); err != nil {
			return err
		}
		if err := b.Put([]byte("new"), []byte("x")); err != nil {
			return err
		}
		return fmt.Errorf("wrapped: %w", errFail)
	})
	if !errors.Is(err, errFail) {
		t.Fatalf("Update = %v, want fn's error", err)
	}
	if v, _ := get(t, s, bucketA, "keep"); v != "1" {
		t.Errorf("after a failed Update: keep = %q, want 1", v)
	}
	if v, _ := get(t, s, bucketA, "del"); v != "2" {
		t.Errorf("after a failed Update: del = %q, want 2", v)
	}
	if _, ok := get(t, s, bucketB, "new"); ok {
		t.Error("after a failed Update: a key it put in another bucket is there")
	}
}

// testSnapshot: an Update that commits while a View is open is not seen
// by that View; a View that begins after it sees it.
func testSnapshot(t *testing.T, s store.Shared) {
	put(t, s, bucketA, "k", "before")
	done := make(chan error, 1)
	view(t, s, func(tx store.SharedTx) error {
		b := tx.Bucket(bucketA)
		if v := b.Get([]byte("k")); string(v) != "before" {
			t.Errorf("View: %q, want before", v)
		}
		go func() {
			done <- s.Update(ctx, func(tx store.SharedTx) error {
				b := tx.Bucket(bucketA)
				if err := b.Put([]byte("k"), []byte("after")); err != nil {
					return err
				}
				return b.Put([]byte("k2"), []byte("new"))
			})
		}()
		// An implementation may let the Update commit now (then this
		// View must not see it) or hold it until the View ends.
		select {
		case err := <-done:
			done <- err
		case <-time.After(2 * time.Second):
		}
		if v := b.Get([]byte("k")); string(v) != "before" {
			t.Errorf("View after a concurrent Update: %q, want before", v)
		}
		if v := b.Get([]byte("k2")); v != nil {
			t.Errorf("View sees a key a concurrent Update put: %q", v)
		}
		if n := len(forEachIn(b)); n != 1 {
			t.Errorf("View's ForEach after a concurrent Update: %d keys, want 1", n)
		}
		return nil
	})
	if err := <-done; err != nil {
		t.Fatalf("concurrent Update: %v", err)
	}
	if v, _ := get(t, s, bucketA, "k"); v != "after" {
		t.Errorf("a View after the Update: %q, want after", v)
	}
}

func forEachIn(b store.Bucket) []string {
	var keys []string
	b.ForEach(func(k, _ []byte) error { keys = append(keys, string(k)); return nil })
	return keys
}

// Counter runs n goroutines that each add 1 to one counter in an Update,
// alternately through a and b (two stores on the same records, or the
// same store twice), and checks that the counter ends at exactly n: no
// lost update, and no fn committed twice.
func Counter(t *testing.T, a, b store.Shared, n int) {
	t.Helper()
	key := []byte("counter")
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Go(func() {
			errs <- s.Update(ctx, func(tx store.SharedTx) error {
				bk := tx.Bucket(bucketA)
				var c uint64
				if v := bk.Get(key); v != nil {
					c = binary.BigEndian.Uint64(v)
				}
				return bk.Put(key, binary.BigEndian.AppendUint64(nil, c+1))
			})
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("Update: %v", err)
		}
	}
	for _, s := range []store.Shared{a, b} {
		view(t, s, func(tx store.SharedTx) error {
			v := tx.Bucket(bucketA).Get(key)
			if len(v) != 8 || binary.BigEndian.Uint64(v) != uint64(n) {
				t.Errorf("counter = %x after %d concurrent increments", v, n)
			}
			return nil
		})
	}
}

func testManyKeys(t *testing.T, s store.Shared) {
	const n = 2000
	var want []pair
	update(t, s, func(tx store.SharedTx) error {
		b := tx.Bucket(bucketA)
		for i := range n {
			k := binary.BigEndian.AppendUint32(nil, uint32(i*7919%n)) // inserted out of order
			if err := b.Put(k, []byte(fmt.Sprint(i*7919%n))); err != nil {
				return err
			}
		}
		return nil
	})
	for i := range n {
		want = append(want, pair{string(binary.BigEndian.AppendUint32(nil, uint32(i))), fmt.Sprint(i)})
	}
	if got := forEach(t, s, bucketA); !slices.Equal(got, want) {
		t.Errorf("ForEach of %d keys: %d keys, first difference at %d", n, len(got), firstDiff(got, want))
	}
	if got := cursor(t, s, bucketA); !slices.Equal(got, want) {
		t.Errorf("Cursor of %d keys: %d keys, first difference at %d", n, len(got), firstDiff(got, want))
	}
	// From the middle, to the end.
	view(t, s, func(tx store.SharedTx) error {
		c := tx.Bucket(bucketA).Cursor()
		i := 700
		for k, _ := c.Seek(binary.BigEndian.AppendUint32(nil, 700)); k != nil; k, _ = c.Next() {
			if binary.BigEndian.Uint32(k) != uint32(i) {
				t.Fatalf("Seek(700) then Next: key %d at %d", binary.BigEndian.Uint32(k), i)
			}
			i++
		}
		if i != n {
			t.Errorf("Seek(700) then Next ended at %d, want %d", i, n)
		}
		// ForEach may read inside its fn.
		count := 0
		err := tx.Bucket(bucketA).ForEach(func(k, v []byte) error {
			if got := tx.Bucket(bucketA).Get(k); !bytes.Equal(got, v) {
				t.Fatalf("Get inside ForEach: %q, want %q", got, v)
			}
			count++
			if count == 600 {
				return errStop
			}
			return nil
		})
		if !errors.Is(err, errStop) || count != 600 {
			t.Errorf("ForEach stopped by fn: %v after %d keys", err, count)
		}
		return nil
	})
}

var errStop = errors.New("stop")

func firstDiff(a, b []pair) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func testLargeValues(t *testing.T, s store.Shared) {
	big := make([]byte, 64<<10)
	for i := range big {
		big[i] = byte(i * 31)
	}
	update(t, s, func(tx store.SharedTx) error {
		b := tx.Bucket(bucketA)
		for i := range 3 {
			v := append([]byte{byte(i)}, big...)
			if err := b.Put([]byte{'k', byte(i)}, v); err != nil {
				return err
			}
		}
		return nil
	})
	view(t, s, func(tx store.SharedTx) error {
		i := 0
		err := tx.Bucket(bucketA).ForEach(func(k, v []byte) error {
			if !bytes.Equal(k, []byte{'k', byte(i)}) || v[0] != byte(i) || !bytes.Equal(v[1:], big) {
				t.Errorf("large value %d: key %q, %d bytes", i, k, len(v))
			}
			i++
			return nil
		})
		if i != 3 {
			t.Errorf("ForEach of large values: %d, want 3", i)
		}
		return err
	})
}

// testEveryBucket: every bucket of store.SharedBuckets exists and is
// separate.
func testEveryBucket(t *testing.T, s store.Shared) {
	update(t, s, func(tx store.SharedTx) error {
		for _, name := range store.SharedBuckets {
			if err := tx.Bucket(name).Put([]byte("k"), []byte(name)); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
		}
		return nil
	})
	for _, name := range store.SharedBuckets {
		if got := forEach(t, s, name); !slices.Equal(got, []pair{{"k", name}}) {
			t.Errorf("bucket %s: %q", name, got)
		}
	}
}
