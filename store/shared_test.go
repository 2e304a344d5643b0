package store

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"testing"
)

// copies returns n messages to one recipient each, with a recipe.
func copies(n int) []*Message {
	ms := make([]*Message, n)
	for i := range ms {
		ms[i] = &Message{From: "hr@acme.example", Rcpts: []Rcpt{{Addr: "c" + string(rune('a'+i)) + "@example.net"}},
			Recipe: &Recipe{Tag: "[[career-relay]]", Link: "https://l.example/c/" + string(rune('a'+i)), Sign: true}}
	}
	return ms
}

func deleteQueued(t *testing.T, db *DB, id string) {
	t.Helper()
	if err := db.Update(context.Background(), func(tx *Tx) error { return tx.Delete(id) }); err != nil {
		t.Fatalf("Delete %s: %v", id, err)
	}
}

// bodyBytes counts the octets of every inline body, of either format.
func bodyBytes(t *testing.T, db *DB) (n int) {
	t.Helper()
	db.View(func(tx *Tx) error {
		bodies := tx.Bolt().Bucket(bucketBodies)
		return bodies.ForEach(func(k, _ []byte) error { n += len(getBody(bodies, k)); return nil })
	})
	return n
}

func TestSharedBodyStoredOnceAndRemovedWithTheLastCopy(t *testing.T) {
	db, _ := openTest(t, Options{})
	body := bytes.Repeat([]byte("x"), 10000)
	ms := copies(3)
	if err := db.Update(context.Background(), func(tx *Tx) error { return tx.EnqueueShared(ms, body) }); err != nil {
		t.Fatal(err)
	}
	if got := bodyBytes(t, db); got != len(body) {
		t.Fatalf("inline bodies hold %d octets for 3 copies of %d: want it once", got, len(body))
	}
	for i, m := range ms {
		if m.Shared != ms[0].ID || m.Size != int64(len(body)) {
			t.Errorf("copy %d: Shared %q Size %d, want %q %d", i, m.Shared, m.Size, ms[0].ID, len(body))
		}
	}
	db.View(func(tx *Tx) error {
		for _, m := range ms {
			got, err := bodyOf(tx, m.ID)
			if err != nil || !bytes.Equal(got, body) {
				t.Errorf("Body(%s): %d octets, %v", m.ID, len(got), err)
			}
			stored, _ := tx.Get(m.ID)
			if stored.Recipe == nil || *stored.Recipe != *m.Recipe {
				t.Errorf("recipe of %s: %+v, want %+v", m.ID, stored.Recipe, m.Recipe)
			}
		}
		return nil
	})
	// The first copy (whose id keys the body) goes first: the others
	// still read it.
	deleteQueued(t, db, ms[0].ID)
	deleteQueued(t, db, ms[2].ID)
	db.View(func(tx *Tx) error {
		got, err := bodyOf(tx, ms[1].ID)
		if err != nil || !bytes.Equal(got, body) {
			t.Errorf("last copy's body after the others were delivered: %d octets, %v", len(got), err)
		}
		return nil
	})
	deleteQueued(t, db, ms[1].ID)
	if got := bodyBytes(t, db); got != 0 {
		t.Errorf("%d octets of bodies left after every copy was deleted", got)
	}
	db.View(func(tx *Tx) error {
		if n := tx.SharedBodies(); n != 0 {
			t.Errorf("%d shared body counts left", n)
		}
		if n := tx.QueueLen(); n != 0 {
			t.Errorf("QueueLen %d", n)
		}
		return nil
	})
}

func TestSharedBodyCannotChangeOnPut(t *testing.T) {
	db, _ := openTest(t, Options{})
	ms := copies(2)
	db.Update(context.Background(), func(tx *Tx) error { return tx.EnqueueShared(ms, []byte("body")) })
	err := db.Update(context.Background(), func(tx *Tx) error {
		m, err := tx.Get(ms[1].ID)
		if err != nil {
			return err
		}
		m.Shared = ""
		return tx.Put(m)
	})
	if err == nil {
		t.Fatal("Put accepted a copy that no longer names its shared body")
	}
}

func TestSingleCopyHasItsOwnBody(t *testing.T) {
	db, _ := openTest(t, Options{})
	ms := copies(1)
	db.Update(context.Background(), func(tx *Tx) error { return tx.EnqueueShared(ms, []byte("body")) })
	if ms[0].Shared != "" {
		t.Errorf("a single copy shares %q", ms[0].Shared)
	}
	db.View(func(tx *Tx) error {
		if n := tx.SharedBodies(); n != 0 {
			t.Errorf("%d shared bodies for one copy", n)
		}
		return nil
	})
}

func TestSharedSpoolFileOutlivesAllButTheLastCopy(t *testing.T) {
	db, path := openTest(t, Options{})
	body := bigBody(400 << 10)
	f := spool(t, db, body)
	ms := copies(3)
	if err := db.Update(context.Background(), func(tx *Tx) error { return tx.EnqueueSharedSpooled(ms, f) }); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(filepath.Dir(path), "spool", ms[0].Spool)
	for _, m := range ms {
		if m.Spool != ms[0].Spool || m.Shared != ms[0].ID {
			t.Fatalf("copy %s: spool %q shared %q", m.ID, m.Spool, m.Shared)
		}
	}
	deleteQueued(t, db, ms[0].ID)
	deleteQueued(t, db, ms[1].ID)
	if !exists(t, file) {
		t.Fatal("the shared spool file went with the second of three copies")
	}
	// A restart keeps it: a copy still names it.
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db2, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	db2.View(func(tx *Tx) error {
		got, err := bodyOf(tx, ms[2].ID)
		if err != nil || !bytes.Equal(got, body) {
			t.Errorf("body after reopen: %d octets, %v", len(got), err)
		}
		return nil
	})
	deleteQueued(t, db2, ms[2].ID)
	if exists(t, file) {
		t.Error("the shared spool file outlived its last copy")
	}
}

func TestSharedEnqueueRefusesNoCopies(t *testing.T) {
	db, _ := openTest(t, Options{})
	err := db.Update(context.Background(), func(tx *Tx) error { return tx.EnqueueShared(nil, []byte("x")) })
	if err == nil || errors.Is(err, ErrNotFound) {
		t.Errorf("EnqueueShared of no copies: %v", err)
	}
}
