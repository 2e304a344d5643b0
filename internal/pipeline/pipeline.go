// Package pipeline turns one accepted message into the copies that are
// queued: it is the single place between the inbound SMTP session and the
// durable queue where a message is transformed per recipient and signed.
//
// The order of the stages is fixed and documented here, as maddy does for its
// modifiers:
//
//  1. split: one copy per recipient that will carry a personal link, one
//     copy for everything else (rewrite package, tag detection);
//  2. rewrite: the tenant's tag becomes the recipient's link (rewrite
//     package), with its send record written in the same commit;
//  3. sign: DKIM signatures of the tenant's keys, last, over the final bytes.
//
// Then every copy (and its records) is enqueued in one durable commit, and
// only when that commit is on disk does Accept return.
package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/careerrelay/careerrelay/configs"
	"github.com/careerrelay/careerrelay/internal/linktoken"
	"github.com/careerrelay/careerrelay/smtp/dkim"
	"github.com/careerrelay/careerrelay/store"
)

// Envelope is what the inbound session knows of an accepted message.
type Envelope struct {
	From      string          // envelope sender, "" for the null sender
	Rcpts     []string        // envelope recipients, in RCPT order
	Tenant    *configs.Tenant // nil: an unknown sender relayed untouched (relay_unknown_senders)
	SessionID string          // the inbound session's id, for logs
	MessageID string          // the Message-ID header
	Received  time.Time
}

// Delivery is the delivery engine as the pipeline sees it when it records
// each copy's first delivery attempt in the commit that enqueues it
// (queue.Engine implements it; see Options.Delivery).
type Delivery interface {
	// Prestart marks m, about to be enqueued, as in its first attempt
	// (Attempts, NextAttempt). It runs inside the store's Update: it must
	// be quick and must not touch the store.
	Prestart(m *store.Message)
	// NotifyStarted names the copies enqueued after Prestart, once they
	// are committed.
	NotifyStarted(ids ...string)
}

// Pipeline prepares and enqueues accepted messages.
type Pipeline struct {
	db      *store.DB
	notify  func(ids ...string)
	deliv   Delivery // nil: notify, and the engine records every attempt itself
	log     *slog.Logger
	links   configs.Links
	keys    *linktoken.Keys
	signers map[string]*dkim.Signer // by tenant id; tenants without keys have none
}

// Options tell a pipeline whom to tell of the copies it enqueues.
type Options struct {
	// Delivery, when set, makes every copy carry its first delivery attempt
	// (Delivery.Prestart, in the enqueue commit) and is told of the copies
	// with Delivery.NotifyStarted: the engine then starts that attempt
	// without a commit of its own. Notify is not called.
	Delivery Delivery
	// Notify, without Delivery, is called with the queue ids of every
	// committed copy (the engine's Notify); nil tells nobody.
	Notify func(ids ...string)
}

// New returns a pipeline for cfg that enqueues into db and tells
// opts.Delivery (or opts.Notify) of each committed copy.
func New(cfg *configs.Config, db *store.DB, log *slog.Logger, opts Options) (*Pipeline, error) {
	keys, err := linktoken.NewKeys(cfg.Links.Keys)
	if err != nil {
		return nil, err
	}
	signers, err := newSigners(cfg)
	if err != nil {
		return nil, err
	}
	return &Pipeline{db: db, notify: opts.Notify, deliv: opts.Delivery, log: log, links: cfg.Links, keys: keys, signers: signers}, nil
}

// Accept prepares msg (already normalised to CRLF, with its Received:
// header) for every recipient of env and enqueues every copy in one durable
// commit. It returns the queue ids, the first of which names the message in
// the 250 reply: it returns them only once every copy is durable, also
// when the store settled a commit whose sync had reported an error.
//
// An error means one of two things. Mostly nothing is queued and nothing
// will be: the commit certainly did not happen. But when the disk fails the
// sync after bbolt's meta page write and the store cannot make the commit
// durable afterwards, the error wraps store.ErrCommitUncertain: the copies
// may or may not be in the file. The store has then failed (store.ErrFailed):
// nothing in this process reads or delivers them, and the delivery engine is
// told of nothing. Whether they are delivered after a restart depends on
// what reached the disk; the sender, answered 451, sends again, so the worst
// outcome is a duplicate, never a loss (see store's resolve).
//
// A message larger than spoolAbove may be a memory map of a file (package
// spill): its copies are rendered one at a time into one reused buffer and
// written to spool files, so that memory does not grow with its size times
// its recipients.
func (p *Pipeline) Accept(ctx context.Context, env Envelope, msg []byte) ([]string, error) {
	if len(msg) > spoolAbove {
		return p.acceptSpooled(ctx, env, msg)
	}
	copies, err := p.prepare(env, msg)
	if err != nil {
		return nil, err
	}
	return p.enqueue(ctx, env, copies, nil)
}

// enqueue queues copies in one durable commit and notifies the delivery
// engine; with SetDelivery, each copy's first attempt is in that commit.
// The body of copies[i] is files[i] when files is not nil.
func (p *Pipeline) enqueue(ctx context.Context, env Envelope, copies []Copy, files []*store.SpoolFile) ([]string, error) {
	var ids []string
	err := p.db.Update(ctx, func(tx *store.Tx) error {
		ids = ids[:0] // Update may run this more than once
		for i, c := range copies {
			m := &store.Message{
				From:        env.From,
				MessageID:   env.MessageID,
				Received:    env.Received,
				NextAttempt: env.Received,
			}
			if env.Tenant != nil {
				m.Tenant = env.Tenant.ID
			}
			for _, r := range c.Rcpts {
				m.Rcpts = append(m.Rcpts, store.Rcpt{Addr: r})
			}
			if p.deliv != nil {
				p.deliv.Prestart(m) // the first attempt, on record with the copy
			}
			var err error
			if files != nil {
				err = tx.EnqueueSpooled(m, files[i])
			} else {
				err = tx.Enqueue(m, c.Body)
			}
			if err != nil {
				return err
			}
			if c.Send != nil {
				send := *c.Send
				send.QueueID = m.ID
				if err := tx.PutSend(&send); err != nil {
					return err
				}
			}
			ids = append(ids, m.ID)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("enqueue: %w", err)
	}
	switch {
	case p.deliv != nil:
		p.deliv.NotifyStarted(ids...)
	case p.notify != nil:
		p.notify(ids...)
	}
	return ids, nil
}
