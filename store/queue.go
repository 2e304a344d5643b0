package store

import (
	"encoding/base32"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The queue lives in two buckets keyed by queue id: the metadata of each
// message as JSON, and its body when it is inline (a bucket of its own
// since format 2, see format.go; a spooled body is a file that
// Message.Spool names, see spool.go). The metadata bucket's sequence number is
// the count of queued messages, so QueueLen needs no scan.
var (
	bucketQueue  = []byte("queue")
	bucketBodies = []byte("queue_body")
)

// Time and randomness of queue ids; tests replace them.
var (
	now        = time.Now
	randUint32 = rand.Uint32
)

// idEncoding is lowercase base32hex without padding: its alphabet is in
// ASCII order, so ids sort like the bytes they encode, and they are safe in
// file names, SMTP replies and logs.
var idEncoding = base32.NewEncoding("0123456789abcdefghijklmnopqrstuv").WithPadding(base32.NoPadding)

// idLen is the length of a queue id: 12 bytes (8 of nanoseconds since 1970,
// 4 random) in base32.
const idLen = 20

// newID returns a queue id: the big-endian Unix time in nanoseconds, made
// strictly increasing within this process (and above every id in the file
// at Open), followed by 32 random bits. Ids sort by arrival.
func (db *DB) newID() string {
	n := now().UnixNano()
	for {
		last := db.lastNano.Load()
		if n <= last {
			n = last + 1
		}
		if db.lastNano.CompareAndSwap(last, n) {
			break
		}
	}
	var b [12]byte
	binary.BigEndian.PutUint64(b[:8], uint64(n))
	binary.BigEndian.PutUint32(b[8:], randUint32())
	return idEncoding.EncodeToString(b[:])
}

// idNano returns the time part of a queue id.
func idNano(id []byte) (int64, bool) {
	if len(id) != idLen {
		return 0, false
	}
	var b [12]byte
	if n, err := idEncoding.Decode(b[:], id); err != nil || n != len(b) {
		return 0, false
	}
	return int64(binary.BigEndian.Uint64(b[:8])), true
}

// init checks and records the file's format, creates the buckets,
// recounts the queue and notes the newest id.
func (db *DB) init(btx *bolt.Tx) error {
	if err := checkFormat(btx); err != nil {
		return err
	}
	q, err := btx.CreateBucketIfNotExists(bucketQueue)
	if err != nil {
		return fmt.Errorf("create bucket %s: %w", bucketQueue, err)
	}
	for _, b := range append([][]byte{bucketBodies, bucketShared, bucketSends}, referralBuckets...) {
		if _, err := btx.CreateBucketIfNotExists(b); err != nil {
			return fmt.Errorf("create bucket %s: %w", b, err)
		}
	}
	var count uint64
	c := q.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		count++
	}
	if q.Sequence() != count {
		if err := q.SetSequence(count); err != nil {
			return fmt.Errorf("recount queue: %w", err)
		}
	}
	if k, _ := c.Last(); k != nil {
		if n, ok := idNano(k); ok {
			db.lastNano.Store(n)
		}
	}
	return nil
}

func (tx *Tx) queue() (meta, bodies *bolt.Bucket) {
	return tx.tx.Bucket(bucketQueue), tx.tx.Bucket(bucketBodies)
}

// Enqueue adds m with its body to the queue. It assigns m.ID (unique, sorting
// by arrival) and m.Size, and clears m.Spool (the body is inline); the
// caller sets everything else. body must not change before Update returns. Large bodies go to a spool file instead
// (see DB.CreateSpool and EnqueueSpooled).
func (tx *Tx) Enqueue(m *Message, body []byte) error {
	if m == nil {
		return errors.New("store: enqueue: nil message")
	}
	meta, bodies := tx.queue()
	key := tx.newKey(meta)
	m.ID = string(key)
	m.Size = int64(len(body))
	m.Spool = ""
	m.Shared = ""
	v, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("store: enqueue: encode: %w", err)
	}
	if err := meta.Put(key, v); err != nil {
		return fmt.Errorf("store: enqueue %s: %w", m.ID, err)
	}
	// bbolt keeps a reference to body until the commit, which Update waits
	// for: like every value passed to Put, the caller must not change it
	// before Update returns (see Update), so it needs no copy.
	if err := putBody(bodies, key, body); err != nil {
		return fmt.Errorf("store: enqueue %s body: %w", m.ID, err)
	}
	if err := meta.SetSequence(meta.Sequence() + 1); err != nil {
		return fmt.Errorf("store: enqueue %s: count: %w", m.ID, err)
	}
	return nil
}

// newKey returns a new queue id that is not in meta.
func (tx *Tx) newKey(meta *bolt.Bucket) []byte {
	for {
		key := []byte(tx.db.newID())
		if meta.Get(key) == nil {
			return key
		}
	}
}

// putNew stores the metadata of a new message m under key (without a body
// value) and counts it.
func (tx *Tx) putNew(meta *bolt.Bucket, m *Message, key []byte) error {
	v, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("store: enqueue: encode: %w", err)
	}
	if err := meta.Put(key, v); err != nil {
		return fmt.Errorf("store: enqueue %s: %w", m.ID, err)
	}
	if err := meta.SetSequence(meta.Sequence() + 1); err != nil {
		return fmt.Errorf("store: enqueue %s: count: %w", m.ID, err)
	}
	return nil
}

// Get returns the queued message id, or ErrNotFound.
func (tx *Tx) Get(id string) (*Message, error) {
	meta, _ := tx.queue()
	v := meta.Get([]byte(id))
	if v == nil {
		return nil, ErrNotFound
	}
	m := new(Message)
	if err := json.Unmarshal(v, m); err != nil {
		return nil, fmt.Errorf("store: decode %s: %w", id, err)
	}
	return m, nil
}

// Put replaces the metadata of a queued message (attempt counts, recipient
// states, next attempt). The body is unchanged, so m.Spool must be what the
// queue holds (as Get returned it). A message that is not queued gives
// ErrNotFound.
func (tx *Tx) Put(m *Message) error {
	if m == nil {
		return errors.New("store: put: nil message")
	}
	meta, _ := tx.queue()
	key := []byte(m.ID)
	var old []byte
	if len(key) > 0 {
		old = meta.Get(key)
	}
	if old == nil {
		return fmt.Errorf("store: put %q: %w", m.ID, ErrNotFound)
	}
	ref, err := spoolOf(old)
	if err != nil {
		return fmt.Errorf("store: put %s: decode: %w", m.ID, err)
	}
	if ref.Spool != m.Spool || ref.Shared != m.Shared {
		return fmt.Errorf("store: put %s: body %q %q, queued with %q %q: the body cannot change", m.ID, m.Spool, m.Shared, ref.Spool, ref.Shared)
	}
	v, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("store: put %s: encode: %w", m.ID, err)
	}
	if err := meta.Put(key, v); err != nil {
		return fmt.Errorf("store: put %s: %w", m.ID, err)
	}
	return nil
}

// Delete removes a queued message and its body. A spooled body's file is
// removed once the transaction has committed (never when it is rolled
// back). A message that is not queued gives ErrNotFound.
func (tx *Tx) Delete(id string) error {
	meta, bodies := tx.queue()
	key := []byte(id)
	var v []byte
	if len(key) > 0 {
		v = meta.Get(key)
	}
	if v == nil {
		return fmt.Errorf("store: delete %q: %w", id, ErrNotFound)
	}
	ref, err := spoolOf(v)
	if err != nil {
		// Delete all the same: an orphaned file is swept at Open.
		tx.db.log.Error("deleting a queued message whose metadata cannot be decoded", "queue_id", id, "err", err)
	}
	if err := meta.Delete(key); err != nil {
		return fmt.Errorf("store: delete %s: %w", id, err)
	}
	if err := meta.SetSequence(meta.Sequence() - 1); err != nil {
		return fmt.Errorf("store: delete %s: count: %w", id, err)
	}
	if ref.Shared != "" {
		last, err := tx.releaseShared(ref.Shared)
		if err != nil || !last {
			return err // other copies still need the body
		}
	}
	if ref.Spool != "" {
		tx.removes = append(tx.removes, ref.Spool)
		return nil
	}
	if err := deleteBody(bodies, ref.bodyKey(key)); err != nil {
		return fmt.Errorf("store: delete %s body: %w", id, err)
	}
	return nil
}

// Body returns the body of a queued message, or ErrNotFound. An inline body
// is copied out of bbolt, whose memory is only valid inside the
// transaction, into a buffer that Body.Release gives back for the next
// one; a spooled body is not read here: Body.Open reads the file.
func (tx *Tx) Body(id string) (Body, error) {
	meta, bodies := tx.queue()
	key := []byte(id)
	var v []byte
	if len(key) > 0 {
		v = meta.Get(key)
	}
	if v == nil {
		return Body{}, ErrNotFound
	}
	ref, err := spoolOf(v)
	if err != nil {
		return Body{}, fmt.Errorf("store: body %s: decode: %w", id, err)
	}
	if ref.Spool != "" {
		return Body{path: filepath.Join(tx.db.spoolDir, ref.Spool), size: ref.Size}, nil
	}
	return pooledCopy(getBody(bodies, ref.bodyKey(key))), nil
}

// Queued calls fn for every queued message in id order, stopping at the
// first error fn returns. fn must not change the queue in tx (bbolt cursors
// do not survive writes); collect ids and change them afterwards.
func (tx *Tx) Queued(fn func(m *Message) error) error {
	meta, _ := tx.queue()
	c := meta.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		m := new(Message)
		if err := json.Unmarshal(v, m); err != nil {
			return fmt.Errorf("store: decode %s: %w", k, err)
		}
		if err := fn(m); err != nil {
			return err
		}
	}
	return nil
}

// QueueLen is the number of queued messages.
func (tx *Tx) QueueLen() int {
	meta, _ := tx.queue()
	return int(meta.Sequence())
}
