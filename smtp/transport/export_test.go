package transport

import "time"

// What the external tests (package transport_test, which drives the
// transports with a queue.Engine) may see of the inside.

// DefaultIdleLimit is defaultIdleLimit.
const DefaultIdleLimit = defaultIdleLimit

// ReuseLimits are reuseLimits, for SetReuse; zero fields take the defaults.
type ReuseLimits struct {
	Idle, Age    time.Duration
	Uses, PerKey int
	Tick         time.Duration
}

// SetReuse shortens the connection cache's limits of the transports that
// New makes with o.
func SetReuse(o *Options, l ReuseLimits) {
	o.reuse = reuseLimits{idle: l.Idle, age: l.Age, uses: l.Uses, perKey: l.PerKey, tick: l.Tick}
}

func cacheOf(t Transport) *connCache {
	switch t := t.(type) {
	case *relayTransport:
		return t.d.cache
	case *mxTransport:
		return t.d.cache
	case *router:
		return t.d.cache
	}
	panic("transport without a connection cache")
}

// IdleCount is how many sessions wait in t's connection cache.
func IdleCount(t Transport) int { return cacheOf(t).idleCount() }

// ReaperRunning reports whether the reaper of t's connection cache runs.
func ReaperRunning(t Transport) bool { return cacheOf(t).reaperRunning() }

// SetRelayServerName changes the name a relay transport checks the
// relay's certificate for.
func SetRelayServerName(t Transport, name string) {
	t.(*relayTransport).peer.tlsConfig.ServerName = name
}
