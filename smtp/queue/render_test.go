package queue_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/careerrelay/careerrelay/configs"
	"github.com/careerrelay/careerrelay/internal/testlib"
	"github.com/careerrelay/careerrelay/smtp/queue/queuetest"
	"github.com/careerrelay/careerrelay/store"
)

// stampRenderer makes each copy by putting its recipe's link in a header
// field in front of the stored body, and counts what it made and released.
type stampRenderer struct {
	mu       sync.Mutex
	made     int
	released int
	err      error
}

func (r *stampRenderer) Render(m *store.Message, stored store.Body) (store.Body, func(), error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return store.Body{}, nil, r.err
	}
	r.made++
	return stored.WithPrefix([]byte("X-Link: " + m.Recipe.Link + "\r\n")), func() {
		r.mu.Lock()
		r.released++
		r.mu.Unlock()
	}, nil
}

// enqueueCopies queues one copy per recipient sharing one body, each with
// a personal link and its send record, as the pipeline does.
func enqueueCopies(t *testing.T, e *queuetest.Env, rcpts ...string) []*store.Message {
	t.Helper()
	var ms []*store.Message
	for _, r := range rcpts {
		m := e.Message("hr@acme.example", []string{r})
		m.Recipe = &store.Recipe{Tag: "[[career-relay]]", Link: "https://l.test/c/" + r, Send: "send-" + r, Sign: true}
		ms = append(ms, m)
	}
	err := e.DB.Update(context.Background(), func(tx *store.Tx) error {
		if err := tx.EnqueueShared(ms, []byte(queuetest.Body)); err != nil {
			return err
		}
		for _, m := range ms {
			s := &store.Send{ID: m.Recipe.Send, Tenant: "acme", Rcpt: m.Rcpts[0].Addr, QueueID: m.ID, Delivery: store.SendQueued}
			if err := tx.PutSend(s); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		e.Eng.Notify(m.ID)
	}
	return ms
}

func sendDelivery(t *testing.T, e *queuetest.Env, id string) string {
	t.Helper()
	var s *store.Send
	err := e.DB.View(func(tx *store.Tx) error {
		var err error
		s, err = tx.GetSend(id)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return s.Delivery
}

// Copies with a recipe are made by the renderer for each attempt, from
// the body they share; the send record of each tells whether its copy was
// delivered or bounced; the shared body goes with the last copy.
func TestRecipeCopiesRenderedAtDelivery(t *testing.T) {
	s := testlib.NewSink(t, nil)
	s.SetRcptReply(func(to string) error {
		if strings.HasPrefix(to, "gone@") {
			return testlib.SMTPReply(550, "5.1.1", "no such user")
		}
		return nil
	})
	e := queuetest.New(t, func(c *configs.Config, _ *queuetest.Options) {
		c.Delivery.Relay = configs.Relay{Address: s.Addr, TLS: "none"}
	})
	r := &stampRenderer{}
	e.Eng.SetRenderer(r)
	enqueueCopies(t, e, "taro@example.jp", "hanako@example.jp", "gone@example.jp")
	e.RunDue(4) // the three copies, then the DSN for gone@ (no recipe)

	got := map[string]string{}
	for _, m := range s.Messages() {
		if strings.HasPrefix(string(m.Data), "X-Link: ") {
			got[m.Rcpts[0]] = strings.SplitN(string(m.Data), "\r\n", 2)[0]
		}
	}
	if len(got) != 2 || got["taro@example.jp"] != "X-Link: https://l.test/c/taro@example.jp" || got["hanako@example.jp"] != "X-Link: https://l.test/c/hanako@example.jp" {
		t.Errorf("copies at the sink: %v", got)
	}
	if r.made != 3 || r.released != 3 {
		t.Errorf("renderer made %d copies and released %d, want 3 and 3", r.made, r.released)
	}
	for rcpt, want := range map[string]string{"taro@example.jp": store.SendDelivered, "hanako@example.jp": store.SendDelivered, "gone@example.jp": store.SendBounced} {
		if d := sendDelivery(t, e, "send-"+rcpt); d != want {
			t.Errorf("send record of %s: %q, want %q", rcpt, d, want)
		}
	}
	e.DB.View(func(tx *store.Tx) error {
		if n, shared := tx.QueueLen(), tx.SharedBodies(); n != 0 || shared != 0 {
			t.Errorf("%d queued, %d shared bodies left", n, shared)
		}
		return nil
	})
}

// A copy that cannot be made (no renderer, or the renderer fails) is not
// sent and stays queued, deferred with the reason.
func TestRecipeCopyThatCannotBeMadeIsDeferred(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    *stampRenderer
		want string
	}{
		{"no renderer", nil, "no renderer"},
		{"renderer fails", &stampRenderer{err: errors.New("tenant \"acme\" is no longer configured")}, "no longer configured"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := testlib.NewSink(t, nil)
			e := queuetest.New(t, func(c *configs.Config, _ *queuetest.Options) {
				c.Delivery.Relay = configs.Relay{Address: s.Addr, TLS: "none"}
			})
			if tc.r != nil {
				e.Eng.SetRenderer(tc.r)
			}
			ms := enqueueCopies(t, e, "taro@example.jp")
			e.RunDue(1)
			m := e.Get(ms[0].ID)
			if m == nil || m.Rcpts[0].State != store.Pending || !strings.Contains(m.LastError, tc.want) {
				t.Fatalf("after the attempt: %+v, want it pending with %q", m, tc.want)
			}
			if s.Attempts() != 0 {
				t.Errorf("%d deliveries reached the sink", s.Attempts())
			}
			if d := sendDelivery(t, e, ms[0].Recipe.Send); d != store.SendQueued {
				t.Errorf("send record %q, want still queued", d)
			}
		})
	}
}
