package pipeline

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/careerrelay/careerrelay/configs"
	"github.com/careerrelay/careerrelay/store"
)

// syncFaultPipeline is a pipeline with a fakeDelivery whose store fails
// the fdatasync after bbolt's meta page write (store.Options.Fault
// "meta-sync") failures times once fail is set (-1: always).
func syncFaultPipeline(t *testing.T, failures int) (p *Pipeline, d *fakeDelivery, path string, fail *atomic.Bool) {
	t.Helper()
	fail = new(atomic.Bool)
	var left atomic.Int64
	left.Store(int64(failures))
	path = filepath.Join(t.TempDir(), "q.db")
	db, err := store.Open(path, store.Options{Fault: func(op string) error {
		if op != "meta-sync" || !fail.Load() || (failures >= 0 && left.Add(-1) < 0) {
			return nil
		}
		return errors.New("fdatasync: input/output error")
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	cfg := &configs.Config{Links: testLinks, Tenants: []configs.Tenant{*acme}}
	d = &fakeDelivery{}
	p, err = New(cfg, db, slog.New(slog.NewTextHandler(io.Discard, nil)), Options{Delivery: d})
	if err != nil {
		t.Fatal(err)
	}
	return p, d, path, fail
}

// reopened closes p's store and returns the copies and send records the
// file holds.
func reopened(t *testing.T, p *Pipeline, path string) (copies []queued, sends int) {
	t.Helper()
	p.db.Close()
	db, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	copies = queue(t, p, db)
	db.View(func(tx *store.Tx) error {
		return tx.Sends(func(*store.Send) error { sends++; return nil })
	})
	return copies, sends
}

// The fdatasync after the meta page write fails once: the store settles
// the commit, so Accept returns the queue ids (the 250) and the engine is
// told, and the reopened file holds every copy with its send record.
func TestAcceptAfterSettledSyncFailure(t *testing.T) {
	p, d, path, fail := syncFaultPipeline(t, 1)
	fail.Store(true)
	env := Envelope{From: "hr@acme.example", Tenant: acme, Received: time.Now(),
		Rcpts: []string{"taro@cand.example", "hanako@cand2.example"}}
	ids, err := p.Accept(context.Background(), env, []byte(taggedMail))
	if err != nil {
		t.Fatalf("Accept: %v", err)
	}
	if len(ids) != 2 || len(d.started) != 2 {
		t.Fatalf("ids %v, engine told of %v; want 2 each", ids, d.started)
	}
	copies, sends := reopened(t, p, path)
	if len(copies) != 2 || sends != 2 || copies[0].msg.ID != ids[0] {
		t.Errorf("reopened file: %d copies, %d send records; want the 2 answered (%v)", len(copies), sends, ids)
	}
}

// The sync fails for good: Accept's error wraps ErrCommitUncertain (the
// 451), the engine is told of nothing, and the store refuses to read or
// write, so no copy is delivered by this process; a second message is
// refused too. What the reopened file holds is what reached the disk: here
// (the fault only reports a failure) the first message, whole, which a
// restart delivers next to the sender's retry: a duplicate, not a loss.
func TestAcceptAfterUnsettledSyncFailure(t *testing.T) {
	p, d, path, fail := syncFaultPipeline(t, -1)
	fail.Store(true)
	env := Envelope{From: "hr@acme.example", Tenant: acme, Received: time.Now(), Rcpts: []string{"taro@cand.example"}}
	ids, err := p.Accept(context.Background(), env, []byte(taggedMail))
	if !errors.Is(err, store.ErrCommitUncertain) || ids != nil {
		t.Fatalf("Accept: %v, %v; want ErrCommitUncertain", ids, err)
	}
	if len(d.started) != 0 {
		t.Errorf("engine told of %v", d.started)
	}
	if err := p.db.View(func(*store.Tx) error { return nil }); !errors.Is(err, store.ErrFailed) {
		t.Errorf("View after the uncertain commit: %v, want ErrFailed", err)
	}
	fail.Store(false) // even with the disk back, the store stays failed until restart
	if _, err := p.Accept(context.Background(), env, []byte(taggedMail)); !errors.Is(err, store.ErrFailed) {
		t.Errorf("second Accept: %v, want ErrFailed", err)
	}
	copies, sends := reopened(t, p, path)
	if len(copies) > 1 || sends != len(copies) {
		t.Errorf("reopened file: %d copies, %d send records; want the first message whole or nothing", len(copies), sends)
	}
}
