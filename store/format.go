package store

import (
	"encoding/binary"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// The file's format. A file written by a newer careerrelay may hold what
// this one cannot read, so Open refuses a format above the one it writes.
//
//   - 1: every file before the format was recorded: an inline body is a
//     value of bucketBodies under its key.
//   - 2 (issue 19): a new inline body is a bucket of its own in
//     bucketBodies, under the same key, holding the body under bodyValueKey.
//     Adding or removing one then writes its own pages and the entry in
//     bucketBodies, not a leaf shared with up to three other bodies (bbolt
//     does not split a node of four keys or fewer). Format-1 bodies are
//     still read and deleted as they are.
//
// careerrelay before format 2 does not read this marker: it would find no
// value for a format-2 body and send an empty message. Rolling back below
// format 2 needs an empty queue (docs/reference.md, careerrelay serve).
const storeFormat = 2

var (
	bucketFormat = []byte("store_format")
	formatKey    = []byte("version")
	bodyValueKey = []byte{0}
)

// errNewerFormat is Open's error for a file of a newer format.
var errNewerFormat = errors.New("written by a newer careerrelay")

// checkFormat refuses a file of a newer format and records storeFormat.
func checkFormat(btx *bolt.Tx) error {
	b, err := btx.CreateBucketIfNotExists(bucketFormat)
	if err != nil {
		return fmt.Errorf("create bucket %s: %w", bucketFormat, err)
	}
	if v := b.Get(formatKey); v != nil {
		if len(v) != 4 {
			return fmt.Errorf("format marker of %d octets", len(v))
		}
		if f := binary.BigEndian.Uint32(v); f > storeFormat {
			return fmt.Errorf("format %d, %w (this one reads formats up to %d): run that version or a newer one", f, errNewerFormat, storeFormat)
		} else if f == storeFormat {
			return nil
		}
	}
	return b.Put(formatKey, binary.BigEndian.AppendUint32(nil, storeFormat))
}

// putBody stores an inline body under key in bodies (format 2).
func putBody(bodies *bolt.Bucket, key, body []byte) error {
	b, err := bodies.CreateBucket(key)
	if err != nil {
		return err
	}
	return b.Put(bodyValueKey, body)
}

// getBody returns the inline body under key, of either format; nil when
// there is none.
func getBody(bodies *bolt.Bucket, key []byte) []byte {
	if b := bodies.Bucket(key); b != nil {
		return b.Get(bodyValueKey)
	}
	return bodies.Get(key)
}

// deleteBody removes the inline body under key, of either format.
func deleteBody(bodies *bolt.Bucket, key []byte) error {
	if bodies.Bucket(key) != nil {
		return bodies.DeleteBucket(key)
	}
	return bodies.Delete(key)
}
