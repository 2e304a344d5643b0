package queue

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/careerrelay/careerrelay/configs"
	"github.com/careerrelay/careerrelay/internal/metrics"
	"github.com/careerrelay/careerrelay/internal/testlib"
	"github.com/careerrelay/careerrelay/store"
)

// t0 is when every test's fake clock starts.
var t0 = time.Date(2026, 4, 1, 9, 0, 0, 0, time.FixedZone("JST", 9*3600))

// env is an engine on a fresh store with a fake clock and no jitter.
type env struct {
	t     *testing.T
	dir   string
	db    *store.DB
	clock *testlib.Clock
	cfg   *configs.Config
	eng   *Engine
	opts  Options
}

// newEnv builds an env; configure adjusts the default config (relay mode
// to nowhere) and the options before the engine is made. Without
// Options.Transport, the engine makes its own on the real network.
func newEnv(t *testing.T, configure func(*configs.Config, *Options)) *env {
	t.Helper()
	dir := t.TempDir()
	db, err := store.Open(filepath.Join(dir, "careerrelay.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e := &env{t: t, dir: dir, db: db, clock: testlib.NewClock(t0)}
	e.cfg = &configs.Config{
		DataDir: dir,
		SMTP:    configs.SMTP{Hostname: "relay.test"},
		Delivery: configs.Delivery{
			Mode:           "relay",
			Relay:          configs.Relay{Address: "127.0.0.1:1", TLS: "none"},
			RetrySchedule:  []time.Duration{time.Minute, 5 * time.Minute},
			Lifetime:       configs.DefaultLifetime,
			Workers:        4,
			HelloName:      "out.relay.test",
			ConnectTimeout: 5 * time.Second,
			CommandTimeout: 10 * time.Second,
		},
	}
	e.opts = Options{
		Now:    e.clock.Now,
		Random: func() float64 { return 0.5 }, // no jitter
	}
	if configure != nil {
		configure(e.cfg, &e.opts)
	}
	e.eng, err = New(e.cfg, db, testLogger(t), e.opts)
	if err != nil {
		t.Fatal(err)
	}
	// RunDue, unlike Run, leaves sessions idle in the connection cache.
	t.Cleanup(e.eng.tr.Close)
	return e
}

func testLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// enqueue queues a message received now and tells the engine.
func (e *env) enqueue(from string, rcpts []string, body string) string {
	e.t.Helper()
	m := e.message(from, rcpts)
	e.put(m, body)
	e.eng.Notify(m.ID)
	return m.ID
}

func (e *env) message(from string, rcpts []string) *store.Message {
	m := &store.Message{Tenant: "acme", From: from, MessageID: "<orig@acme.example>", Received: e.clock.Now(), NextAttempt: e.clock.Now()}
	for _, r := range rcpts {
		m.Rcpts = append(m.Rcpts, store.Rcpt{Addr: r})
	}
	return m
}

// put stores m as it is (no Notify).
func (e *env) put(m *store.Message, body string) {
	e.t.Helper()
	err := e.db.Update(context.Background(), func(tx *store.Tx) error { return tx.Enqueue(m, []byte(body)) })
	if err != nil {
		e.t.Fatal(err)
	}
}

// get returns the queued message id, nil when it is gone.
func (e *env) get(id string) *store.Message {
	e.t.Helper()
	var m *store.Message
	err := e.db.View(func(tx *store.Tx) error {
		var err error
		m, err = tx.Get(id)
		if errors.Is(err, store.ErrNotFound) {
			m, err = nil, nil
		}
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return m
}

// queued lists the whole queue.
func (e *env) queued() []*store.Message {
	e.t.Helper()
	var out []*store.Message
	err := e.db.View(func(tx *store.Tx) error {
		return tx.Queued(func(m *store.Message) error { out = append(out, m); return nil })
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

// runDue runs the due attempts and checks how many there were.
func (e *env) runDue(want int) {
	e.t.Helper()
	n, err := e.eng.RunDue(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	if n != want {
		e.t.Fatalf("RunDue made %d attempts, want %d", n, want)
	}
}

// counter reads a delivery counter.
func counter(result string) float64 {
	var m dto.Metric
	metrics.DeliveryAttempts.WithLabelValues(result).(prometheus.Metric).Write(&m)
	return m.GetCounter().GetValue()
}

func gauge() float64 {
	var m dto.Metric
	metrics.QueueMessages.Write(&m)
	return m.GetGauge().GetValue()
}

// testWait is how long a test waits for something to happen (a message
// at a testlib.Sink, the queue to drain) before it fails.
const testWait = 10 * time.Second

const testBody = "From: HR <hr@acme.example>\r\n" +
	"To: Taro <taro@example.jp>\r\n" +
	"Subject: =?UTF-8?B?6YG46ICD57WQ5p6c?=\r\n" +
	"Message-ID: <orig@acme.example>\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"Content-Transfer-Encoding: 8bit\r\n" +
	"\r\n" +
	"山田様\r\n" +
	".a line that starts with a dot\r\n" +
	"..and two\r\n" +
	"\r\n" +
	"last line\r\n"
