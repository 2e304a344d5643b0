package transport_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/careerrelay/careerrelay/configs"
	"github.com/careerrelay/careerrelay/internal/testlib"
	"github.com/careerrelay/careerrelay/smtp/queue/queuetest"
	"github.com/careerrelay/careerrelay/smtp/transport"
	"github.com/careerrelay/careerrelay/smtp/transport/transporttest"
	"github.com/careerrelay/careerrelay/store"
)

// Connection reuse (reuse.go): the tests see the connections from the
// peer's side, through a proxy in front of a sink.

// reuseEnv is an env in relay mode to a sink behind a proxy; configure
// may adjust it further.
func reuseEnv(t *testing.T, sinkOpts *testlib.SinkOptions, configure func(*configs.Config, *queuetest.Options)) (*queuetest.Env, *testlib.Sink, *proxy) {
	t.Helper()
	s := testlib.NewSink(t, sinkOpts)
	p := newProxy(t, s.Addr)
	e := queuetest.New(t, func(c *configs.Config, o *queuetest.Options) {
		c.Delivery.Relay = configs.Relay{Address: p.Addr, TLS: "none"}
		if configure != nil {
			configure(c, o)
		}
	})
	return e, s, p
}

// pipeReuseEnv is reuseEnv on an in-memory network, for a synctest
// bubble (testing/synctest): the sink and the proxy serve on
// testlib.PipeListeners, which the bubble's clock can move past (a
// goroutine blocked on a real socket would hold it), the transport dials
// the proxy's, and its connection cache runs on the bubble's clock
// (time.Now) instead of e.Clock, which the queue keeps. The sink's
// timeout is an hour, so that it does not close the sessions the tests
// leave idle for minutes.
func pipeReuseEnv(t *testing.T, configure func(*configs.Config, *queuetest.Options)) (*queuetest.Env, *testlib.Sink, *proxy) {
	t.Helper()
	sl := testlib.NewPipeListener("sink.test:25")
	s := testlib.NewSink(t, &testlib.SinkOptions{Listener: sl, Timeout: time.Hour})
	pl := testlib.NewPipeListener("proxy.test:25")
	p := newPipeProxy(t, pl, sl)
	e := queuetest.New(t, func(c *configs.Config, o *queuetest.Options) {
		c.Delivery.Relay = configs.Relay{Address: p.Addr, TLS: "none"}
		o.Transport.Dial = pl.Dial
		o.Transport.Now = nil
		if configure != nil {
			configure(c, o)
		}
	})
	return e, s, p
}

// numbered is queuetest.Body with its own Message-ID and a line naming n.
func numbered(n int) string {
	return strings.Replace(queuetest.Body, "<orig@acme.example>", fmt.Sprintf("<m%d@acme.example>", n), 1) +
		fmt.Sprintf("message %d\r\n", n)
}

// send queues message n to rcpts in e and makes the attempts due (want of
// them, DSNs included).
func send(e *queuetest.Env, n int, rcpts []string, want int) string {
	e.T.Helper()
	id := e.Enqueue("hr@acme.example", rcpts, numbered(n))
	e.RunDue(want)
	return id
}

// reapers counts the goroutines running a connection cache's reaper.
func reapers() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return strings.Count(string(buf[:n]), "transport.(*connCache).reap(")
		}
		buf = make([]byte, 2*len(buf))
	}
}

func wantConns(t *testing.T, p *proxy, opened, closed int) {
	t.Helper()
	testlib.WaitFor(t, queuetest.Wait, fmt.Sprintf("%d connections opened and %d closed", opened, closed), func() bool {
		o, c := p.counts()
		return o == opened && c == closed
	})
}

// wantConnsNow is wantConns in a synctest bubble: once every goroutine
// of the bubble is blocked, the proxy has seen all there is to see.
func wantConnsNow(t *testing.T, p *proxy, opened, closed int) {
	t.Helper()
	synctest.Wait()
	if o, c := p.counts(); o != opened || c != closed {
		t.Fatalf("%d connections opened and %d closed, want %d and %d", o, c, opened, closed)
	}
}

// Messages one after another share one connection (one EHLO), and each
// arrives intact.
func TestReuseSequential(t *testing.T) {
	e, s, p := reuseEnv(t, nil, nil)
	const n = 20
	for i := range n {
		id := send(e, i, []string{"taro@example.jp"}, 1)
		if e.Get(id) != nil {
			t.Fatalf("message %d still queued", i)
		}
	}
	msgs := s.Messages()
	if len(msgs) != n {
		t.Fatalf("sink got %d messages, want %d", len(msgs), n)
	}
	for i, m := range msgs {
		if want := numbered(i); !bytes.Equal(m.Data, []byte(want)) {
			t.Errorf("message %d changed in transit:\n got %q\nwant %q", i, m.Data, want)
		}
	}
	if o, c := p.counts(); o != 1 || c != 0 {
		t.Errorf("%d connections opened, %d closed; want 1 and 0", o, c)
	}
	if s.Sessions() != 1 || p.sent("EHLO") != 1 || p.sent("MAIL") != n || p.sent("QUIT") != 0 {
		t.Errorf("sessions %d, EHLO %d, MAIL %d, QUIT %d; want 1, 1, %d, 0", s.Sessions(), p.sent("EHLO"), p.sent("MAIL"), n, p.sent("QUIT"))
	}
	if got := transport.IdleCount(e.Tr); got != 1 {
		t.Errorf("%d idle sessions, want 1", got)
	}
}

// With 8 workers, 200 messages go over at most 8 connections.
func TestReuseConcurrent(t *testing.T) {
	e, s, p := reuseEnv(t, nil, func(c *configs.Config, _ *queuetest.Options) { c.Delivery.Workers = 8 })
	const n = 200
	var ids []string
	for i := range n {
		m := e.Message("hr@acme.example", []string{fmt.Sprintf("c%d@example.jp", i)})
		e.Put(m, numbered(i))
		ids = append(ids, m.ID)
	}
	queuetest.RunEngine(t, e.Eng)
	e.Eng.Notify(ids...)
	s.WaitForCount(t, n, 4*queuetest.Wait)
	testlib.WaitFor(t, queuetest.Wait, "the queue to drain", func() bool { return len(e.Queued()) == 0 })
	for i := range n {
		if c := s.ByMessageID()[fmt.Sprintf("m%d@acme.example", i)]; c != 1 {
			t.Errorf("message %d arrived %d times", i, c)
		}
	}
	o, _ := p.counts()
	if o > 8 {
		t.Errorf("%d connections for %d messages with 8 workers, want at most 8", o, n)
	}
	t.Logf("%d messages over %d connections", n, o)
}

// A session idle for the idle limit is closed with QUIT by the reaper,
// which then stops; before the limit it is reused. The reaper runs on the
// bubble's clock, with its real tick.
func TestReuseIdleLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e, _, p := pipeReuseEnv(t, nil)
		send(e, 1, []string{"taro@example.jp"}, 1)
		if !transport.ReaperRunning(e.Tr) {
			t.Error("no reaper while a session is idle")
		}
		time.Sleep(transport.DefaultIdleLimit - time.Millisecond)
		send(e, 2, []string{"taro@example.jp"}, 1)
		wantConnsNow(t, p, 1, 0)

		// The limit counts from the last use; the reaper closes the
		// session within a tick (a quarter of the limit) after it.
		time.Sleep(transport.DefaultIdleLimit - time.Millisecond)
		wantConnsNow(t, p, 1, 0)
		time.Sleep(transport.DefaultIdleLimit / 4)
		wantConnsNow(t, p, 1, 1)
		if p.sent("QUIT") != 1 {
			t.Errorf("QUIT sent %d times, want 1", p.sent("QUIT"))
		}
		if transport.ReaperRunning(e.Tr) || reapers() != 0 {
			t.Errorf("reaper running %v (%d goroutines) with no session idle", transport.ReaperRunning(e.Tr), reapers())
		}
		if n := transport.IdleCount(e.Tr); n != 0 {
			t.Errorf("%d idle sessions after the idle limit", n)
		}
		// The next message opens a new connection, and the reaper starts again.
		send(e, 3, []string{"taro@example.jp"}, 1)
		wantConnsNow(t, p, 2, 1)
		if !transport.ReaperRunning(e.Tr) {
			t.Error("no reaper while a session is idle")
		}
	})
}

// An expired session that the reaper has not closed yet is closed when it
// is taken, not used.
func TestReuseExpiredOnGet(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e, _, p := pipeReuseEnv(t, func(_ *configs.Config, o *queuetest.Options) {
			transport.SetReuse(&o.Transport, transport.ReuseLimits{Tick: time.Hour})
		})
		send(e, 1, []string{"taro@example.jp"}, 1)
		time.Sleep(transport.DefaultIdleLimit)
		send(e, 2, []string{"taro@example.jp"}, 1)
		wantConnsNow(t, p, 2, 1)
		if p.sent("QUIT") != 1 {
			t.Errorf("QUIT sent %d times, want 1", p.sent("QUIT"))
		}
	})
}

// A connection carries at most uses transactions, and starts none past
// its age limit.
func TestReuseLimits(t *testing.T) {
	t.Run("transactions", func(t *testing.T) {
		e, _, p := reuseEnv(t, nil, func(_ *configs.Config, o *queuetest.Options) {
			transport.SetReuse(&o.Transport, transport.ReuseLimits{Uses: 3})
		})
		for i := range 7 {
			send(e, i, []string{"taro@example.jp"}, 1)
		}
		wantConns(t, p, 3, 2)
		if p.sent("QUIT") != 2 {
			t.Errorf("QUIT sent %d times, want 2", p.sent("QUIT"))
		}
	})
	t.Run("age", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			e, _, p := pipeReuseEnv(t, func(_ *configs.Config, o *queuetest.Options) {
				transport.SetReuse(&o.Transport, transport.ReuseLimits{Idle: time.Hour, Age: 5 * time.Minute, Tick: time.Hour})
			})
			send(e, 1, []string{"taro@example.jp"}, 1)
			time.Sleep(4 * time.Minute)
			send(e, 2, []string{"taro@example.jp"}, 1)
			wantConnsNow(t, p, 1, 0)
			time.Sleep(time.Minute)
			send(e, 3, []string{"taro@example.jp"}, 1)
			wantConnsNow(t, p, 2, 1)
		})
	})
}

// At most perKey sessions wait idle; the least recently used goes first.
func TestReusePerKeyLimit(t *testing.T) {
	entered, release := make(chan struct{}, 2), make(chan struct{})
	e, s, p := reuseEnv(t, &testlib.SinkOptions{RcptReply: func(string) error {
		entered <- struct{}{}
		<-release
		return nil
	}}, func(_ *configs.Config, o *queuetest.Options) {
		transport.SetReuse(&o.Transport, transport.ReuseLimits{PerKey: 1})
	})
	queuetest.RunEngine(t, e.Eng)
	e.Enqueue("hr@acme.example", []string{"taro@example.jp"}, numbered(1))
	e.Enqueue("hr@acme.example", []string{"hanako@example.jp"}, numbered(2))
	<-entered
	<-entered
	close(release)
	s.WaitForCount(t, 2, queuetest.Wait)
	wantConns(t, p, 2, 1)
	testlib.WaitFor(t, queuetest.Wait, "one idle session", func() bool { return transport.IdleCount(e.Tr) == 1 })
}

// A peer that closed the cached connection meanwhile (its idle timeout is
// shorter than ours) costs nothing: the message goes over a new
// connection within the same attempt, once.
func TestReuseStaleConnection(t *testing.T) {
	for _, tc := range []struct{ name, reply string }{
		{"hang-up", ""},
		{"421 then hang-up", "421 4.4.2 sink.test Error: timeout exceeded"},
		{"451 then hang-up", "451 4.7.0 Timeout waiting for client input"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, s, p := reuseEnv(t, nil, nil)
			send(e, 1, []string{"taro@example.jp"}, 1)
			p.hangUp(tc.reply)
			delivered, deferred := queuetest.Attempts("delivered"), queuetest.Attempts("deferred")
			id := send(e, 2, []string{"taro@example.jp"}, 1)
			if m := e.Get(id); m != nil {
				t.Fatalf("message deferred on a stale connection: %+v", m)
			}
			if d, f := queuetest.Attempts("delivered")-delivered, queuetest.Attempts("deferred")-deferred; d != 1 || f != 0 {
				t.Errorf("attempts: %v delivered, %v deferred; want 1 and 0", d, f)
			}
			for _, want := range []string{"m1@acme.example", "m2@acme.example"} {
				if c := s.ByMessageID()[want]; c != 1 {
					t.Errorf("%s arrived %d times", want, c)
				}
			}
			if o, _ := p.counts(); o != 2 {
				t.Errorf("%d connections opened, want 2", o)
			}
			// The new connection is cached in turn.
			send(e, 3, []string{"taro@example.jp"}, 1)
			if o, _ := p.counts(); o != 2 || s.Count() != 3 {
				t.Errorf("%d connections, %d messages; want 2 and 3", o, s.Count())
			}
		})
	}
}

// A stale connection is retried once: when the new one fails too, the
// message is deferred with the new one's error.
func TestReuseStaleThenRefused(t *testing.T) {
	s := testlib.NewSink(t, nil)
	p := newProxy(t, s.Addr)
	var addr atomic.Value
	addr.Store(p.Addr)
	e := queuetest.New(t, func(c *configs.Config, o *queuetest.Options) {
		c.Delivery.Relay = configs.Relay{Address: "smarthost.example:25", TLS: "none"}
		o.Transport.Dial = func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr.Load().(string))
		}
	})
	send(e, 1, []string{"taro@example.jp"}, 1)
	p.hangUp("")
	addr.Store("127.0.0.1:1") // nothing listens
	id := send(e, 2, []string{"taro@example.jp"}, 1)
	m := e.Get(id)
	if m == nil || m.Attempts != 1 || !strings.Contains(m.LastError, "connect to smarthost.example:25") {
		t.Fatalf("message = %+v, want pending with the new connection's error", m)
	}
}

// A reply lost after the final dot is never retried within the attempt:
// the peer may have accepted the message. It stays a deferral.
func TestReuseNoRetryAfterData(t *testing.T) {
	e, s, p := reuseEnv(t, nil, nil)
	send(e, 1, []string{"taro@example.jp"}, 1)
	s.SetReply(func(*testlib.SinkMessage) error {
		p.hangUp("") // the 250 never reaches the engine
		return nil
	})
	id := send(e, 2, []string{"taro@example.jp"}, 1)
	m := e.Get(id)
	if m == nil || m.Rcpts[0].State != store.Pending || m.LastError == "" {
		t.Fatalf("message = %+v, want pending", m)
	}
	if o, _ := p.counts(); o != 1 || s.Count() != 2 {
		t.Errorf("%d connections, %d messages at the sink; want 1 and 2 (no retry in the attempt)", o, s.Count())
	}
}

// A refused recipient leaves the session usable: a transaction with no
// recipient accepted ends with RSET (not a new EHLO), one with some goes
// on to DATA, and the connection carries the next messages.
func TestReuseAfterRefusedRecipient(t *testing.T) {
	e, s, p := reuseEnv(t, &testlib.SinkOptions{RcptReply: func(to string) error {
		if to == "gone@example.jp" {
			return testlib.SMTPReply(550, "5.1.1", "no such user")
		}
		return nil
	}}, nil)
	send(e, 1, []string{"taro@example.jp"}, 1)
	id := send(e, 2, []string{"gone@example.jp"}, 2) // and its DSN
	if m := e.Get(id); m != nil {
		t.Fatalf("message 2 still queued: %+v", m)
	}
	if p.sent("RSET") != 1 {
		t.Errorf("RSET sent %d times, want 1", p.sent("RSET"))
	}
	id = send(e, 3, []string{"gone@example.jp", "hanako@example.jp"}, 2)
	send(e, 4, []string{"taro@example.jp"}, 1)
	if m := e.Get(id); m != nil {
		t.Fatalf("message 3 still queued: %+v", m)
	}
	msgs := s.Messages()
	var got []string
	for _, m := range msgs {
		got = append(got, m.MessageID+" "+strings.Join(m.Rcpts, ","))
	}
	if len(msgs) != 5 || !strings.HasPrefix(got[0], "m1@") || msgs[1].From != "" || got[2] != "m3@acme.example hanako@example.jp" ||
		msgs[3].From != "" || !strings.HasPrefix(got[4], "m4@") {
		t.Fatalf("sink got %q, want m1, a DSN, m3 to hanako@, a DSN, m4", got)
	}
	d := queuetest.ParseDSN(t, msgs[1].Data)
	queuetest.WantContains(t, "delivery-status", d.Status, "Final-Recipient: rfc822; gone@example.jp\r\n", "Status: 5.1.1\r\n", "550 5.1.1 no such user")
	if o, c := p.counts(); o != 1 || c != 0 {
		t.Errorf("%d connections opened, %d closed; want 1 and 0", o, c)
	}
	if p.sent("RSET") != 1 || p.sent("EHLO") != 1 || s.Sessions() != 1 {
		t.Errorf("RSET %d, EHLO %d, sessions %d; want 1, 1, 1", p.sent("RSET"), p.sent("EHLO"), s.Sessions())
	}
}

// A 421, or the connection failing, in the middle of a transaction: the
// session is closed (without QUIT) and never reused.
func TestReuseNotAfterFailure(t *testing.T) {
	t.Run("421 to RCPT", func(t *testing.T) {
		e, s, p := reuseEnv(t, nil, nil)
		send(e, 1, []string{"taro@example.jp"}, 1)
		s.SetRcptReply(func(string) error { return testlib.SMTPReply(421, "4.3.0", "shutting down") })
		id := send(e, 2, []string{"taro@example.jp"}, 1)
		if m := e.Get(id); m == nil || !strings.HasPrefix(m.LastError, "421 4.3.0") {
			t.Fatalf("message = %+v, want pending with the 421", m)
		}
		wantConns(t, p, 1, 1)
		if p.sent("QUIT") != 0 || p.sent("RSET") != 0 {
			t.Errorf("QUIT %d, RSET %d after a 421; want none", p.sent("QUIT"), p.sent("RSET"))
		}
		s.SetRcptReply(nil)
		send(e, 3, []string{"taro@example.jp"}, 1)
		wantConns(t, p, 2, 1)
	})
	t.Run("connection cut at DATA", func(t *testing.T) {
		e, s, p := reuseEnv(t, nil, nil)
		send(e, 1, []string{"taro@example.jp"}, 1)
		p.cut("DATA")
		id := send(e, 2, []string{"taro@example.jp"}, 1)
		if m := e.Get(id); m == nil || m.Rcpts[0].State != store.Pending {
			t.Fatalf("message = %+v, want pending", m)
		}
		// Not retried within the attempt: MAIL was accepted.
		if o, _ := p.counts(); o != 1 || s.Count() != 1 {
			t.Errorf("%d connections, %d messages; want 1 and 1", o, s.Count())
		}
		p.cut("")
		send(e, 3, []string{"taro@example.jp"}, 1)
		if o, _ := p.counts(); o != 2 || s.Count() != 2 {
			t.Errorf("%d connections, %d messages; want 2 and 2", o, s.Count())
		}
	})
	t.Run("451 to DATA", func(t *testing.T) {
		// For contrast: a refusal at the end of DATA is an answer; the
		// session is reused.
		e, s, p := reuseEnv(t, nil, nil)
		s.SetReply(func(*testlib.SinkMessage) error { return testlib.SMTPReply(451, "4.3.0", "try later") })
		send(e, 1, []string{"taro@example.jp"}, 1)
		s.SetReply(nil)
		send(e, 2, []string{"taro@example.jp"}, 1)
		wantConns(t, p, 1, 0)
		if s.Count() != 1 {
			t.Errorf("sink got %d messages, want 1", s.Count())
		}
	})
}

// When Run stops, idle sessions are closed with QUIT and the reaper stops.
func TestReuseClosedAtShutdown(t *testing.T) {
	e, s, p := reuseEnv(t, nil, nil)
	stop := queuetest.RunEngine(t, e.Eng)
	id := e.Enqueue("hr@acme.example", []string{"taro@example.jp"}, numbered(1))
	s.WaitForCount(t, 1, queuetest.Wait)
	testlib.WaitFor(t, queuetest.Wait, "the session to wait in the cache", func() bool {
		return e.Get(id) == nil && transport.IdleCount(e.Tr) == 1
	})
	if o, c := p.counts(); o != 1 || c != 0 {
		t.Fatalf("%d connections opened, %d closed; want 1 and 0", o, c)
	}
	if reapers() != 1 {
		t.Errorf("%d reaper goroutines while a session is idle, want 1", reapers())
	}
	stop()
	if transport.ReaperRunning(e.Tr) || transport.IdleCount(e.Tr) != 0 || reapers() != 0 {
		t.Errorf("after Run: reaper running %v (%d goroutines), %d idle sessions", transport.ReaperRunning(e.Tr), reapers(), transport.IdleCount(e.Tr))
	}
	wantConns(t, p, 1, 1)
	if p.sent("QUIT") != 1 {
		t.Errorf("QUIT sent %d times, want 1", p.sent("QUIT"))
	}
}

// With STARTTLS and AUTH, a reused session stays encrypted and
// authenticated, through RSET too.
func TestReuseStartTLSAuth(t *testing.T) {
	s := testlib.NewSink(t, &testlib.SinkOptions{TLS: true, Users: map[string]string{"postfix": "s3cret"},
		RcptReply: func(to string) error {
			if to == "gone@example.jp" {
				return testlib.SMTPReply(550, "5.1.1", "no such user")
			}
			return nil
		}})
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, s.CertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	var dials atomic.Int32
	e := queuetest.New(t, func(c *configs.Config, o *queuetest.Options) {
		c.Delivery.Relay = configs.Relay{Address: s.Addr, TLS: "starttls", Username: "postfix", Password: "s3cret", CAFile: caFile}
		o.Transport.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
			dials.Add(1)
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		}
	})
	send(e, 1, []string{"taro@example.jp"}, 1)
	send(e, 2, []string{"gone@example.jp"}, 2) // RSET, then the DSN
	send(e, 3, []string{"hanako@example.jp"}, 1)
	msgs := s.Messages()
	if len(msgs) != 3 {
		t.Fatalf("sink got %d messages, want 3", len(msgs))
	}
	for i, m := range msgs {
		if !m.TLS || m.User != "postfix" {
			t.Errorf("message %d: TLS %v, user %q", i, m.TLS, m.User)
		}
	}
	if n := dials.Load(); n != 1 {
		t.Errorf("%d connections, want 1", n)
	}
	if n := s.Sessions(); n != 2 {
		t.Errorf("%d sink sessions, want 2 (before and after STARTTLS)", n)
	}
}

// mx mode: domains served by the same MX share its connection; MX names
// that differ do not, even on one address. A session that fell back to
// plain text after a failed handshake is reused as it is.
func TestReuseMX(t *testing.T) {
	t.Run("shared MX", func(t *testing.T) {
		s := testlib.NewSink(t, nil)
		n := &transporttest.Net{Routes: map[string]string{"192.0.2.1:25": s.Addr, "192.0.2.9:25": s.Addr}}
		dns := &transporttest.DNS{
			MX: map[string][]*net.MX{
				"a.example": {{Host: "mx.hoster.example", Pref: 10}},
				"b.example": {{Host: "mx.hoster.example", Pref: 10}},
				"c.example": {{Host: "mx.c.example", Pref: 10}},
			},
			IP: map[string][]string{"mx.hoster.example": {"192.0.2.1"}, "mx.c.example": {"192.0.2.1"}},
		}
		e := mxEnv(t, dns, n, nil)
		send(e, 1, []string{"x@a.example"}, 1)
		send(e, 2, []string{"y@b.example"}, 1)
		send(e, 3, []string{"z@c.example"}, 1)
		send(e, 4, []string{"x@a.example", "z@c.example"}, 1)
		if s.Count() != 5 {
			t.Fatalf("sink got %d messages, want 5", s.Count())
		}
		if got := n.Calls(); len(got) != 2 {
			t.Errorf("dialed %v, want 2 connections (mx.hoster.example, mx.c.example)", got)
		}
	})
	t.Run("plain text after a failed handshake", func(t *testing.T) {
		s := testlib.NewSink(t, &testlib.SinkOptions{TLSConfig: &tls.Config{GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return nil, net.ErrClosed
		}}})
		n := &transporttest.Net{}
		e := mxEnv(t, &transporttest.DNS{}, n, map[string]string{"example.jp": s.Addr})
		send(e, 1, []string{"taro@example.jp"}, 1)
		send(e, 2, []string{"taro@example.jp"}, 1)
		if msgs := s.Messages(); len(msgs) != 2 || msgs[1].TLS {
			t.Fatalf("sink got %+v, want two messages in plain text", msgs)
		}
		if got := n.Calls(); len(got) != 2 {
			t.Errorf("dialed %v, want 2 connections (TLS that failed, plain text)", got)
		}
	})
}

// A session says EHLO once, and once more after STARTTLS (RFC 3207), however
// many messages it carries; an MX that offers no STARTTLS hears the EHLO
// that asked for it only, not a second one from go-smtp's client.
func TestReuseOneEHLOPerSession(t *testing.T) {
	for _, tc := range []struct {
		name   string
		tls    bool   // the sink offers STARTTLS
		mode   string // relay (tls none or starttls) or mx (opportunistic)
		hellos int
	}{
		{"relay plain", false, "relay", 1},
		{"relay STARTTLS", true, "relay", 2},
		{"mx without STARTTLS", false, "mx", 1},
		{"mx with STARTTLS", true, "mx", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := testlib.NewSink(t, &testlib.SinkOptions{TLS: tc.tls})
			var dials atomic.Int32
			e := queuetest.New(t, func(c *configs.Config, o *queuetest.Options) {
				o.Transport.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
					dials.Add(1)
					return (&net.Dialer{}).DialContext(ctx, network, addr)
				}
				switch {
				case tc.mode == "mx":
					c.Delivery.Mode = "mx"
					c.Delivery.MXOverrides = map[string]string{"example.jp": s.Addr}
					o.Transport.Resolver = &transporttest.DNS{}
				case tc.tls:
					caFile := filepath.Join(t.TempDir(), "ca.pem")
					if err := os.WriteFile(caFile, s.CertPEM(), 0o600); err != nil {
						t.Fatal(err)
					}
					c.Delivery.Relay = configs.Relay{Address: s.Addr, TLS: "starttls", CAFile: caFile}
				default:
					c.Delivery.Relay = configs.Relay{Address: s.Addr, TLS: "none"}
				}
			})
			send(e, 1, []string{"taro@example.jp"}, 1)
			send(e, 2, []string{"hanako@example.jp"}, 1)
			msgs := s.Messages()
			if len(msgs) != 2 || msgs[0].TLS != tc.tls || msgs[1].TLS != tc.tls {
				t.Fatalf("sink got %+v, want 2 messages, TLS %v", msgs, tc.tls)
			}
			if n := dials.Load(); n != 1 {
				t.Errorf("%d connections, want 1", n)
			}
			if n := s.Hellos(); n != tc.hellos {
				t.Errorf("%d EHLOs, want %d", n, tc.hellos)
			}
		})
	}
}
