package web

import (
	"cmp"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/careerrelay/careerrelay/internal/address"
	"github.com/careerrelay/careerrelay/store"
)

// The queue view of the admin API, behind `careerrelay queue`:
//
//	GET /api/queue[?limit=N]  -> QueueReply, oldest first
//
// It reads the store the running server holds (bbolt lets one process open
// the file), so NewAdmin needs the store; without it the answer is 503
// unavailable. limit (default 1000, 0 for the summary alone) bounds the
// messages listed, never the counts. Recipients appear only as the domains
// of their addresses: the queue holds candidates' personal data.

// defaultQueueLimit is how many messages GET /api/queue lists by default.
const defaultQueueLimit = 1000

// QueueReader is what the queue view needs of the store; *store.DB has it.
type QueueReader interface {
	View(fn func(tx *store.Tx) error) error
}

// QueueReply is the answer of GET /api/queue.
type QueueReply struct {
	Now              time.Time       `json:"now"`                // the server's clock; ages count from it
	Count            int             `json:"count"`              // messages queued (every per-recipient copy)
	Recipients       int             `json:"recipients"`         // pending recipients over all of them
	Oldest           time.Time       `json:"oldest,omitzero"`    // when the oldest was received
	OldestAgeSeconds int64           `json:"oldest_age_seconds"` // 0 when the queue is empty
	Messages         []QueuedMessage `json:"messages"`           // oldest first, at most limit
}

// QueuedMessage is one queued message as the operator sees it.
type QueuedMessage struct {
	ID          string    `json:"id"`
	Received    time.Time `json:"received"`
	AgeSeconds  int64     `json:"age_seconds"`
	Tenant      string    `json:"tenant"`     // "" for a relayed unknown sender or a DSN
	Recipients  int       `json:"recipients"` // still pending
	Domains     []string  `json:"domains"`    // of the pending recipients, sorted, without local parts
	Attempts    int       `json:"attempts"`
	NextAttempt time.Time `json:"next_attempt"`
	LastError   string    `json:"last_error,omitempty"` // addresses in it cut to @domain
	Size        int64     `json:"size"`
	DSN         bool      `json:"dsn,omitempty"` // a bounce careerrelay made
}

// registerQueue adds the queue view to the admin API's mux.
func (a *Admin) registerQueue(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/queue", a.listQueue)
	mux.HandleFunc("/api/queue", func(w http.ResponseWriter, r *http.Request) {
		apiError(w, http.StatusMethodNotAllowed, "method_not_allowed", r.Method+" is not allowed on /api/queue")
	})
}

func (a *Admin) listQueue(w http.ResponseWriter, r *http.Request) {
	limit := defaultQueueLimit
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			apiError(w, http.StatusBadRequest, "bad_request", fmt.Sprintf("limit %q is not a number of 0 or more", s))
			return
		}
		limit = n
	}
	if a.queue == nil {
		apiError(w, http.StatusServiceUnavailable, "unavailable", "this server has no queue to show")
		return
	}
	rep, err := readQueue(a.queue, time.Now(), limit)
	if err != nil {
		a.fail(w, "queue", err)
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

// readQueue lists the queue as of now, oldest first (by arrival, then id).
func readQueue(q QueueReader, now time.Time, limit int) (*QueueReply, error) {
	var msgs []QueuedMessage
	err := q.View(func(tx *store.Tx) error {
		return tx.Queued(func(m *store.Message) error {
			msgs = append(msgs, queuedMessage(m, now))
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(msgs, func(x, y QueuedMessage) int {
		return cmp.Or(x.Received.Compare(y.Received), strings.Compare(x.ID, y.ID))
	})
	rep := &QueueReply{Now: now, Count: len(msgs), Messages: []QueuedMessage{}}
	for _, m := range msgs {
		rep.Recipients += m.Recipients
	}
	if len(msgs) > 0 {
		rep.Oldest, rep.OldestAgeSeconds = msgs[0].Received, msgs[0].AgeSeconds
	}
	if len(msgs) > limit {
		msgs = msgs[:limit]
	}
	rep.Messages = append(rep.Messages, msgs...)
	return rep, nil
}

func queuedMessage(m *store.Message, now time.Time) QueuedMessage {
	qm := QueuedMessage{
		ID:          m.ID,
		Received:    m.Received,
		AgeSeconds:  max(int64(now.Sub(m.Received)/time.Second), 0),
		Tenant:      m.Tenant,
		Domains:     []string{},
		Attempts:    m.Attempts,
		NextAttempt: m.NextAttempt,
		Size:        m.Size,
		DSN:         m.DSN,
	}
	lastErr := m.LastError
	for _, rc := range m.Rcpts {
		if rc.State != store.Pending {
			continue
		}
		qm.Recipients++
		d := address.Domain(rc.Addr)
		if d == "" {
			d = "(none)"
		}
		if !slices.Contains(qm.Domains, d) {
			qm.Domains = append(qm.Domains, d)
		}
		if lastErr == "" && rc.LastError != "" {
			lastErr = rc.LastError
		}
	}
	slices.Sort(qm.Domains)
	qm.LastError = hideLocalParts(lastErr)
	return qm
}

// localPartRE matches the local part and @ of an address inside an SMTP
// reply or an error text.
var localPartRE = regexp.MustCompile(`(?:"[^"\r\n]*"|[^\s<>()\[\]{}:;,"'=/]+)@`)

// hideLocalParts replaces each address's local part by "*", so that an
// upstream's "550 5.1.1 <taro@example.com>: unknown" shows no person:
// "550 5.1.1 <*@example.com>: unknown".
func hideLocalParts(s string) string {
	return localPartRE.ReplaceAllString(s, "*@")
}
