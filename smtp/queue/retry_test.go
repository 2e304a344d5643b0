package queue_test

import (
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/careerrelay/careerrelay/configs"
	"github.com/careerrelay/careerrelay/internal/testlib"
	"github.com/careerrelay/careerrelay/smtp/queue/queuetest"
	"github.com/careerrelay/careerrelay/store"
)

// A 4xx is retried on the schedule: not before the backoff, then at it;
// once the upstream says 250 the message leaves the queue.
func TestRetryOnSchedule(t *testing.T) {
	s := testlib.NewSink(t, nil)
	var e *queuetest.Env
	var accept atomic.Bool
	var mu sync.Mutex
	var seen []store.Message // the message as stored when each attempt reached the sink
	s.SetRcptReply(func(to string) error {
		mu.Lock()
		for _, m := range e.Queued() {
			seen = append(seen, *m)
		}
		mu.Unlock()
		if accept.Load() {
			return nil
		}
		return testlib.SMTPReply(451, "4.3.0", "try again later")
	})
	e = queuetest.New(t, func(c *configs.Config, _ *queuetest.Options) {
		c.Delivery.Relay = configs.Relay{Address: s.Addr, TLS: "none"}
		c.Delivery.RetrySchedule = []time.Duration{time.Minute, 5 * time.Minute}
	})
	deferredBefore := queuetest.Attempts("deferred")
	id := e.Enqueue("hr@acme.example", []string{"taro@example.jp"}, queuetest.Body)

	e.RunDue(1)
	m := e.Get(id)
	if m == nil || m.Attempts != 1 || !m.NextAttempt.Equal(queuetest.T0.Add(time.Minute)) {
		t.Fatalf("after attempt 1: %+v, want Attempts 1, NextAttempt queuetest.T0+1m", m)
	}
	if !strings.HasPrefix(m.LastError, "451 4.3.0") || m.Rcpts[0].State != store.Pending {
		t.Fatalf("after attempt 1: LastError %q state %v", m.LastError, m.Rcpts[0].State)
	}
	// The attempt was on record before it reached the upstream.
	mu.Lock()
	if len(seen) != 1 || seen[0].Attempts != 1 || !seen[0].NextAttempt.Equal(queuetest.T0.Add(time.Minute)) {
		t.Fatalf("during attempt 1 the store held %+v", seen)
	}
	mu.Unlock()

	e.Clock.Advance(time.Minute - time.Second)
	e.RunDue(0)
	e.Clock.Advance(time.Second)
	e.RunDue(1)
	m = e.Get(id)
	if m == nil || m.Attempts != 2 || !m.NextAttempt.Equal(queuetest.T0.Add(6*time.Minute)) {
		t.Fatalf("after attempt 2: %+v, want Attempts 2, NextAttempt queuetest.T0+6m", m)
	}

	accept.Store(true)
	e.Clock.Advance(5*time.Minute - time.Second)
	e.RunDue(0)
	e.Clock.Advance(time.Second)
	e.RunDue(1)
	if m := e.Get(id); m != nil {
		t.Fatalf("still queued after a 250: %+v", m)
	}
	if msgs := s.Messages(); len(msgs) != 1 {
		t.Fatalf("sink got %d messages, want 1", len(msgs))
	}
	if d := queuetest.Attempts("deferred") - deferredBefore; d != 2 {
		t.Errorf("deferred counter moved by %v, want 2", d)
	}
}

// The last entry of the schedule repeats, and jitter stays within ±10%.
func TestBackoff(t *testing.T) {
	var r float64
	e := queuetest.New(t, func(c *configs.Config, o *queuetest.Options) {
		c.Delivery.RetrySchedule = []time.Duration{time.Minute, 10 * time.Minute}
		o.Queue.Random = func() float64 { return r }
	})
	for _, tc := range []struct {
		attempt int
		r       float64
		want    time.Duration
	}{
		{1, 0.5, time.Minute},
		{2, 0.5, 10 * time.Minute},
		{9, 0.5, 10 * time.Minute},
		{1, 0, 54 * time.Second},
		{2, 1, 11 * time.Minute},
	} {
		r = tc.r
		if got := e.Eng.Backoff(tc.attempt); got != tc.want {
			t.Errorf("backoff(%d) with random %v = %v, want %v", tc.attempt, tc.r, got, tc.want)
		}
	}
}

// A connection failure is temporary, like a 4xx.
func TestConnectionRefusedDefers(t *testing.T) {
	e := queuetest.New(t, func(c *configs.Config, _ *queuetest.Options) {
		c.Delivery.Relay = configs.Relay{Address: "127.0.0.1:1", TLS: "none"}
	})
	id := e.Enqueue("hr@acme.example", []string{"taro@example.jp"}, queuetest.Body)
	e.RunDue(1)
	m := e.Get(id)
	if m == nil || m.Rcpts[0].State != store.Pending || m.LastError == "" {
		t.Fatalf("message = %+v, want pending with an error", m)
	}
}
