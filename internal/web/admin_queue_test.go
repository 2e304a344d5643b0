package web

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/careerrelay/careerrelay/store"
)

// queueStore opens a store in a temp folder holding three messages: one
// received two hours ago with two pending recipients (one domain in two
// spellings), one delivered and a deferral naming an address; a DSN; and
// one received an hour ago but enqueued first.
func queueStore(t *testing.T) *store.DB {
	t.Helper()
	db, err := store.Open(filepath.Join(t.TempDir(), "q.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	now := time.Now()
	msgs := []*store.Message{
		{Tenant: "acme", From: "hr@acme.example", Received: now.Add(-time.Hour),
			Rcpts: []store.Rcpt{{Addr: "saburo@example.net"}}, NextAttempt: now},
		{Tenant: "acme", From: "hr@acme.example", Received: now.Add(-2 * time.Hour), Attempts: 3,
			NextAttempt: now.Add(5 * time.Minute), LastError: "451 4.2.0 <taro@Example.COM>: mailbox busy",
			Rcpts: []store.Rcpt{
				{Addr: "taro@Example.COM"},
				{Addr: "hanako@example.com"},
				{Addr: "jiro@other.example", State: store.Delivered, LastError: "250 ok"},
			}},
		{From: "", DSN: true, Received: now.Add(-30 * time.Minute),
			Rcpts: []store.Rcpt{{Addr: "hr@acme.example", LastError: "dial tcp: connection refused"}}},
	}
	err = db.Update(context.Background(), func(tx *store.Tx) error {
		for _, m := range msgs {
			if err := tx.Enqueue(m, []byte("Subject: x\r\n\r\nbody\r\n")); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func TestAdminQueue(t *testing.T) {
	ta := newTestAdmin(t)
	ta.queue = queueStore(t)

	rec := ta.ok(http.MethodGet, "/api/queue", "")
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("GET /api/queue: %d %q %s", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
	}
	body := rec.Body.String()
	for _, personal := range []string{"taro", "hanako", "jiro", "saburo"} {
		if strings.Contains(body, personal) {
			t.Errorf("the reply shows %q of a recipient's address:\n%s", personal, body)
		}
	}
	var q QueueReply
	if err := json.Unmarshal(rec.Body.Bytes(), &q); err != nil {
		t.Fatal(err)
	}
	if q.Count != 3 || q.Recipients != 4 || len(q.Messages) != 3 {
		t.Fatalf("count %d, recipients %d, listed %d; want 3, 4, 3:\n%s", q.Count, q.Recipients, len(q.Messages), body)
	}
	if age := q.OldestAgeSeconds; age < 7199 || age > 7300 || !q.Oldest.Equal(q.Messages[0].Received) {
		t.Errorf("oldest %v, age %ds; want the first message, about 7200s", q.Oldest, age)
	}
	var ages []int64
	for _, m := range q.Messages {
		ages = append(ages, m.AgeSeconds)
	}
	if !slices.IsSortedFunc(ages, func(a, b int64) int { return int(b - a) }) {
		t.Errorf("not oldest first: ages %v", ages)
	}
	first := q.Messages[0]
	if first.Tenant != "acme" || first.Recipients != 2 || !slices.Equal(first.Domains, []string{"example.com"}) ||
		first.Attempts != 3 || first.LastError != "451 4.2.0 <*@Example.COM>: mailbox busy" || first.NextAttempt.IsZero() {
		t.Errorf("oldest message: %+v", first)
	}
	dsn := q.Messages[2]
	if !dsn.DSN || dsn.Tenant != "" || dsn.LastError != "dial tcp: connection refused" || !slices.Equal(dsn.Domains, []string{"acme.example"}) {
		t.Errorf("DSN: %+v", dsn)
	}
	if m := q.Messages[1]; m.Recipients != 1 || !slices.Equal(m.Domains, []string{"example.net"}) || m.Size == 0 {
		t.Errorf("the one enqueued first: %+v", m)
	}

	// limit bounds the list, never the counts.
	for limit, want := range map[string]int{"1": 1, "0": 0, "99": 3} {
		rec := ta.ok(http.MethodGet, "/api/queue?limit="+limit, "")
		var q QueueReply
		if err := json.Unmarshal(rec.Body.Bytes(), &q); err != nil || rec.Code != 200 || q.Count != 3 || len(q.Messages) != want || q.Messages == nil {
			t.Errorf("limit=%s: %d %s", limit, rec.Code, rec.Body)
		}
	}
	for _, bad := range []string{"-1", "x", "1.5"} {
		wantError(t, "limit="+bad, ta.ok(http.MethodGet, "/api/queue?limit="+bad, ""), http.StatusBadRequest, "bad_request")
	}
	wantError(t, "POST", ta.ok(http.MethodPost, "/api/queue", ""), http.StatusMethodNotAllowed, "method_not_allowed")
	wantError(t, "DELETE", ta.ok(http.MethodDelete, "/api/queue", ""), http.StatusMethodNotAllowed, "method_not_allowed")
	wantError(t, "no token", ta.call(http.MethodGet, "/api/queue", "", ""), http.StatusUnauthorized, "unauthorized")
	wantError(t, "wrong token", ta.call(http.MethodGet, "/api/queue", "", "Bearer "+adminToken+"x"), http.StatusUnauthorized, "unauthorized")
}

func TestAdminQueueEmpty(t *testing.T) {
	ta := newTestAdmin(t)
	db, err := store.Open(filepath.Join(t.TempDir(), "q.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ta.queue = db
	rec := ta.ok(http.MethodGet, "/api/queue", "")
	var q QueueReply
	if err := json.Unmarshal(rec.Body.Bytes(), &q); err != nil || rec.Code != 200 || q.Count != 0 ||
		q.OldestAgeSeconds != 0 || q.Messages == nil || strings.Contains(rec.Body.String(), `"oldest":`) {
		t.Errorf("empty queue: %d %s", rec.Code, rec.Body)
	}
}

type failingQueue struct{}

func (failingQueue) View(func(*store.Tx) error) error {
	return errors.New("store: secret internal detail")
}

func TestAdminQueueUnavailable(t *testing.T) {
	ta := newTestAdmin(t)
	wantError(t, "no queue", ta.ok(http.MethodGet, "/api/queue", ""), http.StatusServiceUnavailable, "unavailable")
	ta.queue = failingQueue{}
	e := wantError(t, "store error", ta.ok(http.MethodGet, "/api/queue", ""), http.StatusInternalServerError, "internal")
	if strings.Contains(e.Error, "secret") {
		t.Errorf("the reply leaks the error text: %q", e.Error)
	}
}

func TestHideLocalParts(t *testing.T) {
	for in, want := range map[string]string{
		"550 5.1.1 <taro.yamada+x@example.com>: no such user": "550 5.1.1 <*@example.com>: no such user",
		"RCPT TO:<a@b.example> refused; also c@d.example":     "RCPT TO:<*@b.example> refused; also *@d.example",
		"dial tcp 192.0.2.1:25: connection refused":           "dial tcp 192.0.2.1:25: connection refused",
		`"quoted local"@example.com`:                          `*@example.com`,
	} {
		if got := hideLocalParts(in); got != want {
			t.Errorf("hideLocalParts(%q) = %q, want %q", in, got, want)
		}
	}
}
