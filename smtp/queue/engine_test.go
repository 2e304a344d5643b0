package queue_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/careerrelay/careerrelay/configs"
	"github.com/careerrelay/careerrelay/internal/testlib"
	"github.com/careerrelay/careerrelay/smtp/queue"
	"github.com/careerrelay/careerrelay/smtp/queue/queuetest"
	"github.com/careerrelay/careerrelay/store"
)

// What was queued before a restart (or a crash mid-attempt) is delivered
// by the next Run; a message not yet due waits; Notify brings new ones.
func TestRunDeliversQueueAfterRestart(t *testing.T) {
	s := testlib.NewSink(t, nil)
	path := filepath.Join(t.TempDir(), "careerrelay.db")
	now := time.Now()

	db, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	msgs := []*store.Message{
		{From: "hr@acme.example", Rcpts: []store.Rcpt{{Addr: "a@example.jp"}}, Received: now, NextAttempt: now},
		// Crashed in the middle of its first attempt.
		{From: "hr@acme.example", Rcpts: []store.Rcpt{{Addr: "b@example.jp"}}, Received: now.Add(-2 * time.Minute), Attempts: 1, NextAttempt: now.Add(-time.Minute)},
		// Received, never looked at (NextAttempt zero).
		{From: "hr@acme.example", Rcpts: []store.Rcpt{{Addr: "c@example.jp"}}, Received: now},
		// Deferred until later: stays.
		{From: "hr@acme.example", Rcpts: []store.Rcpt{{Addr: "later@example.jp"}}, Received: now, Attempts: 3, NextAttempt: now.Add(time.Hour)},
	}
	err = db.Update(context.Background(), func(tx *store.Tx) error {
		for _, m := range msgs {
			if err := tx.Enqueue(m, []byte(queuetest.Body)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db, err = store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	// The settings left zero take their defaults from configs
	// (Config.DeliveryDefaults), as New reads them.
	cfg := &configs.Config{
		SMTP:     configs.SMTP{Hostname: "relay.test"},
		Delivery: configs.Delivery{Mode: "relay", Relay: configs.Relay{Address: s.Addr, TLS: "none"}, Workers: 2},
	}
	eng, err := queue.New(cfg, db, queuetest.Logger(t), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	stop := queuetest.RunEngine(t, eng)

	got := map[string]bool{}
	for _, m := range s.WaitForCount(t, 3, queuetest.Wait)[:3] {
		got[m.Rcpts[0]] = true
	}
	for _, want := range []string{"a@example.jp", "b@example.jp", "c@example.jp"} {
		if !got[want] {
			t.Errorf("%s not delivered after the restart (got %v)", want, got)
		}
	}
	queueLen := func() int {
		n := 0
		db.View(func(tx *store.Tx) error { n = tx.QueueLen(); return nil })
		return n
	}
	testlib.WaitFor(t, queuetest.Wait, "the delivered messages to leave the queue", func() bool { return queueLen() == 1 && queuetest.QueueMessages() == 1 })

	// A message enqueued while running is delivered on Notify.
	m := &store.Message{From: "hr@acme.example", Rcpts: []store.Rcpt{{Addr: "d@example.jp"}}, Received: time.Now(), NextAttempt: time.Now()}
	if err := db.Update(context.Background(), func(tx *store.Tx) error { return tx.Enqueue(m, []byte(queuetest.Body)) }); err != nil {
		t.Fatal(err)
	}
	eng.Notify(m.ID)
	if to := s.WaitForCount(t, 4, queuetest.Wait)[3].Rcpts[0]; to != "d@example.jp" {
		t.Errorf("delivered %s, want d@example.jp", to)
	}
	stop()
	if n := queueLen(); n != 1 {
		t.Errorf("queue holds %d messages after stop, want 1 (the deferred one)", n)
	}
}

// A message is never attempted twice at once: while an attempt runs,
// Notify and RunDue leave it alone.
func TestNoConcurrentAttemptsOfOneMessage(t *testing.T) {
	s := testlib.NewSink(t, nil)
	entered, release := make(chan struct{}, 10), make(chan struct{})
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})
	s.SetRcptReply(func(string) error {
		entered <- struct{}{}
		<-release
		return nil
	})
	e := queuetest.New(t, func(c *configs.Config, _ *queuetest.Options) {
		c.Delivery.Relay = configs.Relay{Address: s.Addr, TLS: "none"}
	})
	queuetest.RunEngine(t, e.Eng)
	id := e.Enqueue("hr@acme.example", []string{"taro@example.jp"}, queuetest.Body)
	<-entered
	e.Eng.Notify(id, id)
	if n, err := e.Eng.RunDue(context.Background()); err != nil || n != 0 {
		t.Fatalf("RunDue during the attempt made %d attempts (%v), want 0", n, err)
	}
	close(release)
	s.WaitForCount(t, 1, queuetest.Wait)
	testlib.WaitFor(t, queuetest.Wait, "the message to leave the queue", func() bool { return e.Get(id) == nil })
	if n := s.Sessions(); n != 1 {
		t.Errorf("sink saw %d sessions, want 1", n)
	}
}

// At shutdown Run waits for attempts in flight up to the grace period, then
// interrupts them; the interrupted message stays queued, its attempt on
// record, and is not expired or bounced.
func TestRunShutdownInterruptsAfterGrace(t *testing.T) {
	s := testlib.NewSink(t, nil)
	entered, release := make(chan struct{}, 1), make(chan struct{})
	t.Cleanup(func() { close(release) })
	s.SetReply(func(*testlib.SinkMessage) error {
		entered <- struct{}{}
		<-release
		return nil
	})
	e := queuetest.New(t, func(c *configs.Config, o *queuetest.Options) {
		c.Delivery.Relay = configs.Relay{Address: s.Addr, TLS: "none"}
		c.Delivery.Lifetime = time.Nanosecond // an expiry must not follow an interruption
		o.Queue.ShutdownGrace = 50 * time.Millisecond
	})
	stop := queuetest.RunEngine(t, e.Eng)
	id := e.Enqueue("hr@acme.example", []string{"taro@example.jp"}, queuetest.Body)
	<-entered
	stop()
	m := e.Get(id)
	if m == nil || m.Attempts != 1 || m.Rcpts[0].State != store.Pending {
		t.Fatalf("after shutdown: %+v, want pending with 1 attempt", m)
	}
	if m.LastError != "attempt interrupted at shutdown" {
		t.Errorf("LastError = %q", m.LastError)
	}
	if q := e.Queued(); len(q) != 1 {
		t.Errorf("queue holds %d messages, want 1 (no DSN)", len(q))
	}
}
