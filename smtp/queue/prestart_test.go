package queue_test

import (
	"context"
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

// Prestart records attempt 1 with the first backoff from Received, with
// the same jitter as begin, and touches nothing else.
func TestPrestart(t *testing.T) {
	var r float64
	e := queuetest.New(t, func(c *configs.Config, o *queuetest.Options) {
		c.Delivery.RetrySchedule = []time.Duration{time.Minute, 10 * time.Minute}
		o.Queue.Random = func() float64 { return r }
	})
	received := queuetest.T0.Add(-time.Hour)
	for _, tc := range []struct {
		r    float64
		want time.Duration
	}{{0.5, time.Minute}, {0, 54 * time.Second}, {1, 66 * time.Second}} {
		r = tc.r
		m := &store.Message{From: "hr@acme.example", Received: received, NextAttempt: received}
		e.Eng.Prestart(m)
		if m.Attempts != 1 || !m.NextAttempt.Equal(received.Add(tc.want)) || !m.Received.Equal(received) {
			t.Errorf("random %v: Prestart gave Attempts %d NextAttempt %v, want 1 and Received+%v", tc.r, m.Attempts, m.NextAttempt, tc.want)
		}
	}
	r = 0.5
	m := &store.Message{}
	e.Eng.Prestart(m)
	if m.Attempts != 1 || !m.NextAttempt.Equal(queuetest.T0.Add(time.Minute)) {
		t.Errorf("without Received: Attempts %d NextAttempt %v, want 1 and now+1m", m.Attempts, m.NextAttempt)
	}
}

// A prestarted message costs two store commits (enqueue, finish) where a
// notified one costs three (enqueue, begin, finish); both are delivered.
func TestPrestartedDeliveryCommits(t *testing.T) {
	s := testlib.NewSink(t, nil)
	e := queuetest.New(t, func(c *configs.Config, _ *queuetest.Options) {
		c.Delivery.Relay = configs.Relay{Address: s.Addr, TLS: "none"}
	})
	e.RunDue(0) // load the (empty) queue

	before := e.Updates()
	id := e.Enqueue("hr@acme.example", []string{"plain@example.jp"}, queuetest.Body)
	e.RunDue(1)
	if n := e.Updates() - before; n != 3 {
		t.Errorf("notified message: %d store updates, want 3", n)
	}
	if e.Get(id) != nil {
		t.Errorf("notified message still queued")
	}

	before = e.Updates()
	delivered := queuetest.Attempts("delivered")
	id = e.EnqueueStarted([]string{"fresh@example.jp"}, true)
	e.Eng.DrainNotified()
	if g := queuetest.QueueMessages(); g != 1 {
		t.Errorf("queue gauge %v after NotifyStarted, want 1", g)
	}
	e.RunDue(1)
	if n := e.Updates() - before; n != 2 {
		t.Errorf("prestarted message: %d store updates, want 2 (enqueue and finish)", n)
	}
	if e.Get(id) != nil {
		t.Errorf("prestarted message still queued")
	}
	if d := queuetest.Attempts("delivered") - delivered; d != 1 {
		t.Errorf("delivered counter moved by %v, want 1", d)
	}
	if g := queuetest.QueueMessages(); g != 0 {
		t.Errorf("queue gauge %v after delivery, want 0", g)
	}
	msgs := s.WaitForCount(t, 2, queuetest.Wait)
	if msgs[1].Rcpts[0] != "fresh@example.jp" || !strings.HasSuffix(string(msgs[1].Data), "last line\r\n") {
		t.Errorf("sink got %v %q", msgs[1].Rcpts, msgs[1].Data)
	}
}

// The first attempt of a prestarted message is on record from the enqueue
// and takes no commit; deferred, it is retried at Received + backoff(1),
// and that retry goes through begin (attempt 2).
func TestPrestartedDeferralThenBegin(t *testing.T) {
	s := testlib.NewSink(t, nil)
	var e *queuetest.Env
	var accept atomic.Bool
	var mu sync.Mutex
	var during []store.Message // the message as stored when each attempt reached the sink
	s.SetRcptReply(func(string) error {
		mu.Lock()
		defer mu.Unlock()
		for _, m := range e.Queued() {
			during = append(during, *m)
		}
		if accept.Load() {
			return nil
		}
		return testlib.SMTPReply(451, "4.3.0", "try again later")
	})
	e = queuetest.New(t, func(c *configs.Config, _ *queuetest.Options) {
		c.Delivery.Relay = configs.Relay{Address: s.Addr, TLS: "none"}
		c.Delivery.RetrySchedule = []time.Duration{time.Minute, 5 * time.Minute}
	})
	before := e.Updates()
	id := e.EnqueueStarted([]string{"taro@example.jp"}, true)
	e.RunDue(1)
	if n := e.Updates() - before; n != 2 {
		t.Errorf("enqueue and first attempt: %d store updates, want 2", n)
	}
	m := e.Get(id)
	if m == nil || m.Attempts != 1 || !m.NextAttempt.Equal(queuetest.T0.Add(time.Minute)) ||
		!strings.HasPrefix(m.LastError, "451 4.3.0") || m.Rcpts[0].State != store.Pending {
		t.Fatalf("after attempt 1: %+v, want pending, Attempts 1, NextAttempt queuetest.T0+1m, a 451", m)
	}
	seen := func() []store.Message {
		mu.Lock()
		defer mu.Unlock()
		return append([]store.Message(nil), during...)
	}
	if d := seen(); len(d) != 1 || d[0].Attempts != 1 || !d[0].NextAttempt.Equal(queuetest.T0.Add(time.Minute)) {
		t.Fatalf("during attempt 1 the store held %+v", d)
	}

	e.Clock.Advance(time.Minute - time.Second)
	e.RunDue(0)
	e.Clock.Advance(time.Second)
	before = e.Updates()
	e.RunDue(1)
	if n := e.Updates() - before; n != 2 {
		t.Errorf("attempt 2: %d store updates, want 2 (begin and finish)", n)
	}
	m = e.Get(id)
	if m == nil || m.Attempts != 2 || !m.NextAttempt.Equal(queuetest.T0.Add(6*time.Minute)) {
		t.Fatalf("after attempt 2: %+v, want Attempts 2, NextAttempt queuetest.T0+6m", m)
	}
	if d := seen(); len(d) != 2 || d[1].Attempts != 2 || !d[1].NextAttempt.Equal(queuetest.T0.Add(6*time.Minute)) {
		t.Fatalf("during attempt 2 the store held %+v", d)
	}

	accept.Store(true)
	e.Clock.Advance(5 * time.Minute)
	e.RunDue(1)
	if m := e.Get(id); m != nil {
		t.Fatalf("still queued after a 250: %+v", m)
	}
}

// A prestarted message whose process died after the enqueue commit (no
// NotifyStarted, or a crash in its first attempt) is not attempted by the
// next process before its NextAttempt, and then goes through begin.
func TestPrestartedCrashWaitsForNextAttempt(t *testing.T) {
	s := testlib.NewSink(t, nil)
	e := queuetest.New(t, func(c *configs.Config, _ *queuetest.Options) {
		c.Delivery.Relay = configs.Relay{Address: s.Addr, TLS: "none"}
		c.Delivery.RetrySchedule = []time.Duration{time.Minute, 5 * time.Minute}
	})
	id := e.EnqueueStarted([]string{"taro@example.jp"}, false)

	// The restarted process: a new engine on the same store.
	e.Restart()
	e.RunDue(0)
	e.Clock.Advance(time.Minute - time.Second)
	e.RunDue(0)
	if n := s.Sessions(); n != 0 {
		t.Fatalf("%d sessions before NextAttempt, want 0", n)
	}
	e.Clock.Advance(time.Second)
	before := e.Updates()
	e.RunDue(1)
	if n := e.Updates() - before; n != 2 {
		t.Errorf("attempt after the crash: %d store updates, want 2 (begin and finish)", n)
	}
	if m := e.Get(id); m != nil {
		t.Fatalf("still queued after delivery: %+v", m)
	}
	if len(s.WaitForCount(t, 1, queuetest.Wait)) != 1 {
		t.Errorf("want one delivery")
	}
}

// A rescan never delays a fresh message to its stored NextAttempt, in any
// order relative to NotifyStarted, nor re-plans it while it is attempted.
func TestPrestartedRescanDoesNotDelay(t *testing.T) {
	for _, order := range []string{"scan first", "notify first", "notify inside scan"} {
		t.Run(order, func(t *testing.T) {
			s := testlib.NewSink(t, nil)
			e := queuetest.New(t, func(c *configs.Config, _ *queuetest.Options) {
				c.Delivery.Relay = configs.Relay{Address: s.Addr, TLS: "none"}
			})
			e.RunDue(0) // load the (empty) queue
			before := e.Updates()
			id := e.EnqueueStarted([]string{"taro@example.jp"}, false)
			scan := func() {
				t.Helper()
				if err := e.Eng.Scan(); err != nil {
					t.Fatal(err)
				}
			}
			switch order {
			case "scan first": // planned at NextAttempt, then moved to now
				scan()
				e.Eng.NotifyStarted(id)
			case "notify first":
				e.Eng.NotifyStarted(id)
				scan()
			case "notify inside scan": // between the rescan's read and its planning
				e.Eng.SetTestScanned(func() { e.Eng.NotifyStarted(id) })
				scan()
				e.Eng.SetTestScanned(nil)
			}
			e.RunDue(1) // at queuetest.T0: not delayed
			if n := e.Updates() - before; n != 2 {
				t.Errorf("%d store updates, want 2 (the fresh path)", n)
			}
			if m := e.Get(id); m != nil {
				t.Fatalf("still queued: %+v", m)
			}
		})
	}

	// A rescan during the fresh attempt leaves it alone: deferred, it is
	// next due at its stored NextAttempt, not before.
	t.Run("scan during the attempt", func(t *testing.T) {
		s := testlib.NewSink(t, nil)
		entered, release := make(chan struct{}, 1), make(chan struct{})
		s.SetRcptReply(func(string) error {
			entered <- struct{}{}
			<-release
			return testlib.SMTPReply(451, "4.3.0", "try again later")
		})
		e := queuetest.New(t, func(c *configs.Config, _ *queuetest.Options) {
			c.Delivery.Relay = configs.Relay{Address: s.Addr, TLS: "none"}
		})
		id := e.EnqueueStarted([]string{"taro@example.jp"}, true)
		done := make(chan error, 1)
		go func() {
			n, err := e.Eng.RunDue(context.Background())
			if err == nil && n != 1 {
				t.Errorf("RunDue made %d attempts, want 1", n)
			}
			done <- err
		}()
		<-entered
		if err := e.Eng.Scan(); err != nil {
			t.Error(err)
		}
		close(release)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if m := e.Get(id); m == nil || m.Attempts != 1 {
			t.Fatalf("after the attempt: %+v, want queued with 1 attempt", m)
		}
		e.Clock.Advance(time.Minute - time.Second)
		e.RunDue(0)
		e.Clock.Advance(time.Second)
		e.RunDue(1) // the retry (entered has room for it; release is closed)
		if m := e.Get(id); m == nil || m.Attempts != 2 {
			t.Fatalf("after the retry: %+v, want 2 attempts", m)
		}
	})
}

// A fresh message whose first attempt starts only after its stored
// NextAttempt (a backlog) goes through begin, which plans the retry from
// now and keeps the count at 1: that attempt is the first.
func TestPrestartedLateFirstAttempt(t *testing.T) {
	s := testlib.NewSink(t, nil)
	s.SetRcptReply(func(string) error { return testlib.SMTPReply(451, "4.3.0", "try again later") })
	e := queuetest.New(t, func(c *configs.Config, _ *queuetest.Options) {
		c.Delivery.Relay = configs.Relay{Address: s.Addr, TLS: "none"}
		c.Delivery.RetrySchedule = []time.Duration{time.Minute, 5 * time.Minute}
	})
	before := e.Updates()
	id := e.EnqueueStarted([]string{"taro@example.jp"}, true)
	e.Clock.Advance(2 * time.Minute)
	e.RunDue(1)
	if n := e.Updates() - before; n != 3 {
		t.Errorf("%d store updates, want 3 (enqueue, begin, finish)", n)
	}
	if m := e.Get(id); m == nil || m.Attempts != 1 || !m.NextAttempt.Equal(queuetest.T0.Add(3*time.Minute)) {
		t.Fatalf("after the late first attempt: %+v, want Attempts 1, NextAttempt queuetest.T0+3m", m)
	}
	e.Clock.Advance(time.Minute)
	e.RunDue(1)
	if m := e.Get(id); m == nil || m.Attempts != 2 || !m.NextAttempt.Equal(queuetest.T0.Add(8*time.Minute)) {
		t.Fatalf("after the retry: %+v, want Attempts 2, NextAttempt queuetest.T0+8m", m)
	}
}

// Under Run, a prestarted message is delivered on NotifyStarted.
func TestRunDeliversPrestarted(t *testing.T) {
	s := testlib.NewSink(t, nil)
	e := queuetest.New(t, func(c *configs.Config, _ *queuetest.Options) {
		c.Delivery.Relay = configs.Relay{Address: s.Addr, TLS: "none"}
	})
	queuetest.RunEngine(t, e.Eng)
	id := e.EnqueueStarted([]string{"taro@example.jp"}, true)
	s.WaitForCount(t, 1, queuetest.Wait)
	testlib.WaitFor(t, queuetest.Wait, "the message to leave the queue", func() bool { return e.Get(id) == nil })
}
