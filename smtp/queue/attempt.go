package queue

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/careerrelay/careerrelay/internal/address"
	"github.com/careerrelay/careerrelay/internal/metrics"
	"github.com/careerrelay/careerrelay/smtp/transport"
	"github.com/careerrelay/careerrelay/store"
)

// attempt makes one delivery attempt of message id. It returns when the
// message is next due and whether it is still queued. fresh is true for
// the first attempt of a message that NotifyStarted named: that attempt is
// on record since the enqueue commit (Prestart), so it starts without
// begin's commit when the store still shows it as prestarted (started).
func (e *Engine) attempt(ctx context.Context, id string, fresh bool) (next time.Time, keep bool) {
	var m *store.Message
	var body store.Body
	var err error
	ok := false
	if fresh {
		m, body, ok = e.started(id)
	}
	if !ok {
		m, body, err = e.begin(ctx, id, fresh)
	}
	if err != nil {
		// Without the attempt on record we must not try: a crash could
		// then retry without end. The store failing is temporary.
		e.log.Error("cannot record the start of a delivery attempt", "queue_id", id, "err", err)
		return e.now().Add(e.backoff(1)), true
	}
	if m == nil {
		return time.Time{}, false
	}
	start := time.Now()
	rcpts := unique(m.PendingRcpts())
	results := e.deliver(ctx, m, body, rcpts)
	if ctx.Err() != nil {
		for i := range results {
			if results[i].Outcome == transport.Deferred && results[i].Reply == "" {
				results[i].Detail = "attempt interrupted at shutdown"
			}
		}
	}
	rec, err := e.finish(context.WithoutCancel(ctx), m, body, results, ctx.Err() != nil)
	body.Release() // nothing holds it after finish: its commit is done
	elapsed := time.Since(start)
	if err != nil {
		// Delivered recipients may be delivered again: at least once.
		e.log.Error("cannot record the outcome of a delivery attempt", "queue_id", m.ID, "attempt", m.Attempts, "err", err)
		rec = record{result: "deferred", keep: true}
	}
	metrics.DeliveryAttempts.WithLabelValues(rec.result).Inc()
	metrics.DeliveryDuration.WithLabelValues(rec.result).Observe(elapsed.Seconds())
	e.logAttempt(m, rcpts, results, rec, elapsed)
	if rec.dsnID != "" {
		e.Notify(rec.dsnID)
	}
	return m.NextAttempt, rec.keep
}

// deliver makes the copy m from its stored body (Renderer) and sends it
// to rcpts. A copy that cannot be made is deferred for every recipient.
func (e *Engine) deliver(ctx context.Context, m *store.Message, stored store.Body, rcpts []string) []transport.Result {
	body, release := stored, func() {}
	if m.Recipe != nil {
		var err error
		if e.render == nil {
			err = errors.New("no renderer is set")
		} else {
			body, release, err = e.render.Render(m, stored)
		}
		if err != nil {
			e.log.Error("cannot make the copy to deliver; it stays queued", "queue_id", m.ID, "err", err)
			results := make([]transport.Result, len(rcpts))
			for i, r := range rcpts {
				results[i] = transport.Result{Addr: r, Outcome: transport.Deferred, Status: "4.3.0", Detail: "cannot make the copy: " + err.Error()}
			}
			return results
		}
	}
	defer release()
	return e.tr.Deliver(ctx, m, body, rcpts)
}

// begin commits Attempts+1 and NextAttempt = now + backoff before the
// attempt starts, and returns the message and its body (a spooled body is
// not read here: the transport streams it); nil when it is no longer queued
// or has nothing left to deliver. Every attempt goes through begin except
// the first one of a prestarted message, whose enqueue committed the same
// (see Prestart and started). When that one cannot skip begin, fresh is
// set: if the store still counts one attempt (the prestarted one, not made
// yet), begin only plans the retry from now and the count stays 1.
func (e *Engine) begin(ctx context.Context, id string, fresh bool) (*store.Message, store.Body, error) {
	now := e.now()
	var m *store.Message
	var body store.Body
	deleted := false
	err := e.db.Update(ctx, func(tx *store.Tx) error {
		m, body, deleted = nil, store.Body{}, false
		cur, err := tx.Get(id)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if len(cur.PendingRcpts()) == 0 {
			// A crash came between the last delivery and the delete.
			deleted = true
			return tx.Delete(id)
		}
		b, err := tx.Body(id)
		if err != nil {
			return err
		}
		if !fresh || cur.Attempts != 1 {
			cur.Attempts++
		}
		cur.NextAttempt = now.Add(e.backoff(cur.Attempts))
		if err := tx.Put(cur); err != nil {
			return err
		}
		m, body = cur, b
		return nil
	})
	if err != nil {
		return nil, store.Body{}, err
	}
	if deleted {
		e.refreshQueueLen()
	}
	return m, body, nil
}

// started reads message id and its body for the first attempt of a
// prestarted message, which needs no commit: the enqueue committed
// Attempts 1 and NextAttempt (Prestart). ok is false when begin must run
// instead: the message has something other than that first attempt on
// record, its NextAttempt has already come (the attempt starts later than
// the backoff it promised: begin plans the retry from now, still as attempt
// 1), it has no pending recipient left (begin deletes it), or the store
// cannot be read.
// m is nil, with ok true, when the message is no longer queued.
func (e *Engine) started(id string) (m *store.Message, body store.Body, ok bool) {
	now := e.now()
	err := e.db.View(func(tx *store.Tx) error {
		m, body, ok = nil, store.Body{}, false
		cur, err := tx.Get(id)
		if errors.Is(err, store.ErrNotFound) {
			ok = true
			return nil
		}
		if err != nil {
			return err
		}
		if cur.Attempts != 1 || !now.Before(cur.NextAttempt) || len(cur.PendingRcpts()) == 0 {
			return nil
		}
		b, err := tx.Body(id)
		if err != nil {
			return err
		}
		m, body, ok = cur, b, true
		return nil
	})
	if err != nil {
		e.log.Warn("cannot read a prestarted message; recording its attempt again", "queue_id", id, "err", err)
		return nil, store.Body{}, false
	}
	return m, body, ok
}

// record is what finish did.
type record struct {
	result                       string // the attempt's metric label
	delivered, deferred, bounced int    // recipients by outcome
	keep                         bool   // still queued
	dsnID                        string // the DSN enqueued, if any
	dsnDropped                   bool   // recipients failed, but no DSN may be sent
	expired                      bool   // the lifetime ran out
	removed                      bool   // the message left the store during the attempt
	sendID, sendState            string // what the copy's send record is told (sendState)
}

// finish records the results in one transaction: delivered recipients,
// failed ones (with the DSN for them enqueued in the same transaction),
// deferred ones with their error; a message with nothing left pending is
// deleted. Past the lifetime a deferral is final. An interrupted attempt
// (shutdown) never expires a message.
func (e *Engine) finish(ctx context.Context, m *store.Message, body store.Body, results []transport.Result, interrupted bool) (record, error) {
	now := e.now()
	byAddr := make(map[string]int, len(results)) // the index in results (of an address's last result)
	failing := false
	for i, r := range results {
		byAddr[r.Addr] = i
		failing = failing || r.Outcome == transport.Bounced
	}
	expired := !interrupted && !m.Received.IsZero() && !now.Before(m.Received.Add(e.lifetime))
	var origHeader []byte
	if (failing || expired) && !m.DSN && m.From != "" {
		// A DSN may follow: read the original's header now, outside the
		// store's transaction (a spooled body is a file).
		origHeader = e.dsnHeader(m, body)
	}
	var rec record
	err := e.db.Update(ctx, func(tx *store.Tx) error {
		rec = record{expired: expired}
		cur, err := tx.Get(m.ID)
		if errors.Is(err, store.ErrNotFound) {
			rec.removed = true // removed meanwhile (by an operator)
			return nil
		}
		if err != nil {
			return err
		}
		var failed []transport.Result
		lastErr := ""
		for i := range cur.Rcpts {
			rc := &cur.Rcpts[i]
			ri, ok := byAddr[rc.Addr]
			if rc.State != store.Pending || !ok {
				continue
			}
			r := results[ri]
			rc.LastError = r.Text()
			switch {
			case r.Outcome == transport.Delivered:
				rc.State = store.Delivered
				rec.delivered++
			case r.Outcome == transport.Bounced:
				rc.State = store.Failed
				failed = append(failed, r)
				rec.bounced++
			case expired:
				rc.State = store.Failed
				r.Status = "4.4.7" // delivery time expired
				failed = append(failed, r)
				rec.bounced++
			default:
				lastErr = r.Text()
				rec.deferred++
			}
		}
		cur.LastError = lastErr
		rec.sendID, rec.sendState = sendState(cur, rec.delivered, len(failed))
		if e.shared == nil && rec.sendID != "" {
			// One node: the send record is in this file, in this commit.
			if err := tx.SetSendDelivery(rec.sendID, rec.sendState); err != nil && !errors.Is(err, store.ErrNotFound) {
				return err // (not found: erased meanwhile, nothing to count)
			}
		}
		if len(failed) > 0 {
			if cur.DSN || cur.From == "" {
				rec.dsnDropped = true // never a bounce to <>
			} else if rec.dsnID, err = e.enqueueDSN(tx, cur, origHeader, failed, now); err != nil {
				return err
			}
		}
		if len(cur.PendingRcpts()) == 0 {
			if err := tx.Delete(cur.ID); err != nil {
				return err
			}
		} else {
			if err := tx.Put(cur); err != nil {
				return err
			}
			rec.keep = true
		}
		return nil
	})
	if err != nil {
		return record{}, err
	}
	if e.shared != nil && rec.sendID != "" && !rec.removed {
		// Several nodes: the send record is in the shared store. The copy's
		// outcome is committed here already; the record follows, and a
		// failure costs only the report's count of this link.
		err := e.shared.Update(context.WithoutCancel(ctx), func(tx store.SharedTx) error {
			return store.SetSendDelivery(tx, rec.sendID, rec.sendState)
		})
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			e.log.Warn("the send record does not know its copy's outcome", "queue_id", m.ID, "send", rec.sendID, "err", err)
		}
	}
	if rec.removed {
		// Nothing was recorded: count what the transport did, so that
		// the result is not "delivered" for an attempt that delivered
		// nothing.
		rec.expired = false
		for _, r := range results {
			switch r.Outcome {
			case transport.Delivered:
				rec.delivered++
			case transport.Bounced:
				rec.bounced++
			default:
				rec.deferred++
			}
		}
	}
	// One label per attempt: deferred while anything is left to retry
	// (or, for a removed message, was deferred), else bounced when any
	// recipient failed, else delivered.
	switch {
	case rec.keep, rec.removed && rec.deferred > 0:
		rec.result = "deferred"
	case rec.bounced > 0:
		rec.result = "bounced"
	default:
		rec.result = "delivered"
	}
	e.refreshQueueLen()
	return rec, nil
}

// sendState is what the send record of a copy with a personal link is
// told of the copy, so that the report counts only links that reached the
// candidate's server (and bounced ones apart): its id and state, or ""
// when there is nothing to tell.
func sendState(m *store.Message, delivered, failed int) (id, state string) {
	if m.Recipe == nil || m.Recipe.Send == "" || delivered+failed == 0 {
		return "", ""
	}
	if delivered == 0 {
		return m.Recipe.Send, store.SendBounced
	}
	return m.Recipe.Send, store.SendDelivered
}

// dsnHeaderLimit bounds the original's header section that a DSN returns
// (and reads from a spool file): far above any real header (Postfix's
// default header_size_limit is 100 KiB for the whole section), small
// enough that a DSN stays a small, inline message.
const dsnHeaderLimit = 64 << 10

// dsnHeader returns the header section of the body of m for a DSN, cut at
// dsnHeaderLimit (at the end of the last whole line within it). Without it
// (the file cannot be read) the DSN still goes out, without the headers.
func (e *Engine) dsnHeader(m *store.Message, body store.Body) []byte {
	h, err := body.Header(dsnHeaderLimit)
	if err != nil {
		e.log.Warn("cannot read the original header for a DSN", "queue_id", m.ID, "err", err)
		return nil
	}
	if len(h) >= dsnHeaderLimit {
		if i := bytes.LastIndexByte(h, '\n'); i >= 0 {
			h = h[:i+1]
		}
	}
	return h
}

// enqueueDSN composes the DSN for the failed recipients of m and queues it
// from the null sender to m's envelope sender. origHeader is the header
// section of m's body (dsnHeader).
func (e *Engine) enqueueDSN(tx *store.Tx, m *store.Message, origHeader []byte, failed []transport.Result, now time.Time) (string, error) {
	d := &dsn{reportingMTA: e.hostname, orig: m, origHeader: origHeader, failed: failed, now: now, lifetime: e.lifetime}
	msgID := newMessageID(e.hostname)
	raw, err := d.compose(msgID)
	if err != nil {
		return "", fmt.Errorf("compose DSN: %w", err)
	}
	dm := &store.Message{
		Tenant:      m.Tenant,
		From:        "",
		Rcpts:       []store.Rcpt{{Addr: m.From, State: store.Pending}},
		MessageID:   msgID,
		Received:    now,
		NextAttempt: now,
		DSN:         true,
	}
	if err := tx.Enqueue(dm, raw); err != nil {
		return "", fmt.Errorf("enqueue DSN: %w", err)
	}
	return dm.ID, nil
}

// logAttempt writes one line for the attempt and one per recipient that
// was not delivered. Each line has one result (delivered, deferred or
// bounced): the attempt's, or the recipient's as recorded (a deferral
// past the lifetime is a bounce). Addresses appear only as hashes, and so
// does the client's Message-ID (ATSs often build it from the candidate's
// name or address); SMTP replies (which often quote the address) appear
// only as their codes.
func (e *Engine) logAttempt(m *store.Message, rcpts []string, results []transport.Result, rec record, elapsed time.Duration) {
	var peers []string
	seen := map[string]bool{}
	for _, r := range results {
		if r.Remote != "" && !seen[r.Remote] {
			seen[r.Remote] = true
			peers = append(peers, r.Remote)
		}
	}
	attrs := []any{
		"queue_id", m.ID, "message_id_hash", address.LogHash(m.MessageID), "tenant", m.Tenant,
		"attempt", m.Attempts, "result", rec.result, "peer", peers,
		"rcpts", len(rcpts), "delivered", rec.delivered, "deferred", rec.deferred, "bounced", rec.bounced,
		"duration", elapsed.Round(time.Millisecond),
	}
	if rec.keep {
		attrs = append(attrs, "next_attempt", m.NextAttempt)
	}
	if rec.dsnID != "" {
		attrs = append(attrs, "dsn_id", rec.dsnID)
	}
	if rec.removed {
		attrs = append(attrs, "removed", true)
	}
	e.log.Info("delivery attempt", attrs...)
	for _, r := range results {
		if r.Outcome == transport.Delivered {
			continue
		}
		result, status := r.Outcome.String(), r.Status
		if rec.expired && r.Outcome == transport.Deferred {
			result, status = "bounced", "4.4.7" // as finish recorded it
		}
		a := []any{"queue_id", m.ID, "attempt", m.Attempts, "rcpt_hash", address.LogHash(r.Addr),
			"result", result, "status", status, "peer", r.Remote}
		if c := r.Code(); c != 0 {
			a = append(a, "reply_code", c)
		} else {
			a = append(a, "err", r.Detail)
		}
		e.log.Warn("recipient not delivered", a...)
	}
	if rec.expired && rec.bounced > 0 {
		e.log.Warn("message expired", "queue_id", m.ID, "lifetime", e.lifetime)
	}
	if rec.dsnDropped {
		e.log.Warn("recipients failed; no DSN is sent for a DSN or a message from the null sender", "queue_id", m.ID)
	}
}

// unique drops repeated addresses, keeping the first.
func unique(addrs []string) []string {
	seen := make(map[string]bool, len(addrs))
	out := addrs[:0:0]
	for _, a := range addrs {
		if !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	return out
}
