// Package testlib holds helpers shared by careerrelay's tests: temporary
// folders kept when a test fails, polling waits, an in-process
// SMTP sink (with programmable replies, STARTTLS or implicit TLS, and a
// stalling mode), a peer that refuses at the greeting, an authoritative
// DNS server on loopback serving DKIM key records, SERVFAIL or silence
// (NewDNS, DKIMKeyRecord), self-signed certificates, the built binary, a
// headless chromium (NewBrowser) and a private PostgreSQL server
// (StartPostgres, NewPostgres).
package testlib

import (
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// TempDir returns a new temporary folder for t. It is removed when t ends,
// unless t failed: then it is kept and its path is logged, so the files a
// failing test wrote can be inspected.
func TempDir(t testing.TB) string {
	t.Helper()
	name := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			return r
		}
		return '_'
	}, t.Name())
	if len(name) > 60 {
		name = name[:60]
	}
	dir, err := os.MkdirTemp("", "careerrelay-"+name+"-")
	if err != nil {
		t.Fatalf("testlib: creating temp dir: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("testlib: test failed, keeping temp dir %s", dir)
			return
		}
		if err := os.RemoveAll(dir); err != nil {
			t.Logf("testlib: removing temp dir %s: %v", dir, err)
		}
	})
	return dir
}

// Poll's interval starts at pollFirst and doubles up to pollMax.
const (
	pollFirst = 2 * time.Millisecond
	pollMax   = 50 * time.Millisecond
)

// Poll evaluates cond until it returns true or timeout passes, with a short
// interval that grows from 2ms to 50ms. It reports whether cond became true.
// Unlike WaitFor it does not fail the test, so it may be called from any
// goroutine.
func Poll(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	interval := pollFirst
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(interval)
		interval = min(interval*2, pollMax)
	}
}

// WaitFor polls cond until it returns true, and fails t (t.Fatalf) when
// timeout passes first. what says what was awaited, for the failure message:
// "timed out after 5s waiting for <what>". Call it from the test's goroutine.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	start := time.Now()
	if !Poll(timeout, cond) {
		t.Fatalf("testlib: timed out after %v waiting for %s", time.Since(start).Round(time.Millisecond), what)
	}
}

// PortOpen reports whether a TCP connection to addr succeeds now.
func PortOpen(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 500*time.Millisecond)
	if err != nil {
		return false
	}
	c.Close()
	return true
}
