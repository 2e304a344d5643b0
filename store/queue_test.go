package store

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"regexp"
	"sort"
	"testing"
	"time"
)

// fixClock makes queue ids deterministic for one test.
func fixClock(t *testing.T, at time.Time, random uint32) {
	t.Helper()
	oldNow, oldRand := now, randUint32
	t.Cleanup(func() { now, randUint32 = oldNow, oldRand })
	now = func() time.Time { return at }
	randUint32 = func() uint32 { return random }
}

func enqueue(t *testing.T, db *DB, m *Message, body []byte) {
	t.Helper()
	if err := db.Update(context.Background(), func(tx *Tx) error { return tx.Enqueue(m, body) }); err != nil {
		t.Fatalf("Enqueue: %v", err)
	}
}

var idPattern = regexp.MustCompile(`^[0-9a-v]{20}$`)

func TestQueueRoundTrip(t *testing.T) {
	db, _ := openTest(t, Options{})
	received := time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC)
	m := &Message{
		Tenant:      "acme",
		From:        "hr@acme.example",
		Rcpts:       []Rcpt{{Addr: "taro@example.net"}, {Addr: "archive@acme.example", State: Delivered}},
		MessageID:   "<1@acme.example>",
		Received:    received,
		NextAttempt: received,
	}
	body := []byte("Subject: hi\r\n\r\n[[career-relay]]\r\n")
	enqueue(t, db, m, body)
	if !idPattern.MatchString(m.ID) {
		t.Errorf("id %q does not match %v", m.ID, idPattern)
	}
	if m.Size != int64(len(body)) {
		t.Errorf("Size %d, want %d", m.Size, len(body))
	}

	err := db.View(func(tx *Tx) error {
		got, err := tx.Get(m.ID)
		if err != nil {
			return err
		}
		if !reflect.DeepEqual(got, m) {
			t.Errorf("Get = %+v, want %+v", got, m)
		}
		b, err := bodyOf(tx, m.ID)
		if err != nil {
			return err
		}
		if !bytes.Equal(b, body) {
			t.Errorf("Body = %q, want %q", b, body)
		}
		if n := tx.QueueLen(); n != 1 {
			t.Errorf("QueueLen = %d, want 1", n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// Put changes the metadata only.
	m.Attempts = 1
	m.Rcpts[0].State = Failed
	m.Rcpts[0].LastError = "550 5.1.1 no such user"
	m.LastError = "451 4.3.0 try later"
	if err := db.Update(context.Background(), func(tx *Tx) error { return tx.Put(m) }); err != nil {
		t.Fatal(err)
	}
	err = db.View(func(tx *Tx) error {
		got, err := tx.Get(m.ID)
		if err != nil {
			return err
		}
		if !reflect.DeepEqual(got, m) {
			t.Errorf("after Put, Get = %+v, want %+v", got, m)
		}
		if b, _ := bodyOf(tx, m.ID); !bytes.Equal(b, body) {
			t.Errorf("Put changed the body to %q", b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	if err := db.Update(context.Background(), func(tx *Tx) error { return tx.Delete(m.ID) }); err != nil {
		t.Fatal(err)
	}
	err = db.Update(context.Background(), func(tx *Tx) error {
		if _, err := tx.Get(m.ID); err != ErrNotFound {
			t.Errorf("Get after Delete: %v, want ErrNotFound", err)
		}
		if _, err := bodyOf(tx, m.ID); err != ErrNotFound {
			t.Errorf("Body after Delete: %v, want ErrNotFound", err)
		}
		if err := tx.Delete(m.ID); !errors.Is(err, ErrNotFound) {
			t.Errorf("second Delete: %v, want ErrNotFound", err)
		}
		if err := tx.Put(m); !errors.Is(err, ErrNotFound) {
			t.Errorf("Put after Delete: %v, want ErrNotFound", err)
		}
		if n := tx.QueueLen(); n != 0 {
			t.Errorf("QueueLen = %d, want 0", n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Enqueue does not copy the body, but it is on disk when Update returns:
// the caller may then reuse its buffer (the inbound session does).
func TestBodyMayBeReusedAfterUpdate(t *testing.T) {
	db, _ := openTest(t, Options{})
	buf := []byte("original")
	m := new(Message)
	err := db.Update(context.Background(), func(tx *Tx) error { return tx.Enqueue(m, buf) })
	if err != nil {
		t.Fatal(err)
	}
	copy(buf, "CHANGED!")
	var got []byte
	err = db.View(func(tx *Tx) error {
		got, err = bodyOf(tx, m.ID)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "original" {
		t.Errorf("body %q, want original", got)
	}
	// got outlives the transaction: it must not be bbolt's memory.
	if err := db.Update(context.Background(), func(tx *Tx) error { return tx.Delete(m.ID) }); err != nil {
		t.Fatal(err)
	}
	if string(got) != "original" {
		t.Errorf("body changed to %q after the transaction", got)
	}
}

// TestBodyReleaseReusesItsBuffer: a body given back with Release lends
// its memory to the next Body read, which still reads its own message; a
// body made from it with WithPrefix does not own that memory.
func TestBodyReleaseReusesItsBuffer(t *testing.T) {
	db, _ := openTest(t, Options{})
	a, b := new(Message), new(Message)
	enqueue(t, db, a, bytes.Repeat([]byte("a"), 10240))
	enqueue(t, db, b, bytes.Repeat([]byte("b"), 10240))
	read := func(id string) Body {
		var body Body
		if err := db.View(func(tx *Tx) (err error) { body, err = tx.Body(id); return err }); err != nil {
			t.Fatal(err)
		}
		return body
	}
	if read(a.ID).WithPrefix([]byte("X")).pooled != nil {
		t.Error("a body made with WithPrefix owns its original's buffer")
	}
	// Another test's reads may take the buffer in between, so reuse is
	// expected in some rounds, not in every one.
	reused := 0
	for i := 0; i < 50; i++ {
		first := read(a.ID)
		at := &first.inline[0]
		first.Release()
		second := read(b.ID)
		got, _ := second.Bytes()
		if len(got) != 10240 || got[0] != 'b' || got[len(got)-1] != 'b' {
			t.Fatalf("round %d: read %d octets starting %q after a release, want 10240 of 'b'", i, len(got), got[:1])
		}
		if &second.inline[0] == at {
			reused++
		}
		second.Release()
	}
	if reused == 0 {
		t.Error("no body read reused the buffer of the body released before it")
	}
}

func TestQueuedInIDOrder(t *testing.T) {
	db, path := openTest(t, Options{})
	// A stopped clock: ids still increase, by the nanosecond.
	at := time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC)
	fixClock(t, at, 0xffffffff)
	var ids []string
	for range 20 {
		m := new(Message)
		enqueue(t, db, m, nil)
		ids = append(ids, m.ID)
	}
	if !sort.StringsAreSorted(ids) {
		t.Errorf("ids not in arrival order: %v", ids)
	}
	if n, ok := idNano([]byte(ids[0])); !ok || n != at.UnixNano() {
		t.Errorf("first id %s holds time %d, want %d", ids[0], n, at.UnixNano())
	}
	var got []string
	err := db.View(func(tx *Tx) error {
		return tx.Queued(func(m *Message) error {
			got = append(got, m.ID)
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, ids) {
		t.Errorf("Queued order %v, want %v", got, ids)
	}
	errStop := errors.New("stop")
	calls := 0
	err = db.View(func(tx *Tx) error {
		return tx.Queued(func(*Message) error { calls++; return errStop })
	})
	if err != errStop || calls != 1 {
		t.Errorf("Queued returned %v after %d calls, want stop after 1", err, calls)
	}

	// After a restart with the clock set back, new ids still sort last.
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	fixClock(t, at.Add(-time.Hour), 0)
	db, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	m := new(Message)
	enqueue(t, db, m, []byte("x"))
	if m.ID <= ids[len(ids)-1] {
		t.Errorf("id %s after reopen does not sort after %s", m.ID, ids[len(ids)-1])
	}
	err = db.View(func(tx *Tx) error {
		if n := tx.QueueLen(); n != 21 {
			t.Errorf("QueueLen after reopen = %d, want 21", n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
