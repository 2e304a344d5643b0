package pipeline

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/careerrelay/careerrelay/configs"
	"github.com/careerrelay/careerrelay/store"
)

// TestSendRecordsInSharedStore: with Options.Shared (several nodes), a
// tagged message's send records go to the shared store, not to the node's
// queue file; while the shared store fails, the message is refused and
// nothing is queued; untagged mail needs no shared store.
func TestSendRecordsInSharedStore(t *testing.T) {
	open := func(name string) *store.DB {
		db, err := store.Open(filepath.Join(t.TempDir(), name), store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	local, shared := open("q.db"), open("shared.db")
	cfg := &configs.Config{Links: testLinks, Tenants: []configs.Tenant{*acme}}
	p, err := New(cfg, local, slog.New(slog.NewTextHandler(io.Discard, nil)), Options{Shared: shared.Shared()})
	if err != nil {
		t.Fatal(err)
	}
	count := func(db *store.DB) (sends, queued int) {
		db.View(func(tx *store.Tx) error {
			tx.Sends(func(*store.Send) error { sends++; return nil })
			queued = tx.QueueLen()
			return nil
		})
		return
	}
	env := Envelope{From: "hr@acme.example", Tenant: acme, Rcpts: []string{"a@cand.example", "b@cand.example"}, Received: time.Now()}
	if _, err := p.Accept(context.Background(), env, []byte(taggedMail)); err != nil {
		t.Fatal(err)
	}
	if s, q := count(local); s != 0 || q != 2 {
		t.Errorf("the node's file holds %d send records and %d copies, want 0 and 2", s, q)
	}
	if s, _ := count(shared); s != 2 {
		t.Errorf("the shared store holds %d send records, want 2", s)
	}

	shared.Close() // the shared store is down
	if _, err := p.Accept(context.Background(), env, []byte(taggedMail)); err == nil {
		t.Error("a tagged message was accepted while the shared store was down")
	}
	if _, q := count(local); q != 2 {
		t.Errorf("%d copies queued, want still 2", q)
	}
	untagged := "From: hr@acme.example\r\nTo: a@cand.example\r\nSubject: hi\r\n\r\nno tag here\r\n"
	if _, err := p.Accept(context.Background(), env, []byte(untagged)); err != nil {
		t.Errorf("untagged mail while the shared store is down: %v", err)
	}
}
