// Package pipeline turns one accepted message into the copies that are
// queued, and makes each copy when it is delivered: it is the single place
// between the inbound SMTP session and the delivery engine where a message
// is transformed per recipient and signed.
//
// The order of the stages is fixed and documented here, as maddy does for its
// modifiers:
//
//  1. split: one copy per recipient that will carry a personal link, one
//     copy for everything else (rewrite package, tag detection);
//  2. plan the rewrite: each copy's link (personal or generic), with its
//     send record written in the commit that queues the copy;
//  3. render and sign, at delivery (Render): the tag becomes the copy's
//     link (rewrite package), then the tenant's DKIM signatures go on, last,
//     over the final bytes, with t= the time of sending. A copy that is
//     alone in its group (a rejection to one candidate, the common case)
//     is rendered when it is received instead, from the template made
//     then, and stored with its link: at delivery it is only signed.
//
// Accept enqueues the body once, however many recipients share it, with
// every copy's recipe (store.Recipe) and records in one durable commit, and
// returns only when that commit is on disk. Memory and disk grow with the
// message, not with the message times its recipients; a copy costs memory
// (or, when large, a temporary file) only while it is being sent.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/careerrelay/careerrelay/configs"
	"github.com/careerrelay/careerrelay/internal/linktoken"
	"github.com/careerrelay/careerrelay/internal/metrics"
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
	db        *store.DB
	notify    func(ids ...string)
	deliv     Delivery // nil: notify, and the engine records every attempt itself
	log       *slog.Logger
	cfg       *configs.Config // links: each tenant's link base (configs.LinkBase)
	shared    store.Shared    // nil: send records go into db with their copies
	keys      *linktoken.Keys
	tenants   map[string]bool         // configured tenant ids
	signers   map[string]*dkim.Signer // by tenant id; tenants without keys have none
	maxHeader int                     // the longest header section Render reads of a large body
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
	// Shared, when set, holds the send records (several nodes on
	// PostgreSQL): they are written there before the copies are queued
	// here, and a message with personal links is refused (451) while it
	// is unreachable. nil: in the queue's commit, in db.
	Shared store.Shared
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
	tenants := make(map[string]bool, len(cfg.Tenants))
	for _, t := range cfg.Tenants {
		tenants[t.ID] = true
	}
	// The inbound session refuses longer headers; the Received field it
	// adds and a margin are on top.
	maxHeader := max(cfg.SMTP.MaxHeaderBytes, configs.DefaultMaxHeaderBytes) + 64<<10
	return &Pipeline{db: db, shared: opts.Shared, notify: opts.Notify, deliv: opts.Delivery, log: log, cfg: cfg, keys: keys,
		tenants: tenants, signers: signers, maxHeader: maxHeader}, nil
}

// Accept splits msg (already normalised to CRLF, with its Received:
// header) into a copy for every recipient of env and enqueues them in one
// durable commit, the body once for all of them. It returns the queue ids,
// the first of which names the message in the 250 reply: it returns them
// only once every copy is durable, also when the store settled a commit
// whose sync had reported an error. Each copy is rendered and signed when
// it is delivered (Render).
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
// spill): its body is written once to a spool file instead of into bbolt.
func (p *Pipeline) Accept(ctx context.Context, env Envelope, msg []byte) ([]string, error) {
	pl := p.split(env, msg)
	defer pl.release() // the store holds nothing of the plan once it returns
	var ids []string
	var err error
	if len(msg) > spoolAbove {
		ids, err = p.acceptSpooled(ctx, env, pl)
	} else {
		ids, err = p.enqueue(ctx, env, pl, nil)
	}
	if err == nil {
		p.reportFailures(env, pl, ids)
	}
	return ids, err
}

// reportFailures counts and logs, once the copies are queued, each place
// where the tenant's tag was left as it was, with the queue id that names
// the message.
func (p *Pipeline) reportFailures(env Envelope, pl *plan, ids []string) {
	for _, f := range pl.failures {
		metrics.RewriteFailures.WithLabelValues(pl.tenant.ID, f.reason).Inc()
		args := []any{"tx", env.SessionID, "tenant", pl.tenant.ID, "queue_id", ids[0], "reason", f.reason}
		if f.err != nil {
			args = append(args, "err", f.err)
		}
		p.log.Warn(f.msg, args...)
	}
}

// enqueue queues the copies of pl in one durable commit, each group's body
// once (files[i] for group i when files is not nil), and notifies the
// delivery engine; with Options.Delivery, each copy's first attempt is in
// that commit.
func (p *Pipeline) enqueue(ctx context.Context, env Envelope, pl *plan, files []*store.SpoolFile) ([]string, error) {
	if p.shared != nil && pl.hasSends() {
		if err := p.putSends(ctx, pl, false); err != nil {
			return nil, fmt.Errorf("enqueue: send records in the shared store: %w", err)
		}
	}
	ids := make([]string, 0, pl.copies())
	err := p.db.Update(ctx, func(tx *store.Tx) error {
		ids = ids[:0] // Update may run this more than once
		for gi := range pl.groups {
			g := &pl.groups[gi]
			ms := make([]*store.Message, len(g.copies))
			for i := range g.copies {
				ms[i] = p.message(env, pl, g, &g.copies[i])
			}
			var err error
			if files != nil {
				err = tx.EnqueueSharedSpooled(ms, files[gi])
			} else {
				err = tx.EnqueueShared(ms, g.body)
			}
			if err != nil {
				return err
			}
			for i, c := range g.copies {
				if c.Send != nil && p.shared == nil {
					send := *c.Send
					send.QueueID = ms[i].ID
					if err := tx.PutSend(&send); err != nil {
						return err
					}
				}
				ids = append(ids, ms[i].ID)
			}
		}
		return nil
	})
	if err != nil {
		if p.shared != nil && pl.hasSends() && !errors.Is(err, store.ErrCommitUncertain) {
			// Certainly not queued: the links will never be sent.
			if derr := p.putSends(context.WithoutCancel(ctx), pl, true); derr != nil {
				p.log.Warn("send records of a message that was not queued stay behind", "err", derr)
			}
		}
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

// message is the queue entry of copy c of group g, with its recipe: mail
// of a tenant is signed at delivery, and a copy with a link has the
// group's tag replaced by it.
func (p *Pipeline) message(env Envelope, pl *plan, g *group, c *Copy) *store.Message {
	m := &store.Message{
		From:        env.From,
		MessageID:   env.MessageID,
		Received:    env.Received,
		NextAttempt: env.Received,
	}
	if pl.tenant != nil {
		m.Tenant = pl.tenant.ID
		m.Recipe = &store.Recipe{Sign: true, From: pl.from}
		if c.Link != "" && g.tag != "" {
			m.Recipe.Tag, m.Recipe.Link = g.tag, c.Link
		}
		if c.Send != nil {
			m.Recipe.Send = c.Send.ID
		}
	}
	for _, r := range c.Rcpts {
		m.Rcpts = append(m.Rcpts, store.Rcpt{Addr: r})
	}
	if p.deliv != nil {
		p.deliv.Prestart(m) // the first attempt, on record with the copy
	}
	return m
}

// putSends writes the send records of pl's copies to the shared store in
// one transaction (before the copies are queued; QueueID stays empty), or
// deletes them again when the queue's commit failed.
func (p *Pipeline) putSends(ctx context.Context, pl *plan, remove bool) error {
	return p.shared.Update(ctx, func(tx store.SharedTx) error {
		for gi := range pl.groups {
			for _, c := range pl.groups[gi].copies {
				switch {
				case c.Send == nil:
				case remove:
					if err := tx.Bucket(store.BucketSends).Delete([]byte(c.Send.ID)); err != nil {
						return err
					}
				default:
					if err := store.PutSend(tx, c.Send); err != nil {
						return err
					}
				}
			}
		}
		return nil
	})
}

// hasSends tells whether a copy of pl carries a personal link.
func (pl *plan) hasSends() bool {
	for gi := range pl.groups {
		for _, c := range pl.groups[gi].copies {
			if c.Send != nil {
				return true
			}
		}
	}
	return false
}
