package store

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"
)

func TestSendRecordsPersistWithTheirCopy(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	sent := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	err = db.Update(context.Background(), func(tx *Tx) error {
		m := &Message{From: "hr@acme.example", Rcpts: []Rcpt{{Addr: "c@cand.example"}}}
		if err := tx.Enqueue(m, []byte("body")); err != nil {
			return err
		}
		return tx.PutSend(&Send{ID: "00aa", Tenant: "acme", Rcpt: "c@cand.example", Name: "候補 太郎", QueueID: m.ID, Sent: sent})
	})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if db, err = Open(path, Options{}); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.View(func(tx *Tx) error {
		s, err := tx.GetSend("00aa")
		if err != nil || s.Rcpt != "c@cand.example" || s.Name != "候補 太郎" || !s.Sent.Equal(sent) || s.QueueID == "" {
			t.Errorf("send record after reopen: %+v, %v", s, err)
		}
		if _, err := tx.GetSend("ffff"); !errors.Is(err, ErrNotFound) {
			t.Errorf("missing send: %v", err)
		}
		n := 0
		tx.Sends(func(*Send) error { n++; return nil })
		if n != 1 {
			t.Errorf("Sends visited %d records", n)
		}
		return nil
	})
}
