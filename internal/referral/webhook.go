package referral

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/careerrelay/careerrelay/configs"
	"github.com/careerrelay/careerrelay/internal/metrics"
	"github.com/careerrelay/careerrelay/store"
)

// SignatureHeader carries the HMAC of a webhook body.
const SignatureHeader = "X-CareerRelay-Signature"

// EventReferral is the event of a new referral's webhook.
const EventReferral = "referral.created"

// WebhookPayload is the JSON body POSTed to agency.webhook.url for each
// referral (event referral.created) and each withdrawal of consent
// (referral.withdrawn, with WithdrawnAt and without the ledger fields).
// The agency dedupes by ReferralID and Event: delivery is at least once.
type WebhookPayload struct {
	Event          string `json:"event"` // EventReferral
	ReferralID     string `json:"referral_id"`
	TenantID       string `json:"tenant_id"`
	TenantName     string `json:"tenant_name"`
	CandidateEmail string `json:"candidate_email"`
	CandidateName  string `json:"candidate_name,omitempty"`
	// CandidateErased: the candidate's data was erased before delivery
	// (CandidateEmail is then "", set by the erasure in the stored body).
	CandidateErased bool      `json:"candidate_erased,omitempty"`
	ConsentAt       time.Time `json:"consent_at"` // RFC 3339, UTC
	ConsentVersion  string    `json:"consent_version"`
	ReferralSeq     int       `json:"referral_seq"`   // the n-th referral of the tenant
	CreditGranted   bool      `json:"credit_granted"` // this referral granted the tenant a credit
	// The referral's ledger entry: keeping its hash lets the agency check
	// later that the ledger up to it was not rewritten.
	LedgerSeq  uint64 `json:"ledger_seq,omitempty"`
	LedgerHash string `json:"ledger_hash,omitempty"`
	// WithdrawnAt is set in a referral.withdrawn webhook: when the
	// candidate withdrew their consent.
	WithdrawnAt *time.Time `json:"withdrawn_at,omitempty"`
	// ConsentSeconds and Signals: how long after the mail's delivery the
	// consent came, and the signals of the consent ([] when none).
	ConsentSeconds int64    `json:"consent_seconds"`
	Signals        []Signal `json:"signals"`
}

// Sign returns the X-CareerRelay-Signature value of body:
// "sha256=" + hex(HMAC-SHA256(secret, body)).
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// VerifySignature tells whether header is body's signature under secret
// (what the agency checks).
func VerifySignature(secret, body []byte, header string) bool {
	got, ok := strings.CutPrefix(header, "sha256=")
	if !ok {
		return false
	}
	mac, err := hex.DecodeString(got)
	if err != nil {
		return false
	}
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return hmac.Equal(mac, m.Sum(nil))
}

// outboxItem is one webhook waiting in store.BucketOutbox. Body is sent
// exactly as stored.
type outboxItem struct {
	ReferralID  string    `json:"referral_id"`
	Body        []byte    `json:"body"`
	Created     time.Time `json:"created"`
	Attempts    int       `json:"attempts"`     // attempts started
	NextAttempt time.Time `json:"next_attempt"` // not before
	LastError   string    `json:"last_error,omitempty"`
}

// PendingWebhook is a webhook not yet accepted by the agency.
type PendingWebhook struct {
	ReferralID  string    `json:"referral_id"`
	Created     time.Time `json:"created"`
	Attempts    int       `json:"attempts"`
	NextAttempt time.Time `json:"next_attempt"`
	LastError   string    `json:"last_error,omitempty"`
}

func (s *Service) payload(r *Referral, t *configs.Tenant, e *Entry, granted bool) *WebhookPayload {
	return &WebhookPayload{
		Event: EventReferral, ReferralID: r.ID, TenantID: t.ID, TenantName: t.Name,
		CandidateEmail: r.Candidate, CandidateName: r.Name,
		ConsentAt: r.ConsentAt, ConsentVersion: r.ConsentVersion,
		ReferralSeq: r.Seq, CreditGranted: granted, LedgerSeq: e.Seq, LedgerHash: e.Hash,
		ConsentSeconds: r.ConsentSeconds, Signals: signalsOrEmpty(r.Signals),
	}
}

// queueWebhook adds p to the outbox, due at once.
func queueWebhook(tx store.SharedTx, p *WebhookPayload, id string, now time.Time) error {
	body, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("encode webhook: %w", err)
	}
	b := tx.Bucket(store.BucketOutbox)
	n, err := b.NextSequence()
	if err != nil {
		return err
	}
	v, err := json.Marshal(&outboxItem{ReferralID: id, Body: body, Created: now, NextAttempt: now})
	if err != nil {
		return fmt.Errorf("encode webhook: %w", err)
	}
	return b.Put(seqKey(n), v)
}

// PendingWebhooks lists the outbox, oldest first.
func (s *Service) PendingWebhooks() ([]PendingWebhook, error) {
	var out []PendingWebhook
	err := s.sh.View(func(tx store.SharedTx) error {
		return tx.Bucket(store.BucketOutbox).ForEach(func(k, v []byte) error {
			var it outboxItem
			if err := json.Unmarshal(v, &it); err != nil {
				return fmt.Errorf("decode webhook %x: %w", k, err)
			}
			out = append(out, PendingWebhook{ReferralID: it.ReferralID, Created: it.Created,
				Attempts: it.Attempts, NextAttempt: it.NextAttempt, LastError: it.LastError})
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("referral: read webhook outbox: %w", err)
	}
	return out, nil
}

// retryDelay is the wait after the n-th failed attempt (n from 1):
// backoff doubled n-1 times, at most maxBackoff, then ±20% at random.
func (s *Service) retryDelay(n int) time.Duration {
	d := s.backoff
	for i := 1; i < n && d < s.maxBackoff; i++ {
		d *= 2
	}
	d = min(d, s.maxBackoff)
	return time.Duration(float64(d) * (0.8 + 0.4*s.random()))
}

func (s *Service) runWebhooks(ctx context.Context) error {
	if s.hookURL == "" {
		if p, err := s.PendingWebhooks(); err == nil && len(p) > 0 {
			s.log.Warn("agency webhooks wait in the outbox but agency.webhook.url is empty", "pending", len(p))
		}
		<-ctx.Done()
		return nil
	}
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	s.log.Info("agency webhooks started", "concurrency", webhookConcurrency)
	d := s.newDispatcher()
	// On the way out, wait for the attempts in flight: ctx cancels their
	// requests, and each records its result (or leaves its recorded retry
	// time) before it ends.
	defer d.wait()
	for {
		next, _, err := d.dispatch(ctx)
		if err == nil {
			err = d.takeErr()
		}
		if ctx.Err() != nil {
			s.log.Info("agency webhooks stopped")
			return nil
		}
		if errors.Is(err, store.ErrClosed) {
			return fmt.Errorf("referral: webhooks: %w", err)
		}
		if err != nil {
			s.log.Error("agency webhook outbox", "err", err)
			next = s.now().Add(s.backoff)
		}
		// Sleep until the next one is due (at most maxBackoff, in case the
		// wall clock jumps), Refer queues one, or an attempt ends (its slot
		// is free, and an entry due meanwhile may be waiting for one).
		var timer *time.Timer
		var fire <-chan time.Time
		if !next.IsZero() {
			timer = time.NewTimer(min(max(next.Sub(s.now()), 0), s.maxBackoff))
			fire = timer.C
		}
		select {
		case <-ctx.Done():
		case <-s.wake:
		case <-d.finished:
		case <-fire:
		}
		if timer != nil {
			timer.Stop()
		}
	}
}

// webhookConcurrency is how many webhook attempts may be in flight at once,
// so that an agency endpoint that hangs on one request (up to the client's
// 30s timeout) does not hold back the others.
const webhookConcurrency = 4

// A dispatcher starts webhook attempts, at most webhookConcurrency at a
// time and never two of the same outbox entry at once. Only the goroutine
// that owns it (holding s.sendMu) calls dispatch, wait and takeErr.
type dispatcher struct {
	s        *Service
	limit    int
	wg       sync.WaitGroup
	finished chan struct{} // an attempt ended (buffered, coalesced)

	mu       sync.Mutex
	inflight map[string]bool // outbox keys being attempted
	err      error           // the first store error of an attempt, until taken
}

func (s *Service) newDispatcher() *dispatcher {
	return &dispatcher{s: s, limit: webhookConcurrency, finished: make(chan struct{}, 1), inflight: map[string]bool{}}
}

// dispatch starts an attempt for each webhook due at s.now() that is not in
// flight, while fewer than limit are. It returns when the next entry not in
// flight and not yet due falls due (zero when none is waiting for a time),
// and active, the number of attempts in flight at the scan or started by
// it: entries due but left for want of a slot are started by a later
// dispatch, after an attempt ends.
func (d *dispatcher) dispatch(ctx context.Context) (next time.Time, active int, err error) {
	s := d.s
	if err := ctx.Err(); err != nil {
		return time.Time{}, 0, err
	}
	now := s.now()
	var due [][]byte
	d.mu.Lock()
	busy := maps.Clone(d.inflight)
	free := d.limit - len(d.inflight)
	d.mu.Unlock()
	err = s.sh.View(func(tx store.SharedTx) error {
		return tx.Bucket(store.BucketOutbox).ForEach(func(k, v []byte) error {
			if busy[string(k)] {
				return nil
			}
			var it outboxItem
			if err := json.Unmarshal(v, &it); err != nil {
				return fmt.Errorf("decode webhook %x: %w", k, err)
			}
			if !it.NextAttempt.After(now) {
				if len(due) < free {
					due = append(due, bytes.Clone(k))
				}
			} else if next.IsZero() || it.NextAttempt.Before(next) {
				next = it.NextAttempt
			}
			return nil
		})
	})
	if err != nil {
		return time.Time{}, len(busy), err
	}
	for _, k := range due {
		d.start(ctx, k)
	}
	return next, len(busy) + len(due), nil
}

// start attempts the webhook at key k on its own goroutine.
func (d *dispatcher) start(ctx context.Context, k []byte) {
	d.mu.Lock()
	d.inflight[string(k)] = true
	d.mu.Unlock()
	d.wg.Go(func() {
		err := d.s.attempt(ctx, k)
		d.mu.Lock()
		delete(d.inflight, string(k))
		if err != nil && d.err == nil && ctx.Err() == nil {
			d.err = err
		}
		d.mu.Unlock()
		select {
		case d.finished <- struct{}{}:
		default:
		}
	})
}

// takeErr returns the first store error of an attempt since the last call.
func (d *dispatcher) takeErr() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	err := d.err
	d.err = nil
	return err
}

// wait waits for every attempt in flight to end.
func (d *dispatcher) wait() { d.wg.Wait() }

// deliverDue attempts every webhook due at s.now(), up to
// webhookConcurrency at a time, and returns, once none is in flight and
// none is due, when the next one falls due (zero when the outbox is empty).
func (s *Service) deliverDue(ctx context.Context) (time.Time, error) {
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	if s.hookURL == "" {
		return time.Time{}, nil
	}
	d := s.newDispatcher()
	defer d.wait()
	for {
		next, active, err := d.dispatch(ctx)
		if err == nil {
			err = d.takeErr()
		}
		if err != nil {
			return time.Time{}, err
		}
		if active == 0 {
			// Nothing was in flight and nothing was started: every
			// attempt moved its NextAttempt past now or removed its
			// entry, and nothing else is due.
			return next, nil
		}
		select {
		case <-d.finished:
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		}
	}
}

// attempt records an attempt of the webhook at key k, then makes it. It
// returns an error only when the store fails.
func (s *Service) attempt(ctx context.Context, k []byte) error {
	now := s.now()
	var it outboxItem
	var gone bool
	err := s.sh.Update(ctx, func(tx store.SharedTx) error {
		gone = false
		b := tx.Bucket(store.BucketOutbox)
		v := b.Get(k)
		if v == nil {
			gone = true
			return nil
		}
		it = outboxItem{}
		if err := json.Unmarshal(v, &it); err != nil {
			return fmt.Errorf("decode webhook %x: %w", k, err)
		}
		it.Attempts++
		it.NextAttempt = now.Add(s.retryDelay(it.Attempts))
		nv, err := json.Marshal(&it)
		if err != nil {
			return err
		}
		return b.Put(k, nv)
	})
	if err != nil || gone {
		return err
	}
	log := s.log.With("referral", it.ReferralID, "attempt", it.Attempts)
	status, perr := s.post(ctx, it.Body)
	result, failure := classify(status, perr)
	metrics.AgencyWebhooks.WithLabelValues(result).Inc()
	if ctx.Err() != nil && result != "ok" {
		log.Info("agency webhook interrupted by shutdown", "next_attempt", it.NextAttempt)
		return nil
	}
	err = s.sh.Update(context.WithoutCancel(ctx), func(tx store.SharedTx) error {
		b := tx.Bucket(store.BucketOutbox)
		if result == "ok" {
			return b.Delete(k)
		}
		v := b.Get(k)
		if v == nil {
			return nil
		}
		var cur outboxItem
		if err := json.Unmarshal(v, &cur); err != nil {
			return fmt.Errorf("decode webhook %x: %w", k, err)
		}
		cur.LastError = failure
		nv, err := json.Marshal(&cur)
		if err != nil {
			return err
		}
		return b.Put(k, nv)
	})
	switch result {
	case "ok":
		log.Info("agency webhook delivered", "status", status)
	case "failed":
		log.Error("agency webhook refused; kept and retried", "err", failure, "next_attempt", it.NextAttempt)
	default:
		log.Warn("agency webhook deferred", "err", failure, "next_attempt", it.NextAttempt)
	}
	if s.testAttempted != nil {
		s.testAttempted(it.ReferralID, result)
	}
	if err != nil {
		// If it was delivered, it stays queued and is sent again later:
		// at least once.
		return fmt.Errorf("record webhook result: %w", err)
	}
	return nil
}

// classify turns an attempt's outcome into its metric label (ok, retry,
// failed) and, unless ok, the text kept as the webhook's last error.
func classify(status int, err error) (result, failure string) {
	switch {
	case err != nil:
		return "retry", err.Error()
	case status >= 200 && status <= 299:
		return "ok", ""
	case status >= 400 && status <= 499 && status != http.StatusRequestTimeout && status != http.StatusTooManyRequests:
		return "failed", fmt.Sprintf("agency refused it: HTTP %d %s", status, http.StatusText(status))
	}
	return "retry", fmt.Sprintf("HTTP %d %s", status, http.StatusText(status))
}

// post sends one signed webhook and returns the HTTP status.
func (s *Service) post(ctx context.Context, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.hookURL, bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("webhook request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "careerrelay")
	req.Header.Set(SignatureHeader, Sign(s.hookSecret, body))
	resp, err := s.client.Do(req)
	if err != nil {
		// The URL may hold a secret of the agency's: keep it out of logs.
		if ue, ok := errors.AsType[*url.Error](err); ok {
			err = fmt.Errorf("%s: %w", ue.Op, ue.Err)
		}
		return 0, err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, nil
}
