package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// rawUpdate changes the file at path with bbolt alone, as another version
// of careerrelay would have written it.
func rawUpdate(t *testing.T, path string, fn func(btx *bolt.Tx) error) {
	t.Helper()
	bdb, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer bdb.Close()
	if err := bdb.Update(fn); err != nil {
		t.Fatal(err)
	}
}

func formatOf(t *testing.T, db *DB) uint32 {
	t.Helper()
	var f uint32
	db.View(func(tx *Tx) error {
		f = binary.BigEndian.Uint32(tx.Bolt().Bucket(bucketFormat).Get(formatKey))
		return nil
	})
	return f
}

// TestFormat2BodyIsItsOwnBucket: a new inline body is a bucket of its own
// under the message's key, and goes with the message.
func TestFormat2BodyIsItsOwnBucket(t *testing.T) {
	db, _ := openTest(t, Options{})
	if f := formatOf(t, db); f != storeFormat {
		t.Fatalf("format %d, want %d", f, storeFormat)
	}
	m := new(Message)
	enqueue(t, db, m, []byte("body"))
	db.View(func(tx *Tx) error {
		bodies := tx.Bolt().Bucket(bucketBodies)
		if b := bodies.Bucket([]byte(m.ID)); b == nil || string(b.Get(bodyValueKey)) != "body" {
			t.Errorf("body of %s is not a bucket holding it", m.ID)
		}
		return nil
	})
	deleteQueued(t, db, m.ID)
	if n := bodyBytes(t, db); n != 0 {
		t.Errorf("%d octets of bodies left after the delete", n)
	}
}

// TestFormat1BodiesReadAfterUpgrade: a file written before the format was
// recorded (bodies as values, no marker) opens, its queued body is read
// and deleted as before, a new body beside it is format 2, and the file is
// marked format 2.
func TestFormat1BodiesReadAfterUpgrade(t *testing.T) {
	db, path := openTest(t, Options{})
	old := new(Message)
	enqueue(t, db, old, []byte("queued by an earlier version"))
	db.Close()
	rawUpdate(t, path, func(btx *bolt.Tx) error {
		bodies := btx.Bucket(bucketBodies)
		if err := bodies.DeleteBucket([]byte(old.ID)); err != nil {
			return err
		}
		if err := bodies.Put([]byte(old.ID), []byte("queued by an earlier version")); err != nil {
			return err
		}
		return btx.DeleteBucket(bucketFormat)
	})
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("Open of a format-1 file: %v", err)
	}
	defer db.Close()
	if f := formatOf(t, db); f != storeFormat {
		t.Errorf("format %d after Open, want %d", f, storeFormat)
	}
	fresh := new(Message)
	enqueue(t, db, fresh, []byte("queued now"))
	db.View(func(tx *Tx) error {
		for id, want := range map[string]string{old.ID: "queued by an earlier version", fresh.ID: "queued now"} {
			if got, err := bodyOf(tx, id); err != nil || string(got) != want {
				t.Errorf("Body(%s) = %q, %v; want %q", id, got, err, want)
			}
		}
		return nil
	})
	deleteQueued(t, db, old.ID)
	deleteQueued(t, db, fresh.ID)
	if n := bodyBytes(t, db); n != 0 {
		t.Errorf("%d octets of bodies left after both were deleted", n)
	}
}

// TestNewerFormatRefused: a file of a format this version does not know is
// not opened, and not changed.
func TestNewerFormatRefused(t *testing.T) {
	db, path := openTest(t, Options{})
	enqueue(t, db, new(Message), []byte("body"))
	db.Close()
	rawUpdate(t, path, func(btx *bolt.Tx) error {
		return btx.Bucket(bucketFormat).Put(formatKey, binary.BigEndian.AppendUint32(nil, storeFormat+1))
	})
	if db, err := Open(path, Options{}); !errors.Is(err, errNewerFormat) {
		if err == nil {
			db.Close()
		}
		t.Fatalf("Open of a format-%d file: %v, want the newer-format error", storeFormat+1, err)
	}
	rawUpdate(t, path, func(btx *bolt.Tx) error {
		if v := btx.Bucket(bucketFormat).Get(formatKey); !bytes.Equal(v, binary.BigEndian.AppendUint32(nil, storeFormat+1)) {
			t.Errorf("format marker %x after the refused Open", v)
		}
		return nil
	})
}
