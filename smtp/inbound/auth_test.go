package inbound

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/careerrelay/careerrelay/configs"
	"github.com/careerrelay/careerrelay/internal/testlib"
	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"
	"golang.org/x/crypto/bcrypt"
)

// testCost keeps the tests' bcrypt fast.
const testCost = bcrypt.MinCost

func hashAt(t *testing.T, pass string, cost int) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pass), cost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

// authConfig: no allowed network, one user hr with password "right".
func authConfig(t *testing.T) *configs.Config {
	cfg := testConfig()
	cfg.SMTP.AllowInsecureAuth = true
	cfg.SMTP.Users = []configs.User{{Name: "hr", PasswordHash: hashAt(t, "right", testCost)}}
	return cfg
}

func plainAuth(user, pass string) string {
	return "AUTH PLAIN " + base64.StdEncoding.EncodeToString([]byte("\x00"+user+"\x00"+pass))
}

// dialFrom is dialRaw from a chosen loopback address.
func dialFrom(t *testing.T, addr, local string) *rawConn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c := &rawConn{t: t, conn: conn}
	c.r = bufio.NewReader(conn)
	c.reply()
	c.cmd("EHLO t")
	return c
}

// Thirty wrong passwords and then the right one on one connection: the
// third failure is answered 421 and the connection closed.
func TestAuthThirdFailureClosesConnection(t *testing.T) {
	addr := startServer(t, authConfig(t), &recorder{})
	c := dialRaw(t, addr)
	c.cmd("EHLO t")
	var replies []string
	for range 30 {
		replies = append(replies, c.cmd(plainAuth("hr", "wrong")))
	}
	replies = append(replies, c.cmd(plainAuth("hr", "right")))
	if !strings.HasPrefix(replies[0], "535 ") || !strings.HasPrefix(replies[1], "535 ") {
		t.Errorf("first failures: %q, want 535", replies[:2])
	}
	if replies[2] != "421 4.7.0 Too many authentication failures" {
		t.Errorf("third failure: %q, want 421 4.7.0", replies[2])
	}
	for i, r := range replies[3:] {
		if r != "" {
			t.Fatalf("attempt %d after the 421 answered %q: the connection is still open", i+4, r)
		}
	}
	// LOGIN counts the same way.
	c = dialRaw(t, addr)
	c.cmd("EHLO t")
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	for i := range 3 {
		c.cmd("AUTH LOGIN " + b64("hr"))
		got := c.cmd(b64("wrong"))
		if want := map[int]string{0: "535 ", 1: "535 ", 2: "421 4.7.0"}[i]; !strings.HasPrefix(got, want) {
			t.Errorf("LOGIN failure %d: %q, want %s", i+1, got, want)
		}
	}
	if !c.closed() {
		t.Error("LOGIN: connection open after the third failure")
	}
}

// A client address that keeps guessing is refused with 454 without a
// password check, even with the right password; another address can
// still authenticate. Its budget refills over time.
func TestAuthAddressBudget(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	addr := startServerWith(t, authConfig(t), &recorder{}, func(s *Server) { s.now = clock })
	for range (addrBurst + 2) / 2 {
		c := dialFrom(t, addr, "127.0.0.1")
		c.cmd(plainAuth("hr", "wrong"))
		c.cmd(plainAuth("nobody", "wrong"))
	}
	c := dialFrom(t, addr, "127.0.0.1")
	if got := c.cmd(plainAuth("hr", "right")); got != "454 4.7.0 Temporary authentication failure" {
		t.Errorf("right password from a blocked address: %q, want 454 4.7.0", got)
	}
	other := dialFrom(t, addr, "127.0.0.2")
	if got := other.cmd(plainAuth("hr", "right")); !strings.HasPrefix(got, "235 ") {
		t.Errorf("another address: %q, want 235", got)
	}
	mu.Lock()
	now = now.Add(addrRefill)
	mu.Unlock()
	c = dialFrom(t, addr, "127.0.0.1")
	if got := c.cmd(plainAuth("hr", "right")); !strings.HasPrefix(got, "235 ") {
		t.Errorf("after %v: %q, want 235", addrRefill, got)
	}
}

func TestAuthLimiter(t *testing.T) {
	now := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	l := newAuthLimiter(3, time.Minute, 5, func() time.Time { return now })
	for range 3 {
		if l.blocked("a") {
			t.Fatal("blocked before its budget was spent")
		}
		l.fail("a")
	}
	if !l.blocked("a") || l.blocked("b") {
		t.Fatal("a not blocked after 3 failures, or b blocked")
	}
	now = now.Add(time.Minute)
	if l.blocked("a") {
		t.Fatal("a still blocked after one refill")
	}
	l.fail("a")
	if !l.blocked("a") {
		t.Fatal("a not blocked again after one more failure")
	}
	// Bounded: a flood of keys keeps at most maxKeys, and evicts the
	// least failed first, not the blocked one.
	for i := range 100 {
		l.fail(strings.Repeat("k", i+1))
	}
	if l.len() > 5 {
		t.Errorf("%d keys tracked, want at most 5", l.len())
	}
	if !l.blocked("a") {
		t.Error("the flood evicted the blocked key")
	}
	now = now.Add(time.Hour)
	l.fail("new")
	if l.len() != 1 {
		t.Errorf("%d keys after all were forgiven, want 1", l.len())
	}
}

// The user name has a budget of its own, whatever the address, known
// user or not (so that blocking tells nothing about which names exist).
func TestAuthUserBudget(t *testing.T) {
	g := newAuthGuard(time.Now)
	for i := range userBurst {
		ip := netip.AddrFrom4([4]byte{10, 0, byte(i / 256), byte(i)})
		g.fail(ip, "hr")
		g.fail(ip, "nobody")
	}
	fresh := netip.MustParseAddr("10.9.9.9")
	if !g.blocked(fresh, "hr") || !g.blocked(fresh, "nobody") || g.blocked(fresh, "other") {
		t.Error("user budgets: hr and nobody should be blocked from a fresh address, other not")
	}
	// An IPv6 client is one /64.
	a, b := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::ffff:1")
	for range addrBurst {
		g.fail(a, "u")
	}
	if !g.blocked(b, "x") {
		t.Error("another address of the same /64 is not blocked")
	}
}

// An unknown user's password is compared with a hash of the cost most
// configured users have, so that timing does not tell names apart.
func TestDummyHashHasTheUsersCost(t *testing.T) {
	u := newUsers([]configs.User{
		{Name: "a", PasswordHash: hashAt(t, "x", 5)},
		{Name: "b", PasswordHash: hashAt(t, "x", 5)},
		{Name: "c", PasswordHash: hashAt(t, "x", 4)},
	})
	if c, err := bcrypt.Cost(u.dummy()); err != nil || c != 5 {
		t.Errorf("dummy hash cost %d (%v), want 5", c, err)
	}
	if c := commonCost(map[string][]byte{"a": []byte(hashAt(t, "x", 4)), "b": []byte(hashAt(t, "x", 5))}); c != 5 {
		t.Errorf("cost of a tie %d, want the higher, 5", c)
	}
	if c := commonCost(nil); c != bcrypt.DefaultCost {
		t.Errorf("cost without users %d, want %d", c, bcrypt.DefaultCost)
	}
}

// Hashes of different costs are reported when the server starts.
func TestMixedCostsWarned(t *testing.T) {
	cfg := testConfig()
	cfg.SMTP.Users = []configs.User{{Name: "a", PasswordHash: hashAt(t, "x", 4)}, {Name: "b", PasswordHash: hashAt(t, "x", 5)}}
	var buf strings.Builder
	if _, err := New(cfg, &recorder{}, slog.New(slog.NewTextHandler(&buf, nil)), Options{}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "different bcrypt costs") {
		t.Errorf("no warning in %q", buf.String())
	}
}

// Password checks wait for a free slot with the session's deadline.
func TestAuthChecksBounded(t *testing.T) {
	u := newUsers([]configs.User{{Name: "a", PasswordHash: hashAt(t, "x", testCost)}})
	for range cap(u.checks) {
		u.checks <- struct{}{}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := u.check(ctx, "a", "x"); err != errAuthBusy {
		t.Errorf("with every slot taken: %v, want errAuthBusy", err)
	}
}

// Over STARTTLS and implicit TLS, the 421 is sent inside TLS and then the
// connection closed.
func TestAuthThirdFailureClosesTLSConnection(t *testing.T) {
	cfg := authConfig(t)
	cfg.SMTP.AllowInsecureAuth = false
	certPEM := withTLS(t, cfg)
	s := listening(t, cfg)
	tlsConf := &tls.Config{RootCAs: testlib.CertPool(t, certPEM), ServerName: "127.0.0.1"}
	for i, a := range s.Addrs() {
		var c *gosmtp.Client
		var err error
		if i == 0 {
			c, err = gosmtp.DialStartTLS(a.String(), tlsConf)
		} else {
			c, err = gosmtp.DialTLS(a.String(), tlsConf)
		}
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		var codes []int
		for range 3 {
			codes = append(codes, code(c.Auth(sasl.NewPlainClient("", "hr", "wrong"))))
		}
		if !slices.Equal(codes, []int{535, 535, 421}) {
			t.Errorf("listener %d: AUTH replies %v, want 535 535 421", i, codes)
		}
		if err := c.Noop(); err == nil {
			t.Errorf("listener %d: NOOP answered after the 421", i)
		}
	}
}
