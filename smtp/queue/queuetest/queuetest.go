// Package queuetest is the one test environment of the delivery tests: a
// queue.Engine on a fresh store in a temp dir, a fake clock, no jitter,
// and a transport (transport.New) on the test's network, with helpers to
// enqueue, run the due attempts, read the queue, the metrics and DSNs.
//
// Both the queue's tests and the transports' tests use it, as external
// test packages (queue_test, transport_test): the transports are tested as
// the queue drives them, because what they report shows in the queue
// state, the metrics and the DSNs. It is built from the exported API only
// (queue.New with queue.Options, transport.New with transport.Options,
// store), so it imports queue, and so the queue's internal test files
// (package queue) cannot import it. That is why the queue's tests are in
// package queue_test too; the few unexported things they look at (backoff,
// scan and its test hook, drainNotified, the DSN composer and its date
// format) are shown to them by smtp/queue/export_test.go, as the
// transports' are by smtp/transport/export_test.go. Each package keeps only
// the helpers of its own tests (the transports' send and stateName, the
// queue's spooled bodies).
//
// It holds no tests; only test files import it.
package queuetest

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/careerrelay/careerrelay/configs"
	"github.com/careerrelay/careerrelay/internal/testlib"
	"github.com/careerrelay/careerrelay/smtp/queue"
	"github.com/careerrelay/careerrelay/smtp/transport"
	"github.com/careerrelay/careerrelay/store"
)

// T0 is when every Env's fake clock starts.
var T0 = time.Date(2026, 4, 1, 9, 0, 0, 0, time.FixedZone("JST", 9*3600))

// Wait is how long a test waits for something to happen (a message at a
// testlib.Sink, the queue to drain) before it fails.
const Wait = 10 * time.Second

// Body is a message to enqueue: CRLF line ends, an encoded Subject, 8-bit
// text, and lines that need dot-stuffing.
const Body = "From: HR <hr@acme.example>\r\n" +
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

// Options are the engine's and the transport's options of an Env.
type Options struct {
	// Queue are the engine's. Its Transport is ignored: the engine
	// delivers with the Env's transport, made with Transport below.
	Queue queue.Options
	// Transport are those transport.New makes the Env's transport with.
	Transport transport.Options
	// Log is the engine's logger; nil for Logger(T).
	Log *slog.Logger
}

// Env is an engine on a fresh store with a fake clock, no jitter, and a
// transport on the test's network.
type Env struct {
	T     testing.TB
	Dir   string // the data dir, which holds the store and spool/
	DB    *store.DB
	Clock *testlib.Clock
	Cfg   *configs.Config
	Opts  Options
	Tr    transport.Transport
	Eng   *queue.Engine
}

// New builds an Env; configure adjusts the default config (relay mode to
// nowhere) and the options before the transport and the engine are made.
// Both start on the fake clock with the same Random, 0.5 (no jitter).
func New(t testing.TB, configure func(*configs.Config, *Options)) *Env {
	t.Helper()
	dir := t.TempDir()
	db, err := store.Open(filepath.Join(dir, "careerrelay.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e := &Env{T: t, Dir: dir, DB: db, Clock: testlib.NewClock(T0)}
	e.Cfg = &configs.Config{
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
	random := func() float64 { return 0.5 } // no jitter
	e.Opts = Options{
		Queue: queue.Options{Now: e.Clock.Now, Random: random},
		Transport: transport.Options{
			Now:    e.Clock.Now,
			Random: random,
			Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, network, addr)
			},
			Log: Logger(t),
		},
	}
	if configure != nil {
		configure(e.Cfg, &e.Opts)
	}
	e.Restart()
	return e
}

// Restart makes a new transport and engine with e's config and options
// on e's store, as the next process does after a crash, and puts them in
// e.Tr and e.Eng. New calls it once.
func (e *Env) Restart() {
	e.T.Helper()
	tr, err := transport.New(e.Cfg, e.Opts.Transport)
	if err != nil {
		e.T.Fatal(err)
	}
	// RunDue, unlike Run, leaves sessions idle in the connection cache.
	e.T.Cleanup(tr.Close)
	qo := e.Opts.Queue
	qo.Transport = tr
	log := e.Opts.Log
	if log == nil {
		log = Logger(e.T)
	}
	eng, err := queue.New(e.Cfg, e.DB, log, qo)
	if err != nil {
		e.T.Fatal(err)
	}
	e.Tr, e.Eng = tr, eng
}

// Logger is a logger for an engine or a transport under test: silent
// unless the tests run with -v.
func Logger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// Enqueue queues a message received now and tells the engine.
func (e *Env) Enqueue(from string, rcpts []string, body string) string {
	e.T.Helper()
	m := e.Message(from, rcpts)
	e.Put(m, body)
	e.Eng.Notify(m.ID)
	return m.ID
}

// Message is a message of tenant acme received now, not yet stored.
func (e *Env) Message(from string, rcpts []string) *store.Message {
	m := &store.Message{Tenant: "acme", From: from, MessageID: "<orig@acme.example>", Received: e.Clock.Now(), NextAttempt: e.Clock.Now()}
	for _, r := range rcpts {
		m.Rcpts = append(m.Rcpts, store.Rcpt{Addr: r})
	}
	return m
}

// Put stores m as it is (no Notify).
func (e *Env) Put(m *store.Message, body string) {
	e.T.Helper()
	err := e.DB.Update(context.Background(), func(tx *store.Tx) error { return tx.Enqueue(m, []byte(body)) })
	if err != nil {
		e.T.Fatal(err)
	}
}

// EnqueueStarted queues a message received now as the pipeline does with
// SetDelivery: Prestart inside the enqueue's Update. It calls
// NotifyStarted when notify is set (not: the process crashed right after
// the commit).
func (e *Env) EnqueueStarted(rcpts []string, notify bool) string {
	e.T.Helper()
	m := e.Message("hr@acme.example", rcpts)
	err := e.DB.Update(context.Background(), func(tx *store.Tx) error {
		e.Eng.Prestart(m)
		return tx.Enqueue(m, []byte(Body))
	})
	if err != nil {
		e.T.Fatal(err)
	}
	if notify {
		e.Eng.NotifyStarted(m.ID)
	}
	return m.ID
}

// EnqueueSpooled queues body as a spool file, tells the engine, and
// returns the queued message and the path of its file.
func (e *Env) EnqueueSpooled(from string, rcpts []string, body []byte) (*store.Message, string) {
	e.T.Helper()
	f, err := e.DB.CreateSpool()
	if err != nil {
		e.T.Fatal(err)
	}
	defer f.Discard() // a no-op once enqueued
	if _, err := f.Write(body); err != nil {
		e.T.Fatal(err)
	}
	if err := f.Finish(); err != nil {
		e.T.Fatal(err)
	}
	m := e.Message(from, rcpts)
	m.MessageID = "<big@acme.example>"
	if err := e.DB.Update(context.Background(), func(tx *store.Tx) error { return tx.EnqueueSpooled(m, f) }); err != nil {
		e.T.Fatal(err)
	}
	if m.Spool == "" || m.Size != int64(len(body)) {
		e.T.Fatalf("EnqueueSpooled: spool %q size %d", m.Spool, m.Size)
	}
	path := filepath.Join(e.Dir, "spool", m.Spool)
	if _, err := os.Stat(path); err != nil {
		e.T.Fatalf("spool file: %v", err)
	}
	e.Eng.Notify(m.ID)
	return m, path
}

// Get returns the queued message id, nil when it is gone.
func (e *Env) Get(id string) *store.Message {
	e.T.Helper()
	var m *store.Message
	err := e.DB.View(func(tx *store.Tx) error {
		var err error
		m, err = tx.Get(id)
		if errors.Is(err, store.ErrNotFound) {
			m, err = nil, nil
		}
		return err
	})
	if err != nil {
		e.T.Fatal(err)
	}
	return m
}

// Queued lists the whole queue.
func (e *Env) Queued() []*store.Message {
	e.T.Helper()
	var out []*store.Message
	err := e.DB.View(func(tx *store.Tx) error {
		return tx.Queued(func(m *store.Message) error { out = append(out, m); return nil })
	})
	if err != nil {
		e.T.Fatal(err)
	}
	return out
}

// Updates is how many store Updates have been committed so far.
func (e *Env) Updates() uint64 { return e.DB.Stats().Updates }

// RunDue runs the due attempts and checks how many there were.
func (e *Env) RunDue(want int) {
	e.T.Helper()
	n, err := e.Eng.RunDue(context.Background())
	if err != nil {
		e.T.Fatal(err)
	}
	if n != want {
		e.T.Fatalf("RunDue made %d attempts, want %d", n, want)
	}
}

// RunEngine runs eng.Run until the test ends (or stop is called) and
// returns stop, which waits for Run to return and checks its error.
func RunEngine(t testing.TB, eng *queue.Engine) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- eng.Run(ctx) }()
	stopped := false
	stop = func() {
		t.Helper()
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not return after its context ended")
		}
	}
	t.Cleanup(stop)
	return stop
}
