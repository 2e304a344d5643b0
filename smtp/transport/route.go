package transport

// Per-tenant return routes (issue 12, SPEC §11). A tenant may name its
// own upstream (tenants[].delivery.relay): its provider's inbound relay,
// such as Exchange Online's certificate-based connector or Google's
// smtp-relay, which accepts the tenant's mail as the tenant's. Such a
// route is a relay transport like the global one, so that retries, DSNs
// and connection reuse are as in relay mode. All routes share one
// connection cache, whose key holds the route and the session's whole
// identity (reuse.go): a session one tenant's relay accepted, with that
// tenant's certificate or password, never carries another's mail.

import (
	"context"
	"crypto/x509"
	"fmt"
	"sort"
	"strings"

	"github.com/careerrelay/careerrelay/configs"
	"github.com/careerrelay/careerrelay/store"
)

// router sends each message the way of its tenant: the tenant's own relay
// when it has one, else the global transport.
type router struct {
	def    Transport
	routes map[string]*relayTransport // tenant id -> its own relay
	d      *dialer                    // shared by every route: one connection cache
	name   string
}

// newRouter wraps def in a router when some tenant of cfg has its own
// route, and returns def as it is otherwise.
func newRouter(cfg *configs.Config, d *dialer, def Transport, roots *x509.CertPool, hello string) (Transport, error) {
	routes := map[string]*relayTransport{}
	for i := range cfg.Tenants {
		t := &cfg.Tenants[i]
		key := fmt.Sprintf("tenants[%s].delivery", t.ID)
		switch t.Delivery.Mode {
		case "":
			continue
		case "relay":
		default:
			return nil, fmt.Errorf("%s.mode %q: want relay, or none for the global delivery", key, t.Delivery.Mode)
		}
		if _, dup := routes[t.ID]; dup {
			return nil, fmt.Errorf("tenant id %q is given twice", t.ID)
		}
		rt, err := newRelayTransport(d, key+".relay", t.ID, t.Delivery.Relay, roots, hello)
		if err != nil {
			return nil, err
		}
		routes[t.ID] = rt
	}
	if len(routes) == 0 {
		return def, nil
	}
	ids := make([]string, 0, len(routes))
	for id := range routes {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var b strings.Builder
	b.WriteString(def.Name())
	for _, id := range ids {
		fmt.Fprintf(&b, "; tenant %s: %s", id, routes[id].Name())
	}
	return &router{def: def, routes: routes, d: d, name: b.String()}, nil
}

// Name is the global transport's name followed by each tenant's route:
// "relay smtp.example:587; tenant acme: relay acme-example.mail.protection.outlook.com:25".
func (r *router) Name() string { return r.name }

// route is the transport that delivers m: its tenant's own relay, or the
// global transport for mail of no tenant or of a tenant without a route,
// and for DSNs (from the null sender, to the sender of a message that
// failed).
func (r *router) route(m *store.Message) Transport {
	if m.DSN || m.Tenant == "" {
		return r.def
	}
	if t, ok := r.routes[m.Tenant]; ok {
		return t
	}
	return r.def
}

// Deliver delivers m the way of its tenant.
func (r *router) Deliver(ctx context.Context, m *store.Message, body store.Body, rcpts []string) []Result {
	return r.route(m).Deliver(ctx, m, body, rcpts)
}

// Close closes the global transport and the shared connection cache.
func (r *router) Close() {
	r.def.Close()
	r.d.cache.close()
}
