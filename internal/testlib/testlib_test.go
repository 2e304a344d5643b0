package testlib

import (
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// fakeTB records what the helpers do to a test, so failing paths can be
// tested without failing the real test.
type fakeTB struct {
	testing.TB
	failed   bool
	fatals   []string
	logs     []string
	cleanups []func()
}

func (f *fakeTB) Helper()           {}
func (f *fakeTB) Name() string      { return "Fake/sub test" }
func (f *fakeTB) Failed() bool      { return f.failed }
func (f *fakeTB) Cleanup(fn func()) { f.cleanups = append(f.cleanups, fn) }
func (f *fakeTB) Logf(format string, a ...any) {
	f.logs = append(f.logs, fmt.Sprintf(format, a...))
}
func (f *fakeTB) Fatalf(format string, a ...any) {
	f.failed = true
	f.fatals = append(f.fatals, fmt.Sprintf(format, a...))
}

func (f *fakeTB) runCleanups() {
	for i := len(f.cleanups) - 1; i >= 0; i-- {
		f.cleanups[i]()
	}
}

func TestTempDirRemovedOnSuccess(t *testing.T) {
	f := &fakeTB{TB: t}
	dir := TempDir(f)
	if !strings.Contains(filepath.Base(dir), "Fake_sub_test") {
		t.Errorf("TempDir = %q, want the test name in it", dir)
	}
	if err := os.WriteFile(filepath.Join(dir, "x"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	f.runCleanups()
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("after a passing test, %s still exists (stat: %v)", dir, err)
	}
}

func TestTempDirKeptOnFailure(t *testing.T) {
	f := &fakeTB{TB: t}
	dir := TempDir(f)
	defer os.RemoveAll(dir)
	f.failed = true
	f.runCleanups()
	if _, err := os.Stat(dir); err != nil {
		t.Errorf("after a failing test, %s is gone: %v", dir, err)
	}
	if len(f.logs) != 1 || !strings.Contains(f.logs[0], dir) {
		t.Errorf("logs = %q, want one line naming %s", f.logs, dir)
	}
}

func TestWaitFor(t *testing.T) {
	var n atomic.Int32
	WaitFor(t, 5*time.Second, "the counter to reach 3", func() bool { return n.Add(1) >= 3 })

	f := &fakeTB{TB: t}
	start := time.Now()
	WaitFor(f, 50*time.Millisecond, "the impossible", func() bool { return false })
	if d := time.Since(start); d < 50*time.Millisecond || d > 2*time.Second {
		t.Errorf("WaitFor gave up after %v, want about 50ms", d)
	}
	if len(f.fatals) != 1 || !strings.Contains(f.fatals[0], "waiting for the impossible") {
		t.Errorf("fatals = %q, want one naming what was awaited", f.fatals)
	}
}

func TestPortOpen(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if !PortOpen(addr) {
		t.Errorf("PortOpen(%s) = false with a listener", addr)
	}
	l.Close()
	if PortOpen(addr) {
		t.Errorf("PortOpen(%s) = true after the listener closed", addr)
	}
}

func TestSelfSignedCert(t *testing.T) {
	certPEM, keyPEM, cert := SelfSignedCert(t, "relay.test", "127.0.0.1")
	if !strings.Contains(string(certPEM), "BEGIN CERTIFICATE") || !strings.Contains(string(keyPEM), "BEGIN PRIVATE KEY") {
		t.Fatalf("unexpected PEM:\n%s\n%s", certPEM, keyPEM)
	}
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		c.(*tls.Conn).Handshake()
		c.Close()
	}()
	for _, name := range []string{"relay.test", "127.0.0.1"} {
		conf := &tls.Config{RootCAs: CertPool(t, certPEM), ServerName: name}
		c, err := tls.Dial("tcp", l.Addr().String(), conf)
		if err != nil {
			t.Errorf("handshake verifying %s: %v", name, err)
			continue
		}
		c.Close()
		break // the listener serves one connection
	}
}

func TestModuleRoot(t *testing.T) {
	root, err := ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "module github.com/careerrelay/careerrelay") {
		t.Errorf("ModuleRoot = %s, whose go.mod is not careerrelay's", root)
	}
}
