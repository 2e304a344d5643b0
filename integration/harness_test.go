// Package integration runs the built careerrelay binary against in-process
// SMTP peers (testlib.Sink) and real clients. The tests run under plain
// `go test ./...` and are skipped with -short.
package integration

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/careerrelay/careerrelay/internal/testlib"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testlib.RemoveBuilt()
	os.Exit(code)
}

// binary skips t under -short and otherwise returns the built careerrelay.
func binary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: skipped with -short")
	}
	return testlib.BuildBinary(t)
}

const (
	startTimeout = 30 * time.Second
	stopTimeout  = 20 * time.Second
)

// Relay is one careerrelay process run by a test: its config, files and
// listeners, and the process itself, which can be stopped, killed and
// started again on the same config and data.
type Relay struct {
	t *testing.T

	Dir        string // the test's temp dir: config, secrets, data, log
	Config     *Config
	ConfigPath string
	LogPath    string // the process's stderr and stdout, every run appended
	SMTPAddr   string
	HTTPAddr   string
	AdminAddr  string

	bin   string
	runs  int
	sinks []*sinkCheck // the sinks it delivers to (newSink), for the DKIM check

	mu       sync.Mutex
	cmd      *exec.Cmd
	done     chan struct{} // closed when the current process has exited
	waitErr  error
	killing  bool // the current process is being stopped or killed on purpose
	logShown bool // a failure already printed the log
}

// NewRelay writes the config (baseConfig delivering to sinkAddr, changed by
// mods) into a new temp dir. It does not start the process. An upstream the
// config delivers to must be a sink made by newSink: the messages it
// captures are DKIM-checked when the test ends, as are the files a relay in
// capture mode writes (dkim_check_test.go).
func NewRelay(t *testing.T, sinkAddr string, mods ...func(dir string, c *Config)) *Relay {
	t.Helper()
	bin := binary(t)
	dir := testlib.TempDir(t)
	c := baseConfig(t, dir, sinkAddr)
	for _, m := range mods {
		m(dir, c)
	}
	r := &Relay{
		t:          t,
		Dir:        dir,
		Config:     c,
		ConfigPath: filepath.Join(dir, "careerrelay.yaml"),
		LogPath:    filepath.Join(dir, "careerrelay.log"),
		SMTPAddr:   c.SMTP.Listen,
		HTTPAddr:   c.HTTP.Listen,
		AdminAddr:  c.Admin.Listen,
		bin:        bin,
	}
	writeConfig(t, r.ConfigPath, c)
	t.Cleanup(r.cleanup)
	r.attachSinks()
	return r
}

// StartRelay is NewRelay followed by Start.
func StartRelay(t *testing.T, sinkAddr string, mods ...func(dir string, c *Config)) *Relay {
	t.Helper()
	r := NewRelay(t, sinkAddr, mods...)
	r.Start()
	return r
}

// Start runs `careerrelay serve -config FILE` and waits until its SMTP,
// HTTP and admin ports accept connections (the SMTP listener opens first,
// so a test must not reach for /metrics on the SMTP port's word alone). It fails the test, with the log, when the process
// exits or the port stays closed.
func (r *Relay) Start() {
	r.t.Helper()
	r.mu.Lock()
	if r.cmd != nil {
		r.mu.Unlock()
		r.t.Fatalf("relay: Start while already running")
	}
	r.runs++
	f, err := os.OpenFile(r.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		r.mu.Unlock()
		r.t.Fatalf("relay: opening log: %v", err)
	}
	fmt.Fprintf(f, "=== harness: run %d, %s\n", r.runs, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(r.bin, "serve", "-config", r.ConfigPath)
	cmd.Dir = r.Dir
	cmd.Stdout = f
	cmd.Stderr = f
	setParentDeathSignal(cmd)
	if err := cmd.Start(); err != nil {
		f.Close()
		r.mu.Unlock()
		r.t.Fatalf("relay: starting %s: %v", r.bin, err)
	}
	done := make(chan struct{})
	r.cmd, r.done, r.waitErr, r.killing = cmd, done, nil, false
	r.mu.Unlock()
	go func() {
		err := cmd.Wait()
		f.Close()
		r.mu.Lock()
		r.waitErr = err
		r.mu.Unlock()
		close(done)
	}()

	exited := false
	ok := testlib.Poll(startTimeout, func() bool {
		select {
		case <-done:
			exited = true
			return true
		default:
		}
		for _, a := range []string{r.SMTPAddr, r.HTTPAddr, r.AdminAddr} {
			if a != "" && !testlib.PortOpen(a) {
				return false
			}
		}
		return true
	})
	switch {
	case exited:
		r.mu.Lock()
		err := r.waitErr
		r.cmd = nil
		r.mu.Unlock()
		r.t.Fatalf("relay: exited while starting (%v); log:\n%s", err, r.LogTail(8000))
	case !ok:
		r.t.Fatalf("relay: ports %s, %s, %s not all open after %v; log:\n%s", r.SMTPAddr, r.HTTPAddr, r.AdminAddr, startTimeout, r.LogTail(8000))
	}
}

// Running reports whether the process is running.
func (r *Relay) Running() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil {
		return false
	}
	select {
	case <-r.done:
		return false
	default:
		return true
	}
}

// Stop sends SIGTERM and waits for a graceful exit, which must be with
// status 0; after stopTimeout it kills the process and fails the test.
func (r *Relay) Stop() {
	r.t.Helper()
	cmd, done := r.current(true)
	if cmd == nil {
		return
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(stopTimeout):
		cmd.Process.Kill()
		<-done
		r.t.Errorf("relay: no exit %v after SIGTERM; killed. Log:\n%s", stopTimeout, r.LogTail(8000))
	}
	r.mu.Lock()
	err := r.waitErr
	r.cmd = nil
	r.mu.Unlock()
	if err != nil {
		r.t.Errorf("relay: after SIGTERM, exit: %v; log:\n%s", err, r.LogTail(4000))
	}
}

// Kill sends SIGKILL (kill -9) and waits until the process is gone.
func (r *Relay) Kill() {
	r.t.Helper()
	cmd, done := r.current(true)
	if cmd == nil {
		return
	}
	cmd.Process.Kill()
	<-done
	r.mu.Lock()
	r.cmd = nil
	r.mu.Unlock()
}

// Restart stops the process (gracefully) if it runs, then starts it again
// on the same config and data.
func (r *Relay) Restart() {
	r.t.Helper()
	r.Stop()
	r.Start()
}

// current returns the running process; with stopping, it marks it as
// stopped on purpose. An unexpected earlier exit fails the test.
func (r *Relay) current(stopping bool) (*exec.Cmd, chan struct{}) {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil {
		return nil, nil
	}
	select {
	case <-r.done:
		if !r.killing {
			r.t.Errorf("relay: the process exited on its own (%v); log:\n%s", r.waitErr, r.LogTail(8000))
		}
		r.cmd = nil
		return nil, nil
	default:
	}
	r.killing = r.killing || stopping
	return r.cmd, r.done
}

func (r *Relay) cleanup() {
	r.Stop()
	// DKIM checks (dkim_check_test.go), while the temp dir still holds the
	// key files.
	r.checkCaptured()
	r.handPolicy()
	// A binary built with -race (see testlib.BinaryEnv) reports here.
	if strings.Contains(r.Log(), "WARNING: DATA RACE") {
		r.t.Errorf("relay: the race detector reported a data race")
	}
	if r.t.Failed() && !r.logShown {
		r.t.Logf("relay: log %s (last part):\n%s", r.LogPath, r.LogTail(16000))
	}
}

// Log returns everything the process wrote so far, over every run.
func (r *Relay) Log() string {
	data, _ := os.ReadFile(r.LogPath)
	return string(data)
}

// LogTail returns the last n bytes of the log, starting at a line.
func (r *Relay) LogTail(n int) string {
	r.logShown = true
	data, _ := os.ReadFile(r.LogPath)
	if len(data) > n {
		data = data[len(data)-n:]
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			data = data[i+1:]
		}
		data = append([]byte("[...]\n"), data...)
	}
	return string(data)
}

// runBinary runs careerrelay with args and returns its combined output and
// exit code.
func runBinary(t *testing.T, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	out, err := cmd.CombinedOutput()
	if err == nil {
		return string(out), 0
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return string(out), ee.ExitCode()
	}
	t.Fatalf("running careerrelay %q: %v", args, err)
	return "", -1
}
