package transport

// Connection reuse (issue 7). Dialing, EHLO, STARTTLS with its handshake
// and AUTH cost more than a small message's transaction, on both sides. So,
// as Postfix does with its connection cache (smtp_connection_cache_on_demand),
// a session that is still healthy after a transaction waits, idle, for the
// next message to the same peer, instead of saying QUIT.
//
// A session is healthy when the server answered the end of DATA (whatever
// it said for the recipients), or refused the transaction at MAIL or RCPT
// with an ordinary reply and then accepted RSET. After anything that leaves
// its state unknown (a network error, a timeout, a reply that does not
// parse, a 421, a failed RSET) the connection is closed.
//
// Sessions are cached by everything that makes them what they are (cacheKey):
// the route (the global delivery, or one tenant's own relay), the address
// dialed, the peer's name, the TLS policy asked for, how the certificate is
// verified, the client certificate shown, the AUTH identity and the EHLO
// name. A session is never used for another key: one that a tenant's relay
// accepted with that tenant's certificate or password never carries
// another tenant's mail, even to the same address.
//
// A cached connection may have been closed by the peer meanwhile (its idle
// timeout may be shorter than ours). When MAIL, the first command of a
// transaction on a reused session, finds the connection dead (a network
// error, EOF, a 421), the transaction is run again, once, on a new
// connection: nothing was accepted yet, so nothing can be delivered twice.
// Once the body is sent, nothing is retried here: a reply lost after the
// final dot stays a deferral.

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"sync"
	"time"

	"github.com/careerrelay/careerrelay/store"
)

// The connection cache's limits, after Postfix's.
const (
	// defaultIdleLimit is how long a session waits in the cache for the
	// next message before it is closed (Postfix:
	// smtp_connection_cache_time_limit = 2s). It is short: a peer must not
	// hold connections for us, and a busy queue reuses them well within it.
	defaultIdleLimit = 2 * time.Second
	// defaultReuseTimeLimit is how long after its connection was opened a
	// session may still start a transaction (Postfix:
	// smtp_connection_reuse_time_limit = 300s), so that a peer's DNS or
	// load balancing changes are picked up.
	defaultReuseTimeLimit = 300 * time.Second
	// defaultReuseCountLimit is how many transactions one connection
	// carries at most (Postfix: smtp_connection_reuse_count_limit, 0 there
	// meaning no limit). Some servers limit the messages per connection;
	// a limit of ours spreads a long busy spell over fresh connections.
	defaultReuseCountLimit = 1000
	// quitTimeout bounds the wait for the reply to QUIT (Postfix:
	// smtp_quit_timeout = 300s). Ours is short: no message waits on it,
	// and a shutdown does.
	quitTimeout = 5 * time.Second
)

// reuseLimits are the connection cache's settings; zero fields take the
// defaults. Tests shorten them through Options.reuse.
type reuseLimits struct {
	idle   time.Duration // defaultIdleLimit
	age    time.Duration // defaultReuseTimeLimit
	uses   int           // defaultReuseCountLimit
	perKey int           // idle sessions kept per key: delivery.workers
	// tick is how often the reaper closes sessions idle for longer than
	// idle (idle/4): a session is closed between idle and idle+tick after
	// its last use.
	tick time.Duration
}

// cacheKey names what a session is: two sessions with the same key are
// interchangeable.
type cacheKey struct {
	addr       string         // the host:port dialed
	name       string         // the peer's name (relay host, MX name), as in logs and DSNs
	policy     tlsPolicy      // as asked for: mx mode caches a session that fell back to plain text under opportunistic
	serverName string         // the name the certificate is checked for
	verify     bool           // whether the certificate is verified at all
	roots      *x509.CertPool // the roots it is verified against (nil: the system's)
	user       string         // the AUTH identity, "" without AUTH
	secret     [32]byte       // SHA-256 of the AUTH password: one user name with two passwords is two identities
	clientCert [32]byte       // SHA-256 of the client certificate shown (its leaf), zero for none
	hello      string         // the EHLO name given ("" is the dialer's)
	route      string         // the route: "" for the global delivery, else the tenant id
}

func (p peer) key() cacheKey {
	k := cacheKey{addr: p.addr, name: p.name, policy: p.policy, serverName: p.name, verify: true,
		user: p.user, hello: p.hello, route: p.route}
	if p.user != "" {
		k.secret = sha256.Sum256([]byte(p.password))
	}
	if c := p.tlsConfig; c != nil {
		if c.ServerName != "" {
			k.serverName = c.ServerName
		}
		k.verify = !c.InsecureSkipVerify
		k.roots = c.RootCAs
		if len(c.Certificates) > 0 && len(c.Certificates[0].Certificate) > 0 {
			k.clientCert = sha256.Sum256(c.Certificates[0].Certificate[0])
		}
	}
	return k
}

// send runs one mail transaction with p: on an idle session from the
// cache when there is one, else on a new one that open opens (d.open with
// p, or mx mode's open with its fall back to plain text). A session left
// healthy goes back to the cache.
func (d *dialer) send(ctx context.Context, p peer, open func() (*session, error), from string, rcpts []string, body store.Body) []Result {
	key := p.key()
	if s := d.cache.get(ctx, key); s != nil {
		results, st := s.transact(from, rcpts, body, p.name)
		if st != sessionStale || ctx.Err() != nil {
			d.cache.put(s, st)
			return results
		}
		d.log.Debug("cached connection was closed by the peer, sending on a new one",
			"peer", p.name, "peer_addr", p.addr, "transactions", s.uses-1, "idle", d.cache.now().Sub(s.idleSince))
		s.drop()
	}
	s, err := open()
	if err != nil {
		return resultsFor(rcpts, err, p.name)
	}
	s.key, s.opened = key, d.cache.now()
	results, st := s.transact(from, rcpts, body, p.name)
	d.cache.put(s, st)
	return results
}

// connCache holds idle sessions, per key, and closes them when they have
// been idle too long (a reaper goroutine that runs while the cache holds
// any) or when its transport is closed (close: the queue stops).
type connCache struct {
	lim reuseLimits
	now func() time.Time

	mu      sync.Mutex
	idle    map[cacheKey][]*session // least recently used first
	reaping bool                    // the reaper runs
	stop    chan struct{}           // closed to stop the reaper
	done    chan struct{}           // closed when the reaper has stopped
}

func newConnCache(lim reuseLimits, workers int, now func() time.Time) *connCache {
	if lim.idle <= 0 {
		lim.idle = defaultIdleLimit
	}
	if lim.age <= 0 {
		lim.age = defaultReuseTimeLimit
	}
	if lim.uses <= 0 {
		lim.uses = defaultReuseCountLimit
	}
	if lim.perKey <= 0 {
		lim.perKey = max(workers, 1)
	}
	if lim.tick <= 0 {
		lim.tick = lim.idle / 4
	}
	return &connCache{lim: lim, now: now, idle: map[cacheKey][]*session{}}
}

// expired reports whether an idle session may no longer be used at now.
func (c *connCache) expired(s *session, now time.Time) bool {
	return now.Sub(s.idleSince) >= c.lim.idle || now.Sub(s.opened) >= c.lim.age
}

// get takes the most recently used idle session for key, bound to ctx (an
// attempt's context), or returns nil. Expired sessions it comes across are
// closed.
func (c *connCache) get(ctx context.Context, key cacheKey) *session {
	now := c.now()
	var s *session
	var old []*session
	c.mu.Lock()
	l := c.idle[key]
	for s == nil && len(l) > 0 {
		top := l[len(l)-1]
		l[len(l)-1] = nil
		l = l[:len(l)-1]
		if c.expired(top, now) {
			old = append(old, top)
		} else {
			s = top
		}
	}
	if len(l) == 0 {
		delete(c.idle, key)
	} else {
		c.idle[key] = l
	}
	c.mu.Unlock()
	quitAll(old)
	if s != nil {
		s.bind(ctx)
	}
	return s
}

// put takes back a session after a transaction that left it in state st:
// a healthy one within its limits waits in the cache, any other is closed.
func (c *connCache) put(s *session, st sessionState) {
	if !s.unbind() || st != sessionOK {
		// Broken, or interrupted at shutdown (already closed).
		s.drop()
		return
	}
	now := c.now()
	if s.uses >= c.lim.uses || now.Sub(s.opened) >= c.lim.age {
		s.quit()
		return
	}
	s.idleSince = now
	var evicted *session
	c.mu.Lock()
	l := append(c.idle[s.key], s)
	if len(l) > c.lim.perKey {
		evicted = l[0]
		l = append(l[:0], l[1:]...)
	}
	c.idle[s.key] = l
	if !c.reaping {
		c.reaping = true
		c.stop, c.done = make(chan struct{}), make(chan struct{})
		go c.reap(c.stop, c.done)
	}
	c.mu.Unlock()
	if evicted != nil {
		evicted.quit()
	}
}

// reap closes expired sessions every tick, and stops when the cache is
// empty (put starts it again) or stop is closed.
func (c *connCache) reap(stop, done chan struct{}) {
	defer close(done)
	t := time.NewTicker(c.lim.tick)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		now := c.now()
		var old []*session
		c.mu.Lock()
		for k, l := range c.idle {
			keep := l[:0]
			for _, s := range l {
				if c.expired(s, now) {
					old = append(old, s)
				} else {
					keep = append(keep, s)
				}
			}
			clear(l[len(keep):])
			if len(keep) == 0 {
				delete(c.idle, k)
			} else {
				c.idle[k] = keep
			}
		}
		c.mu.Unlock()
		quitAll(old)
		c.mu.Lock()
		if len(c.idle) == 0 && c.stop == stop {
			c.reaping = false
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
	}
}

// close says QUIT on every idle session, closes them, and stops the
// reaper; it returns when they are closed and the reaper has stopped. The
// cache stays usable (a later put starts afresh), but it is called (by
// Transport.Close) when the queue stops, once no attempt runs any more.
func (c *connCache) close() {
	if c == nil {
		return
	}
	var all []*session
	c.mu.Lock()
	for _, l := range c.idle {
		all = append(all, l...)
	}
	clear(c.idle)
	stop, done, reaping := c.stop, c.done, c.reaping
	c.reaping = false
	c.stop, c.done = nil, nil
	c.mu.Unlock()
	if reaping {
		close(stop)
	}
	if done != nil {
		<-done // also when the reaper was just returning on its own
	}
	quitAll(all)
}

// idleCount is how many sessions wait in the cache (for tests).
func (c *connCache) idleCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, l := range c.idle {
		n += len(l)
	}
	return n
}

// reaperRunning reports whether the reaper goroutine runs (for tests).
func (c *connCache) reaperRunning() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reaping
}

// quitAll says QUIT on the sessions, all at once, and returns when all
// are closed.
func quitAll(ss []*session) {
	switch len(ss) {
	case 0:
		return
	case 1:
		ss[0].quit()
		return
	}
	var wg sync.WaitGroup
	for _, s := range ss {
		wg.Go(s.quit)
	}
	wg.Wait()
}
