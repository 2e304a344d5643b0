package queue_test

import (
	"bytes"
	"context"
	"log/slog"
	"strconv"
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

// Every line an attempt logs carries exactly one result, delivered,
// deferred or bounced: the attempt's, or each recipient's as recorded.
func TestAttemptLogOneResultPerLine(t *testing.T) {
	type line map[string][]string
	for _, tc := range []struct {
		name     string
		lifetime time.Duration
		advance  time.Duration
		remove   bool
		attempts int    // the DSN's too
		want     []line // the lines of the attempt, in order, by some of their attributes
	}{
		{name: "mixed", attempts: 2, want: []line{
			{"msg": {"delivery attempt"}, "result": {"deferred"}, "delivered": {"1"}, "deferred": {"1"}, "bounced": {"1"}},
			{"msg": {"recipient not delivered"}, "result": {"bounced"}, "status": {"5.1.1"}},
			{"msg": {"recipient not delivered"}, "result": {"deferred"}, "status": {"4.2.1"}},
		}},
		// Past the lifetime a deferral is recorded as a failure: the
		// recipient's line says bounced, not the transport's deferred.
		{name: "expired", attempts: 2, lifetime: time.Second, advance: time.Second, want: []line{
			{"msg": {"delivery attempt"}, "result": {"bounced"}, "delivered": {"1"}, "deferred": {"0"}, "bounced": {"2"}},
			{"msg": {"recipient not delivered"}, "result": {"bounced"}, "status": {"5.1.1"}},
			{"msg": {"recipient not delivered"}, "result": {"bounced"}, "status": {"4.4.7"}},
		}},
		// A message removed during its attempt records nothing; its line
		// says what the transport did, not "delivered".
		{name: "removed", remove: true, attempts: 1, want: []line{
			{"msg": {"delivery attempt"}, "result": {"deferred"}, "removed": {"true"}, "delivered": {"1"}, "deferred": {"1"}, "bounced": {"1"}},
			{"msg": {"recipient not delivered"}, "result": {"bounced"}},
			{"msg": {"recipient not delivered"}, "result": {"deferred"}},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var e *queuetest.Env
			var id atomic.Value
			s := testlib.NewSink(t, &testlib.SinkOptions{RcptReply: func(to string) error {
				switch {
				case strings.HasPrefix(to, "hanako@"):
					return testlib.SMTPReply(550, "5.1.1", "<"+to+"> unknown")
				case strings.HasPrefix(to, "jiro@"):
					if tc.remove {
						err := e.DB.Update(context.Background(), func(tx *store.Tx) error { return tx.Delete(id.Load().(string)) })
						if err != nil {
							t.Error(err)
						}
					}
					return testlib.SMTPReply(450, "4.2.1", "try later")
				}
				return nil
			}})
			var buf bytes.Buffer
			var mu sync.Mutex
			e = queuetest.New(t, func(c *configs.Config, o *queuetest.Options) {
				c.Delivery.Relay = configs.Relay{Address: s.Addr, TLS: "none"}
				if tc.lifetime > 0 {
					c.Delivery.Lifetime = tc.lifetime
				}
				o.Log = slog.New(slog.NewTextHandler(&lockedWriter{mu: &mu, w: &buf}, nil))
			})
			id.Store(e.Enqueue("hr@acme.example", []string{"taro@example.jp", "hanako@example.jp", "jiro@example.jp"}, queuetest.Body))
			e.Clock.Advance(tc.advance)
			e.RunDue(tc.attempts)
			mu.Lock()
			out := buf.String()
			mu.Unlock()
			var got []map[string][]string
			for l := range strings.Lines(out) {
				kv := parseLogfmt(t, l)
				if m := kv["msg"]; strings.Join(kv["queue_id"], ",") == id.Load().(string) &&
					len(m) == 1 && (m[0] == "delivery attempt" || m[0] == "recipient not delivered") {
					got = append(got, kv)
				}
			}
			if len(got) != len(tc.want) {
				t.Fatalf("%d lines, want %d:\n%s", len(got), len(tc.want), out)
			}
			for i, kv := range got {
				if r := kv["result"]; len(r) != 1 || (r[0] != "delivered" && r[0] != "deferred" && r[0] != "bounced") {
					t.Errorf("line %d has results %q, want exactly one word", i, r)
				}
				if _, ok := kv["outcome"]; ok {
					t.Errorf("line %d has an outcome besides its result: %v", i, kv)
				}
				for k, v := range tc.want[i] {
					if strings.Join(kv[k], ",") != v[0] {
						t.Errorf("line %d: %s = %q, want %q\n%s", i, k, kv[k], v[0], out)
					}
				}
			}
		})
	}
}

// parseLogfmt splits a line of slog's text handler into its values by key.
func parseLogfmt(t *testing.T, l string) map[string][]string {
	t.Helper()
	kv := map[string][]string{}
	l = strings.TrimSpace(l)
	for l != "" {
		k, rest, ok := strings.Cut(l, "=")
		if !ok {
			t.Fatalf("not key=value: %q", l)
		}
		var v string
		if strings.HasPrefix(rest, `"`) {
			q, err := strconv.QuotedPrefix(rest)
			if err != nil {
				t.Fatalf("%q: %v", rest, err)
			}
			v, _ = strconv.Unquote(q)
			rest = rest[len(q):]
		} else {
			v, rest, _ = strings.Cut(rest, " ")
		}
		kv[k] = append(kv[k], v)
		l = strings.TrimLeft(rest, " ")
	}
	return kv
}

// lockedWriter serialises writes to w, for a log buffer written by the
// engine's workers and read by the test.
type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
