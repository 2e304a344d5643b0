package store

import (
	"encoding/binary"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Copies of one accepted message to many recipients share one stored body:
// memory and disk grow with the message, not with the message times its
// recipients. The body is stored under the queue id of the first copy (in
// bucketBodies, or as one spool file that every copy names), every copy
// names that key in Message.Shared, and bucketShared counts the copies
// still queued under that key. Delete counts down, and the copy that takes
// the count to zero removes the body, in the same transaction, so a crash
// never leaves a body without its count or a count without its body.
var bucketShared = []byte("queue_shared")

// EnqueueShared adds the copies ms to the queue with one inline body that
// they share. It assigns each copy its ID, Size and Shared; a single copy
// is enqueued as Enqueue does, with a body of its own. body must not change
// before Update returns.
func (tx *Tx) EnqueueShared(ms []*Message, body []byte) error {
	if len(ms) == 1 {
		return tx.Enqueue(ms[0], body)
	}
	if err := checkShared(ms); err != nil {
		return err
	}
	meta, bodies := tx.queue()
	keys := tx.sharedKeys(meta, ms)
	for i, m := range ms {
		m.Size, m.Spool, m.Shared = int64(len(body)), "", string(keys[0])
		if err := tx.putNew(meta, m, keys[i]); err != nil {
			return err
		}
	}
	if err := putBody(bodies, keys[0], body); err != nil {
		return fmt.Errorf("store: enqueue %s body: %w", keys[0], err)
	}
	return tx.setShared(keys[0], uint32(len(ms)))
}

// EnqueueSharedSpooled is EnqueueShared for a body in the finished spool
// file f, which every copy names in Spool.
func (tx *Tx) EnqueueSharedSpooled(ms []*Message, f *SpoolFile) error {
	if len(ms) == 1 {
		return tx.EnqueueSpooled(ms[0], f)
	}
	if err := checkShared(ms); err != nil {
		return err
	}
	if err := tx.checkSpool(f); err != nil {
		return err
	}
	meta, _ := tx.queue()
	keys := tx.sharedKeys(meta, ms)
	for i, m := range ms {
		m.Size, m.Spool, m.Shared = f.size, f.name, string(keys[0])
		if err := tx.putNew(meta, m, keys[i]); err != nil {
			return err
		}
	}
	tx.enqueued = append(tx.enqueued, f)
	return tx.setShared(keys[0], uint32(len(ms)))
}

func checkShared(ms []*Message) error {
	if len(ms) == 0 {
		return errors.New("store: enqueue: no copies")
	}
	for _, m := range ms {
		if m == nil {
			return errors.New("store: enqueue: nil message")
		}
	}
	return nil
}

// sharedKeys assigns the copies their ids, in order.
func (tx *Tx) sharedKeys(meta *bolt.Bucket, ms []*Message) [][]byte {
	keys := make([][]byte, len(ms))
	for i, m := range ms {
		keys[i] = tx.newKey(meta)
		m.ID = string(keys[i])
	}
	return keys
}

// setShared records that n copies name the shared body key.
func (tx *Tx) setShared(key []byte, n uint32) error {
	v := binary.BigEndian.AppendUint32(nil, n)
	if err := tx.tx.Bucket(bucketShared).Put(key, v); err != nil {
		return fmt.Errorf("store: shared body %s: %w", key, err)
	}
	return nil
}

// releaseShared counts down the copies of the shared body key; it reports
// whether the caller removed the last one, so that the body goes too.
func (tx *Tx) releaseShared(key string) (last bool, err error) {
	b := tx.tx.Bucket(bucketShared)
	v := b.Get([]byte(key))
	if len(v) != 4 {
		// No count (a damaged file): keep the body rather than remove one
		// that another copy may still need; Open's sweep keeps spool files
		// that any copy names.
		tx.db.log.Error("a shared body has no copy count; keeping it", "shared", key)
		return false, nil
	}
	n := binary.BigEndian.Uint32(v)
	if n <= 1 {
		if err := b.Delete([]byte(key)); err != nil {
			return false, fmt.Errorf("store: shared body %s: %w", key, err)
		}
		return true, nil
	}
	return false, tx.setShared([]byte(key), n-1)
}

// SharedBodies is the number of bodies that several queued copies share
// (for tests and the operator's view of the queue).
func (tx *Tx) SharedBodies() int {
	return tx.tx.Bucket(bucketShared).Stats().KeyN
}
