// Package queue is careerrelay's delivery policy: it takes messages from
// the durable queue when they are due, hands them to a transport
// (package smtp/transport) on a bounded pool of workers, records each
// recipient's result, retries deferred ones on the retry schedule with
// jitter until the lifetime runs out, and returns a DSN (RFC 3464) to the
// sender when a recipient fails for good. How a message reaches its next
// hop is the transport's job, not this package's.
package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/careerrelay/careerrelay/configs"
	"github.com/careerrelay/careerrelay/internal/metrics"
	"github.com/careerrelay/careerrelay/smtp/transport"
	"github.com/careerrelay/careerrelay/store"
)

// jitter is the fraction by which a backoff is randomly lengthened or
// shortened, so that messages deferred together do not retry together.
const jitter = 0.1

// rescanEvery is how often Run re-reads the whole queue, as a safety net for
// a message whose Notify was lost (the caller crashed right after commit).
const rescanEvery = 5 * time.Minute

// Options make the engine's time, randomness and transport replaceable,
// so that tests are deterministic. Zero fields take the real thing.
type Options struct {
	// Now is the clock the schedule, backoffs, lifetimes and DSN dates
	// use. Tests move a fake clock and call RunDue.
	Now func() time.Time
	// Random returns a number in [0, 1): backoff jitter (and, for the
	// transport New makes, the order of MX hosts of equal preference). It
	// must be safe for concurrent use.
	Random func() float64
	// ShutdownGrace bounds how long Run waits for attempts in flight
	// once its context is done; past it they are interrupted
	// (configs.DefaultDeliveryShutdownGrace).
	ShutdownGrace time.Duration
	// Transport, when set, delivers instead of the one New would make
	// with transport.New for cfg (tests: a fake network or DNS). Run
	// closes it when it stops.
	Transport transport.Transport
	// Shared, when set, holds the send records (several nodes on
	// PostgreSQL): each copy's outcome is told to its send record there,
	// after the attempt's commit. nil: in the same commit, in this file.
	Shared store.Shared
}

// Renderer makes a queued copy from its stored body when it is delivered
// (package pipeline renders the link and signs; see store.Recipe).
// release is called once the attempt that sent the copy is over.
type Renderer interface {
	Render(m *store.Message, stored store.Body) (body store.Body, release func(), err error)
}

// Engine delivers the queue. Create it with New, then call Run.
type Engine struct {
	db       *store.DB
	shared   store.Shared // nil: send records are in db
	log      *slog.Logger
	tr       transport.Transport
	render   Renderer // nil: only copies without a recipe can be sent
	now      func() time.Time
	random   func() float64
	grace    time.Duration
	retry    []time.Duration
	lifetime time.Duration
	hostname string        // Reporting-MTA and MAILER-DAEMON domain of DSNs
	slots    chan struct{} // one token per busy worker
	wake     chan struct{} // something changed: look at the schedule again
	loadOnce sync.Once
	loadErr  error
	gaugeMu  sync.Mutex // serializes refreshQueueLen

	mu       sync.Mutex // guards the fields below
	sched    *schedule
	running  map[string]bool // ids being attempted
	notified []string        // ids from Notify, not yet planned
	// fresh are ids from NotifyStarted whose first attempt, recorded by
	// the enqueue commit (Prestart), has not started yet: planned at
	// once, and attempted without begin's commit. Starting the attempt
	// consumes the mark; it is never on disk, so after a restart the
	// message takes the ordinary path (begin) at its stored NextAttempt.
	fresh      map[string]bool
	queueStale bool // NotifyStarted planned new messages: refresh the gauge

	// testScanned, when set, runs in scan between reading the queue and
	// planning it (tests: a NotifyStarted racing a rescan).
	testScanned func()
}

// New prepares an engine for cfg.Delivery, with the settings left zero at
// configs.Config.DeliveryDefaults. Unless opts.Transport is set, it makes
// the transport of the configured mode (transport.New), which checks the
// mode's settings and in capture mode creates the capture folder.
func New(cfg *configs.Config, db *store.DB, log *slog.Logger, opts Options) (*Engine, error) {
	dc := cfg.DeliveryDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	e := &Engine{
		db:       db,
		log:      log.With("component", "delivery"),
		now:      opts.Now,
		random:   opts.Random,
		grace:    opts.ShutdownGrace,
		shared:   opts.Shared,
		retry:    dc.RetrySchedule,
		lifetime: dc.Lifetime,
		hostname: cfg.SMTP.Hostname,
		slots:    make(chan struct{}, dc.Workers),
		wake:     make(chan struct{}, 1),
		sched:    newSchedule(),
		running:  map[string]bool{},
		fresh:    map[string]bool{},
	}
	if e.now == nil {
		e.now = time.Now
	}
	if e.random == nil {
		e.random = rand.Float64
	}
	if e.grace <= 0 {
		e.grace = configs.DefaultDeliveryShutdownGrace
	}
	if e.hostname == "" {
		e.hostname = dc.HelloName
	}
	e.tr = opts.Transport
	if e.tr == nil {
		tr, err := transport.New(cfg, transport.Options{Now: e.now, Random: e.random, Log: e.log})
		if err != nil {
			return nil, fmt.Errorf("delivery: %w", err)
		}
		e.tr = tr
	}
	return e, nil
}

// SetRenderer sets what makes each copy that has a recipe when it is
// delivered. Call it before Run; without it such copies are deferred.
func (e *Engine) SetRenderer(r Renderer) { e.render = r }

// Notify tells the engine that the messages ids were just enqueued (or
// changed). It never blocks on the store or on deliveries.
func (e *Engine) Notify(ids ...string) {
	if len(ids) == 0 {
		return
	}
	e.mu.Lock()
	e.notified = append(e.notified, ids...)
	e.mu.Unlock()
	e.poke()
}

// Prestart records the first delivery attempt of m, a message about to be
// enqueued, in m itself: Attempts 1, and NextAttempt the first backoff
// (with its jitter) after m.Received. The pipeline calls it inside the
// Update that enqueues m, so that the enqueue commit also commits what
// begin would commit before the first attempt, and that attempt (after
// NotifyStarted) needs no commit of its own. Crash safety is begin's: from
// the enqueue commit on, the store says one attempt has started and the
// next is not due before NextAttempt, so a message that crashes the
// process on its first attempt is not retried at once after a restart;
// later attempts go through begin. Prestart is pure and cheap: it touches
// neither the store nor the engine's lock, and may run more than once for
// a message (Update may re-run its function).
func (e *Engine) Prestart(m *store.Message) {
	from := m.Received
	if from.IsZero() {
		from = e.now()
	}
	m.Attempts = 1
	m.NextAttempt = from.Add(e.backoff(1))
}

// NotifyStarted is Notify for messages that were enqueued after Prestart
// (never for others): it plans them at once, without reading the store,
// and their first attempt skips begin's commit (the enqueue committed it).
// It never blocks on the store or on deliveries.
func (e *Engine) NotifyStarted(ids ...string) {
	if len(ids) == 0 {
		return
	}
	now := e.now()
	e.mu.Lock()
	for _, id := range ids {
		if e.running[id] {
			// Already being attempted (planned by a rescan that came
			// first and already due): that attempt went through begin.
			continue
		}
		e.fresh[id] = true
		// At once, even when a rescan planned it at its stored
		// NextAttempt before this call.
		e.sched.set(id, now)
	}
	e.queueStale = true
	e.mu.Unlock()
	e.poke()
}

func (e *Engine) poke() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// Run loads the queue and delivers until ctx is done; then it waits for
// the attempts in flight, at most Options.ShutdownGrace before interrupting
// them, closes (QUIT) the upstream connections left idle for reuse, and
// returns. An error means the queue could not be loaded.
func (e *Engine) Run(ctx context.Context) error {
	if err := e.load(); err != nil {
		return err
	}
	e.log.Info("delivery started", "transport", e.tr.Name(), "workers", cap(e.slots))
	// Attempts outlive ctx by the grace period: a shutdown lets them end.
	actx, interrupt := context.WithCancel(context.WithoutCancel(ctx))
	defer interrupt()
	var wg sync.WaitGroup
	rescan := time.NewTicker(rescanEvery)
	defer rescan.Stop()
	for {
		e.startDue(actx, &wg)
		var timer *time.Timer
		var fire <-chan time.Time
		if at, ok := e.nextDue(); ok {
			d := min(max(at.Sub(e.now()), 0), time.Minute)
			timer = time.NewTimer(d)
			fire = timer.C
		}
		select {
		case <-ctx.Done():
		case <-e.wake:
		case <-fire:
		case <-rescan.C:
			if err := e.scan(); err != nil {
				e.log.Error("queue rescan failed", "err", err)
			}
		}
		if timer != nil {
			timer.Stop()
		}
		if ctx.Err() != nil {
			break
		}
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	grace := time.NewTimer(e.grace)
	defer grace.Stop()
	select {
	case <-done:
	case <-grace.C:
		e.log.Warn("interrupting delivery attempts at shutdown", "grace", e.grace)
		interrupt()
		<-done
	}
	// No attempt runs any more: QUIT the idle upstream sessions.
	e.tr.Close()
	e.log.Info("delivery stopped")
	return nil
}

// RunDue attempts every message due at Options.Now and waits for those
// attempts; it repeats while that made more messages due (a DSN), and
// returns how many attempts it made. It loads the queue on first use. Run's
// loop takes the same step without waiting; tests call RunDue after moving
// a fake clock, instead of running Run. Connections it leaves idle for
// reuse are closed after their idle limit.
func (e *Engine) RunDue(ctx context.Context) (int, error) {
	if err := e.load(); err != nil {
		return 0, err
	}
	total := 0
	for {
		var wg sync.WaitGroup
		n := e.startDue(ctx, &wg)
		wg.Wait()
		if n == 0 {
			return total, nil
		}
		total += n
	}
}

// load reads the whole queue into the schedule, once.
func (e *Engine) load() error {
	e.loadOnce.Do(func() {
		if err := e.scan(); err != nil {
			e.loadErr = fmt.Errorf("delivery: load queue: %w", err)
		}
	})
	return e.loadErr
}

// scan plans every queued message that is not planned or running already,
// at its NextAttempt.
func (e *Engine) scan() error {
	type entry struct {
		id string
		at time.Time
	}
	var all []entry
	err := e.db.View(func(tx *store.Tx) error {
		all = all[:0]
		return tx.Queued(func(m *store.Message) error {
			all = append(all, entry{m.ID, m.NextAttempt})
			return nil
		})
	})
	if err != nil {
		return err
	}
	if e.testScanned != nil {
		e.testScanned()
	}
	e.mu.Lock()
	for _, it := range all {
		// A fresh id is planned (at once) until its attempt starts, and
		// then running: a rescan never moves it to its stored NextAttempt.
		if _, planned := e.sched.byID[it.id]; !planned && !e.running[it.id] && !e.fresh[it.id] {
			e.sched.set(it.id, it.at)
		}
	}
	e.mu.Unlock()
	e.refreshQueueLen()
	return nil
}

// drainNotified plans the messages Notify named, at their NextAttempt, and
// refreshes the queue gauge after NotifyStarted planned new ones.
func (e *Engine) drainNotified() {
	e.mu.Lock()
	ids := e.notified
	e.notified = nil
	stale := e.queueStale
	e.queueStale = false
	e.mu.Unlock()
	if len(ids) == 0 {
		if stale {
			e.refreshQueueLen()
		}
		return
	}
	type entry struct {
		id string
		at time.Time
	}
	var found []entry
	err := e.db.View(func(tx *store.Tx) error {
		found = found[:0]
		for _, id := range ids {
			m, err := tx.Get(id)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			found = append(found, entry{id, m.NextAttempt})
		}
		return nil
	})
	if err != nil {
		// The periodic rescan picks them up.
		e.log.Error("reading notified messages", "err", err, "count", len(ids))
		return
	}
	e.mu.Lock()
	for _, it := range found {
		if !e.running[it.id] && !e.fresh[it.id] {
			e.sched.set(it.id, it.at)
		}
	}
	e.mu.Unlock()
	e.refreshQueueLen()
}

// refreshQueueLen sets the queue gauge from the store. Refreshes are
// serialized and each reads after the commit that prompted it, so the
// last one leaves the gauge equal to the queue length.
func (e *Engine) refreshQueueLen() {
	e.gaugeMu.Lock()
	defer e.gaugeMu.Unlock()
	n := 0
	if err := e.db.View(func(tx *store.Tx) error { n = tx.QueueLen(); return nil }); err != nil {
		e.log.Error("reading the queue length", "err", err)
		return
	}
	metrics.QueueMessages.Set(float64(n))
}

// nextDue is when the earliest planned message is due, if a worker is
// free to take it (else an attempt ending wakes the loop).
func (e *Engine) nextDue() (time.Time, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.slots) == cap(e.slots) {
		return time.Time{}, false
	}
	return e.sched.next()
}

// startDue starts an attempt, on a free worker, for each message due now,
// and returns how many it started. wg counts the attempts.
func (e *Engine) startDue(ctx context.Context, wg *sync.WaitGroup) int {
	e.drainNotified()
	if ctx.Err() != nil {
		return 0
	}
	now := e.now()
	started := 0
	for {
		select {
		case e.slots <- struct{}{}:
		default:
			return started // every worker is busy
		}
		e.mu.Lock()
		id, ok := e.sched.popDue(now)
		fresh := false
		if ok {
			e.running[id] = true
			fresh = e.fresh[id]
			delete(e.fresh, id) // one attempt only may skip begin
		}
		e.mu.Unlock()
		if !ok {
			<-e.slots
			return started
		}
		started++
		wg.Add(1)
		go func() {
			defer wg.Done()
			next, keep := e.attempt(ctx, id, fresh)
			e.mu.Lock()
			delete(e.running, id)
			if keep {
				e.sched.set(id, next)
			}
			e.mu.Unlock()
			<-e.slots
			e.poke()
		}()
	}
}

// backoff is the wait after the attempt-th attempt: the retry schedule's
// entry (the last one repeats), lengthened or shortened by up to ±10%, and
// never under a second (no hot loop, whatever the configuration).
func (e *Engine) backoff(attempt int) time.Duration {
	i := min(max(attempt-1, 0), len(e.retry)-1)
	f := 1 + (e.random()*2-1)*jitter
	return max(time.Duration(float64(e.retry[i])*f), time.Second)
}
