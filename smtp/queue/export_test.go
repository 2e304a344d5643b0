package queue

import (
	"time"

	"github.com/careerrelay/careerrelay/smtp/transport"
	"github.com/careerrelay/careerrelay/store"
)

// What the external tests (package queue_test, which share the test
// environment of smtp/queue/queuetest with the transports' tests) may see
// of the inside.

// MailDate is mailDate, the date format of DSNs.
const MailDate = mailDate

// Backoff is backoff: the wait after the attempt-th attempt, with jitter.
func (e *Engine) Backoff(attempt int) time.Duration { return e.backoff(attempt) }

// DrainNotified is drainNotified: it plans the messages Notify named and
// refreshes the queue gauge after NotifyStarted.
func (e *Engine) DrainNotified() { e.drainNotified() }

// Scan is scan: the rescan of the whole queue.
func (e *Engine) Scan() error { return e.scan() }

// SetTestScanned sets testScanned, which scan runs between reading the
// queue and planning it (nil: nothing).
func (e *Engine) SetTestScanned(f func()) { e.testScanned = f }

// DSN is dsn with exported fields, for composing a DSN without an engine.
type DSN struct {
	ReportingMTA string
	Orig         *store.Message
	OrigHeader   []byte
	Failed       []transport.Result
	Now          time.Time
	Lifetime     time.Duration
}

// Compose is dsn.compose.
func (d DSN) Compose(messageID string) ([]byte, error) {
	return (&dsn{
		reportingMTA: d.ReportingMTA, orig: d.Orig, origHeader: d.OrigHeader,
		failed: d.Failed, now: d.Now, lifetime: d.Lifetime,
	}).compose(messageID)
}
