package pipeline

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/careerrelay/careerrelay/store"
)

// fakeDelivery records what the pipeline tells the engine. Its Prestart
// marks a message as the engine's does (attempt 1, next attempt a minute
// after it was received).
type fakeDelivery struct {
	mu         sync.Mutex
	prestarted int      // Prestart calls
	started    []string // ids from NotifyStarted
}

func (f *fakeDelivery) Prestart(m *store.Message) {
	f.mu.Lock()
	f.prestarted++
	f.mu.Unlock()
	m.Attempts = 1
	m.NextAttempt = m.Received.Add(time.Minute)
}

func (f *fakeDelivery) NotifyStarted(ids ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.started = append(f.started, ids...)
}

// With Options.Delivery, every copy (inline or spooled) is enqueued with its
// first attempt on record, and the engine hears of them by NotifyStarted
// only; without it, copies are queued unstarted and notify hears of them.
func TestDeliveryPrestartsCopies(t *testing.T) {
	received := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	env := Envelope{
		From: "hr@acme.example", Tenant: acme, MessageID: "<r1@acme.example>", Received: received,
		Rcpts: []string{"Taro@Cand.example", "hanako@cand2.example", "archive@acme.example"},
	}
	for _, tc := range []struct {
		name     string
		mail     string
		delivery bool
	}{
		{"small", taggedMail, true},
		{"large", largeMail, true},
		{"small without Delivery", taggedMail, false},
		{"large without Delivery", largeMail, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, db, notified := newTestPipeline(t)
			d := &fakeDelivery{}
			if tc.delivery {
				p.deliv = d
			}
			ids, err := p.Accept(context.Background(), env, []byte(tc.mail))
			if err != nil {
				t.Fatal(err)
			}
			if len(ids) != 3 {
				t.Fatalf("ids %v, want 3 copies", ids)
			}
			q := queue(t, p, db)
			if len(q) != 3 {
				t.Fatalf("%d queued, want 3", len(q))
			}
			if tc.delivery {
				if !slices.Equal(d.started, ids) || len(*notified) != 0 {
					t.Errorf("NotifyStarted got %v, notify %v: want %v and nothing", d.started, *notified, ids)
				}
				if d.prestarted < 3 {
					t.Errorf("Prestart called %d times for 3 copies", d.prestarted)
				}
			} else if !slices.Equal(*notified, ids) || len(d.started) != 0 {
				t.Errorf("notify got %v, NotifyStarted %v: want %v and nothing", *notified, d.started, ids)
			}
			for _, c := range q {
				wantAttempts, wantNext := 0, received
				if tc.delivery {
					wantAttempts, wantNext = 1, received.Add(time.Minute)
				}
				if c.msg.Attempts != wantAttempts || !c.msg.NextAttempt.Equal(wantNext) || !c.msg.Received.Equal(received) {
					t.Errorf("copy %s: Attempts %d NextAttempt %v, want %d and %v", c.msg.ID, c.msg.Attempts, c.msg.NextAttempt, wantAttempts, wantNext)
				}
			}
		})
	}
}

// A copy whose commit fails is never named to NotifyStarted.
func TestDeliveryFailedCommitNotifiesNothing(t *testing.T) {
	s := signedPipeline(t)
	d := &fakeDelivery{}
	s.p.deliv = d
	s.fail = true
	env := Envelope{From: "hr@acme.example", Tenant: s.tenant, Received: time.Now(), Rcpts: []string{"taro@cand.example"}}
	if _, err := s.p.Accept(context.Background(), env, []byte(taggedMail)); err == nil {
		t.Fatal("Accept succeeded with a failing store")
	}
	if len(d.started) != 0 {
		t.Errorf("NotifyStarted got %v after a failed commit", d.started)
	}
}
