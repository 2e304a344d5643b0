package transport_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/careerrelay/careerrelay/configs"
	"github.com/careerrelay/careerrelay/internal/testlib"
	"github.com/careerrelay/careerrelay/smtp/queue/queuetest"
	"github.com/careerrelay/careerrelay/smtp/transport"
	"github.com/careerrelay/careerrelay/smtp/transport/transporttest"
	"github.com/careerrelay/careerrelay/store"
)

// Per-tenant return routes (issue 12): a tenant's own relay, with its
// client certificate, AUTH and EHLO name, carries that tenant's mail
// only.

// clientCertSink is a sink that requires, in its TLS handshake, a client
// certificate issued by one of cas (PEM), with a server certificate for
// hosts (localhost and 127.0.0.1 when none); serverPEM verifies it.
func clientCertSink(t *testing.T, implicit bool, users map[string]string, cas [][]byte, hosts ...string) (s *testlib.Sink, serverPEM []byte) {
	t.Helper()
	serverPEM, _, serverCert := testlib.SelfSignedCert(t, hosts...)
	return testlib.NewSink(t, &testlib.SinkOptions{
		Implicit: implicit,
		Users:    users,
		TLSConfig: &tls.Config{
			Certificates: []tls.Certificate{serverCert},
			ClientAuth:   tls.RequireAndVerifyClientCert,
			ClientCAs:    testlib.CertPool(t, cas...),
		},
	}), serverPEM
}

func cn(c *x509.Certificate) string {
	if c == nil {
		return "(none)"
	}
	return c.Subject.CommonName
}

// acme's mail goes to acme's relay over TLS, with acme's client
// certificate, AUTH user and EHLO name; beta's mail, mail of no tenant,
// and the DSN of acme's failed recipient go to the global relay with its
// own user and none of acme's settings.
func TestTenantRoute(t *testing.T) {
	for _, mode := range []string{"starttls", "tls"} {
		t.Run(mode, func(t *testing.T) {
			acmePEM, _, acmeCert := testlib.SelfSignedCert(t, "acme.example")
			acmeSink, acmeServerPEM := clientCertSink(t, mode == "tls",
				map[string]string{"acme-user": "acme-pw"}, [][]byte{acmePEM})
			acmeSink.SetRcptReply(func(to string) error {
				if to == "gone@example.jp" {
					return testlib.SMTPReply(550, "5.1.1", "no such user")
				}
				return nil
			})
			def := testlib.NewSink(t, &testlib.SinkOptions{TLS: true, Users: map[string]string{"postfix": "s3cret"}})
			e := queuetest.New(t, func(c *configs.Config, qo *queuetest.Options) {
				o := &qo.Transport
				o.RootCAs = testlib.CertPool(t, def.CertPEM())
				c.Delivery.Relay = configs.Relay{Address: def.Addr, TLS: "starttls", Username: "postfix", Password: "s3cret"}
				c.Tenants = []configs.Tenant{
					{ID: "acme", Domains: []string{"acme.example"}, Delivery: configs.TenantDelivery{Mode: "relay", Relay: configs.Relay{
						Address: acmeSink.Addr, TLS: mode, Username: "acme-user", Password: "acme-pw",
						RootCAs: testlib.CertPool(t, acmeServerPEM), ClientCert: &acmeCert, HelloName: "acme.example",
					}}},
					{ID: "beta", Domains: []string{"beta.example"}},
				}
			})
			if name, want := e.Tr.Name(), "relay "+def.Addr+"; tenant acme: relay "+acmeSink.Addr; name != want {
				t.Errorf("Name() = %q, want %q", name, want)
			}

			e.Enqueue("hr@acme.example", []string{"taro@example.jp"}, numbered(1))
			beta := e.Message("hr@beta.example", []string{"hanako@example.jp"})
			beta.Tenant = "beta"
			e.Put(beta, numbered(2))
			none := e.Message("someone@other.example", []string{"jiro@example.jp"})
			none.Tenant = ""
			e.Put(none, numbered(3))
			e.Eng.Notify(beta.ID, none.ID)
			e.RunDue(3)
			e.Enqueue("hr@acme.example", []string{"gone@example.jp"}, numbered(4))
			e.RunDue(2) // acme's message, then the DSN of gone@

			got := acmeSink.Messages()
			if len(got) != 1 {
				t.Fatalf("acme's relay got %d messages, want 1", len(got))
			}
			if m := got[0]; m.MessageID != "m1@acme.example" || !m.TLS || cn(m.ClientCert) != "acme.example" ||
				m.User != "acme-user" || m.Helo != "acme.example" {
				t.Errorf("acme's relay got %s: TLS %v, client certificate %s, user %q, EHLO %q; want m1 over TLS with acme.example's certificate as acme-user, EHLO acme.example",
					m.MessageID, m.TLS, cn(m.ClientCert), m.User, m.Helo)
			}
			got = def.Messages()
			if len(got) != 3 {
				t.Fatalf("the global relay got %d messages, want 3 (beta's, no tenant's, the DSN)", len(got))
			}
			// Beta's and no tenant's run at once, in either order.
			if ids := []string{got[0].MessageID, got[1].MessageID}; !slices.Contains(ids, "m2@acme.example") || !slices.Contains(ids, "m3@acme.example") {
				t.Errorf("global relay got %v first, want m2 (beta's) and m3 (no tenant's)", ids)
			}
			for i, m := range got {
				if m.ClientCert != nil || m.User != "postfix" || m.Helo != "out.relay.test" {
					t.Errorf("global relay message %d: client certificate %s, user %q, EHLO %q; want none, postfix, out.relay.test",
						i, cn(m.ClientCert), m.User, m.Helo)
				}
			}
			if dsn := got[2]; dsn.From != "" || strings.Join(dsn.Rcpts, ",") != "hr@acme.example" {
				t.Errorf("third message %q -> %q, want the DSN from <> to hr@acme.example", dsn.From, dsn.Rcpts)
			}
		})
	}
}

// The sink of TestTenantRoute really asks for the certificate: without
// one, acme's mail waits (a temporary TLS failure), and nothing goes the
// global way instead.
func TestTenantRouteWithoutClientCertDefers(t *testing.T) {
	acmePEM, _, _ := testlib.SelfSignedCert(t, "acme.example")
	acmeSink, serverPEM := clientCertSink(t, false, nil, [][]byte{acmePEM})
	def := testlib.NewSink(t, nil)
	e := queuetest.New(t, func(c *configs.Config, _ *queuetest.Options) {
		c.Delivery.Relay = configs.Relay{Address: def.Addr, TLS: "none"}
		c.Tenants = []configs.Tenant{{ID: "acme", Delivery: configs.TenantDelivery{Mode: "relay", Relay: configs.Relay{
			Address: acmeSink.Addr, TLS: "starttls", RootCAs: testlib.CertPool(t, serverPEM),
		}}}}
	})
	id := e.Enqueue("hr@acme.example", []string{"taro@example.jp"}, queuetest.Body)
	e.RunDue(1)
	m := e.Get(id)
	if m == nil || m.Rcpts[0].State != store.Pending || m.LastError == "" {
		t.Fatalf("message = %+v, want pending with an error", m)
	}
	if acmeSink.Count() != 0 || def.Count() != 0 {
		t.Errorf("delivered: %d at acme's relay, %d at the global one; want none", acmeSink.Count(), def.Count())
	}
}

// SECURITY: two tenants whose routes lead to the same upstream address,
// with different client certificates or AUTH users, never share a
// connection. Each route reuses its own (one connection each for four
// messages), and every message arrives with its own tenant's identity.
func TestTenantRoutesNeverShareConnections(t *testing.T) {
	for _, tc := range []struct {
		name  string
		certs bool // client certificates, else AUTH users
	}{
		{"client certificates", true},
		{"AUTH users", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			acmePEM, _, acmeCert := testlib.SelfSignedCert(t, "acme.example")
			betaPEM, _, betaCert := testlib.SelfSignedCert(t, "beta.example")
			var s *testlib.Sink
			var serverPEM []byte
			if tc.certs {
				s, serverPEM = clientCertSink(t, false, nil, [][]byte{acmePEM, betaPEM})
			} else {
				s = testlib.NewSink(t, &testlib.SinkOptions{TLS: true, Users: map[string]string{"acme-user": "a", "beta-user": "b"}})
				serverPEM = s.CertPEM()
			}
			var dials atomic.Int32
			e := queuetest.New(t, func(c *configs.Config, qo *queuetest.Options) {
				o := &qo.Transport
				o.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
					dials.Add(1)
					return (&net.Dialer{}).DialContext(ctx, network, addr)
				}
				route := func(cert *tls.Certificate, user, password string) configs.TenantDelivery {
					r := configs.Relay{Address: s.Addr, TLS: "starttls", RootCAs: testlib.CertPool(t, serverPEM)}
					if tc.certs {
						r.ClientCert = cert
					} else {
						r.Username, r.Password = user, password
					}
					return configs.TenantDelivery{Mode: "relay", Relay: r}
				}
				c.Tenants = []configs.Tenant{
					{ID: "acme", Delivery: route(&acmeCert, "acme-user", "a")},
					{ID: "beta", Delivery: route(&betaCert, "beta-user", "b")},
				}
			})
			tenants := []string{"acme", "beta", "acme", "beta"}
			for i, tenant := range tenants {
				m := e.Message("hr@"+tenant+".example", []string{"taro@example.jp"})
				m.Tenant = tenant
				e.Put(m, numbered(i))
				e.Eng.Notify(m.ID)
				e.RunDue(1)
			}
			msgs := s.Messages()
			if len(msgs) != len(tenants) {
				t.Fatalf("sink got %d messages, want %d", len(msgs), len(tenants))
			}
			for i, m := range msgs {
				var who string
				if tc.certs {
					who = strings.TrimSuffix(cn(m.ClientCert), ".example")
				} else {
					who = strings.TrimSuffix(m.User, "-user")
				}
				if who != tenants[i] {
					t.Errorf("message %d of %s arrived as %q", i, tenants[i], who)
				}
			}
			if n := dials.Load(); n != 2 {
				t.Errorf("%d connections, want 2: one per tenant, each reused", n)
			}
			if n := transport.IdleCount(e.Tr); n != 2 {
				t.Errorf("%d idle sessions, want 2", n)
			}
		})
	}
}

// A result from a tenant's relay names that relay (the delivery attempt
// log's peer, a DSN's Remote-MTA), not the global one.
func TestTenantRouteRemote(t *testing.T) {
	acmeSink := testlib.NewSink(t, nil)
	def := testlib.NewSink(t, nil)
	n := &transporttest.Net{Routes: map[string]string{"acme-relay.test:25": acmeSink.Addr, "global-relay.test:25": def.Addr}}
	cfg := &configs.Config{
		SMTP: configs.SMTP{Hostname: "relay.test"},
		Delivery: configs.Delivery{Mode: "relay", HelloName: "out.relay.test",
			Relay: configs.Relay{Address: "global-relay.test:25", TLS: "none"}},
		Tenants: []configs.Tenant{{ID: "acme", Delivery: configs.TenantDelivery{Mode: "relay", Relay: configs.Relay{
			Address: "acme-relay.test:25", TLS: "none", HelloName: "acme.example"}}}},
	}
	tr, err := transport.New(cfg, transport.Options{Dial: n.Dial})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	for tenant, want := range map[string]string{"acme": "acme-relay.test", "beta": "global-relay.test", "": "global-relay.test"} {
		m := &store.Message{Tenant: tenant, From: "hr@acme.example"}
		res := tr.Deliver(context.Background(), m, store.InlineBody([]byte(queuetest.Body)), []string{"taro@example.jp"})
		if len(res) != 1 || res[0].Outcome != transport.Delivered || res[0].Remote != want {
			t.Errorf("tenant %q: results %+v, want delivered by %s", tenant, res, want)
		}
	}
	if acmeSink.Count() != 1 || def.Count() != 2 {
		t.Errorf("acme's relay got %d, the global one %d; want 1 and 2", acmeSink.Count(), def.Count())
	}
	if m := acmeSink.Messages(); len(m) == 1 && m[0].Helo != "acme.example" {
		t.Errorf("EHLO at acme's relay = %q, want acme.example", m[0].Helo)
	}
}
