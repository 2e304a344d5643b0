package inbound

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/careerrelay/careerrelay/internal/testlib"
)

// dialGreeting connects to addr from the loopback address local and
// returns the connection and the first line of the greeting ("" when
// none came within wait).
func dialGreeting(t *testing.T, addr, local string, wait time.Duration) (net.Conn, string) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetReadDeadline(time.Now().Add(wait))
	line, _ := bufio.NewReader(conn).ReadString('\n')
	conn.SetReadDeadline(time.Time{})
	return conn, strings.TrimRight(line, "\r\n")
}

// An IPv4 client is its address; an IPv6 client its /64.
func TestClientKey(t *testing.T) {
	for _, tc := range []struct{ a, b string }{
		{"192.0.2.1", "192.0.2.1"},
		{"2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:ffff"},
		{"2001:db8:1:2:aaaa::5", "2001:db8:1:2::"},
	} {
		if ka, kb := clientKey(netip.MustParseAddr(tc.a)), clientKey(netip.MustParseAddr(tc.b)); ka != kb {
			t.Errorf("clientKey(%s) = %v, clientKey(%s) = %v: want one client", tc.a, ka, tc.b, kb)
		}
	}
	for _, tc := range []struct{ a, b string }{
		{"192.0.2.1", "192.0.2.2"},
		{"2001:db8:1:2::1", "2001:db8:1:3::1"},
		{"2001:db8::1", "2001:db9::1"},
	} {
		if ka, kb := clientKey(netip.MustParseAddr(tc.a)), clientKey(netip.MustParseAddr(tc.b)); ka == kb {
			t.Errorf("clientKey(%s) = clientKey(%s) = %v: want two clients", tc.a, tc.b, ka)
		}
	}
	if got, want := clientKey(netip.MustParseAddr("2001:db8:1:2:3:4:5:6")), netip.MustParsePrefix("2001:db8:1:2::/64"); got != want {
		t.Errorf("clientKey = %v, want %v", got, want)
	}
}

// max_connections_per_client counts an IPv6 client by its /64; outsiders
// hold at most outsideShare percent of max_connections, insiders get the
// rest, and an outsider that authenticates leaves outsiders' share.
func TestConnLimits(t *testing.T) {
	inside := netip.MustParsePrefix("10.0.0.0/8")
	l := newConnLimits(10, 3, inside.Contains)
	for i := range 3 {
		if _, ok := l.acquire(netip.MustParseAddr(fmt.Sprintf("2001:db8:0:1::%x", i+1))); !ok {
			t.Fatalf("connection %d of a /64 refused under the limit of 3", i+1)
		}
	}
	if _, ok := l.acquire(netip.MustParseAddr("2001:db8:0:1:ffff::1")); ok {
		t.Error("4th connection from one /64 admitted: the per-client limit counts addresses, not /64s")
	}
	// Five more outsiders fill their share with the /64's three: 8 of 10.
	var conns []*limitedConn
	for i := 0; len(conns) < 5; i++ {
		ip := netip.MustParseAddr(fmt.Sprintf("192.0.2.%d", i+1))
		outside, ok := l.acquire(ip)
		if !ok || !outside {
			t.Fatalf("outsider %d: ok %v outside %v", i+1, ok, outside)
		}
		a, b := net.Pipe()
		defer b.Close()
		c := &limitedConn{Conn: a, limits: l, ip: ip}
		c.outside.Store(true)
		conns = append(conns, c)
	}
	if _, ok := l.acquire(netip.MustParseAddr("198.51.100.1")); ok {
		t.Fatal("an outsider admitted past 80% of max_connections")
	}
	for i := range 2 {
		if outside, ok := l.acquire(netip.MustParseAddr(fmt.Sprintf("10.0.0.%d", i+1))); !ok || outside {
			t.Fatalf("insider %d: ok %v outside %v, want admitted into the reserve", i+1, ok, outside)
		}
	}
	if _, ok := l.acquire(netip.MustParseAddr("10.0.0.3")); ok {
		t.Fatal("an insider admitted past max_connections")
	}
	// One outsider authenticates and one leaves: that frees one place in
	// outsiders' share, the other is the authenticated one's.
	conns[0].authenticated()
	conns[0].authenticated() // twice counts once
	conns[1].Close()
	conns[1].Close()
	if _, ok := l.acquire(netip.MustParseAddr("198.51.100.1")); !ok {
		t.Fatal("outsider refused after another authenticated and one left")
	}
	if _, ok := l.acquire(netip.MustParseAddr("198.51.100.2")); ok {
		t.Error("outsider admitted into the place of an authenticated connection")
	}
	conns[0].Close()
	l.mu.Lock()
	total, outside := l.total, l.outside
	l.mu.Unlock()
	if total != 9 || outside != 7 {
		t.Errorf("after the closes: total %d outside %d, want 9 and 7", total, outside)
	}
}

// The acceptance test of issue 13: 200 idle connections from 50 outside
// addresses, and the company's MTA, in smtp.allow_networks, still gets
// 250 for a message within a second.
func TestOutsidersLeaveRoomForAllowedClient(t *testing.T) {
	cfg := testConfig("127.0.1.0/24")
	cfg.SMTP.MaxConnections = 200
	cfg.SMTP.MaxConnectionsPerClient = 4
	rec := &recorder{}
	addr := startServer(t, cfg, rec)
	greeted, refused := 0, 0
	for i := range 200 {
		_, line := dialGreeting(t, addr, fmt.Sprintf("127.0.0.%d", 10+i%50), 5*time.Second)
		switch {
		case strings.HasPrefix(line, "220 "):
			greeted++
		case line == "421 4.7.0 Too many connections, try again later":
			refused++
		default:
			t.Fatalf("connection %d: %q", i+1, line)
		}
	}
	if greeted != 160 || refused != 40 {
		t.Errorf("outsiders: %d greeted, %d refused; want 160 (80%% of 200) and 40", greeted, refused)
	}

	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.1.7")}, Timeout: time.Second}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(time.Second))
	r := bufio.NewReader(conn)
	reply := func() string {
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("allowed client: %v", err)
			}
			if len(line) < 4 || line[3] != '-' {
				return strings.TrimRight(line, "\r\n")
			}
		}
	}
	if got := reply(); !strings.HasPrefix(got, "220 ") {
		t.Fatalf("allowed client's greeting: %q", got)
	}
	for _, step := range []struct{ send, want string }{
		{"EHLO mta.acme.example", "250 "},
		{"MAIL FROM:<hr@acme.example>", "250 "},
		{"RCPT TO:<c@cand.example>", "250 "},
		{"DATA", "354 "},
		{plainMail + ".", "250 "},
	} {
		io.WriteString(conn, step.send+"\r\n")
		if got := reply(); !strings.HasPrefix(got, step.want) {
			t.Fatalf("allowed client: %q answered %q, want %s", strings.SplitN(step.send, "\r\n", 2)[0], got, step.want)
		}
	}
	if rec.count() != 1 {
		t.Errorf("%d messages accepted, want 1", rec.count())
	}
}

// smtp.max_connections and max_connections_per_client count smtp.listen
// and smtp.listen_tls together.
func TestLimitsSharedAcrossListeners(t *testing.T) {
	cfg := testConfig("127.0.0.0/8")
	certPEM := withTLS(t, cfg)
	cfg.SMTP.MaxConnections = 3
	cfg.SMTP.MaxConnectionsPerClient = 1
	s := listening(t, cfg)
	plain, implicit := s.Addrs()[0].String(), s.Addrs()[1].String()

	// One client, one connection on each listener: the second is refused
	// (before TLS, as every refusal of the limits).
	if _, line := dialGreeting(t, plain, "127.0.0.2", 5*time.Second); !strings.HasPrefix(line, "220 ") {
		t.Fatalf("plain: %q", line)
	}
	if _, line := dialGreeting(t, implicit, "127.0.0.2", 5*time.Second); !strings.HasPrefix(line, "421 4.7.0") {
		t.Fatalf("second connection of a client, on the TLS listener: %q, want 421 4.7.0", line)
	}

	// Two more clients on the TLS listener fill max_connections; the
	// next on the plain listener is refused.
	tlsConf := &tls.Config{RootCAs: testlib.CertPool(t, certPEM), ServerName: "127.0.0.1"}
	var held []net.Conn
	for _, local := range []string{"127.0.0.3", "127.0.0.4"} {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 5 * time.Second}
		c, err := tls.DialWithDialer(d, "tcp", implicit, tlsConf)
		if err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if line, _ := bufio.NewReader(c).ReadString('\n'); !strings.HasPrefix(line, "220 ") {
			t.Fatalf("TLS client %s: %q", local, line)
		}
		held = append(held, c)
	}
	if _, line := dialGreeting(t, plain, "127.0.0.5", 5*time.Second); !strings.HasPrefix(line, "421 4.7.0") {
		t.Fatalf("4th connection of max 3, on the plain listener: %q, want 421 4.7.0", line)
	}
	// A TLS client leaves: a plain one gets its place.
	held[0].Close()
	testlib.WaitFor(t, 5*time.Second, "the place of the closed TLS connection to be freed", func() bool {
		_, line := dialGreeting(t, plain, "127.0.0.5", 5*time.Second)
		return strings.HasPrefix(line, "220 ")
	})
}

// A client that may not relay gets its third MAIL answered 421 and the
// connection closed.
func TestRelayDeniedClosesConnection(t *testing.T) {
	addr := startServer(t, testConfig("127.0.1.0/24"), &recorder{})
	c := dialFrom(t, addr, "127.0.0.9")
	var replies []string
	for range 3 {
		replies = append(replies, c.cmd("MAIL FROM:<hr@acme.example>"))
	}
	want := []string{
		"550 5.7.1 Relaying denied: authenticate or connect from an allowed network",
		"550 5.7.1 Relaying denied: authenticate or connect from an allowed network",
		"421 4.7.0 Relaying denied: authenticate or connect from an allowed network; closing connection",
	}
	for i := range want {
		if replies[i] != want[i] {
			t.Errorf("MAIL %d: %q, want %q", i+1, replies[i], want[i])
		}
	}
	if !c.closed() {
		t.Error("connection open after the third relay_denied")
	}
	// The allowed network's client is not counted so.
	c = dialFrom(t, addr, "127.0.1.9")
	for i := range 5 {
		if got := c.cmd("MAIL FROM:<hr@acme.example>"); !strings.HasPrefix(got, "250 ") {
			t.Fatalf("allowed client's MAIL %d: %q", i+1, got)
		}
		c.cmd("RSET")
	}
}

// A client that may not relay from its address has smtp.preauth_timeout
// to authenticate, however busy it keeps the connection; one that
// authenticates, or one from an allowed network, has read_timeout.
func TestPreAuthTimeout(t *testing.T) {
	cfg := authConfig(t)
	cfg.SMTP.Networks = []netip.Prefix{netip.MustParsePrefix("127.0.1.0/24")}
	cfg.SMTP.PreAuthTimeout = 300 * time.Millisecond
	addr := startServer(t, cfg, &recorder{})

	// Busy outsider: NOOPs until it is cut off.
	c := dialFrom(t, addr, "127.0.0.9")
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := c.cmd("NOOP")
		if strings.HasPrefix(got, "421 4.4.2") {
			break
		}
		if !strings.HasPrefix(got, "250 ") || time.Now().After(deadline) {
			t.Fatalf("busy outsider's NOOP: %q, want 250 until a 421 4.4.2", got)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !c.closed() {
		t.Error("outsider's connection open after the 421")
	}

	// Idle outsider: the 421 comes without a command.
	c = dialFrom(t, addr, "127.0.0.10")
	if got := c.reply(); !strings.HasPrefix(got, "421 4.4.2") {
		t.Errorf("idle outsider: %q, want 421 4.4.2", got)
	}

	// An outsider that authenticates and the allowed client outlast it.
	auth := dialFrom(t, addr, "127.0.0.11")
	if got := auth.cmd(plainAuth("hr", "right")); !strings.HasPrefix(got, "235 ") {
		t.Fatalf("AUTH: %q", got)
	}
	allowed := dialFrom(t, addr, "127.0.1.11")
	time.Sleep(3 * cfg.SMTP.PreAuthTimeout)
	for name, c := range map[string]*rawConn{"authenticated": auth, "allowed": allowed} {
		if got := c.cmd("NOOP"); !strings.HasPrefix(got, "250 ") {
			t.Errorf("%s client after 3 x preauth_timeout: NOOP %q, want 250", name, got)
		}
	}
}
