// Package integration runs the built careerrelay binary against in-process
// SMTP peers (testlib.Sink) and real clients. The tests run under plain
// `go test ./...` and are skipped with -short.
package integration

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
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
	ReadyPath  string // serve -ready-file: the addresses bound, while it runs

	// The addresses the current (or last) run bound, read from its ready
	// file by Start: the config asks for port 0, so they change with every
	// start. Read them in the test's goroutine; other goroutines call Live.
	SMTPAddr    string
	SMTPTLSAddr string // "" without smtp.listen_tls
	HTTPAddr    string
	HTTPTLSAddr string // "" without http.listen_tls
	AdminAddr   string

	bin   string
	runs  int
	sinks []*sinkCheck // the sinks it delivers to (newSink), for the DKIM check

	mu       sync.Mutex
	live     readyAddrs // the running process's addresses; zero when none runs
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
		ReadyPath:  filepath.Join(dir, "ready.json"),
		bin:        bin,
	}
	if c.localLinks {
		// The links must name their host and port before the relay
		// starts, and the relay's HTTP port is only known after: they
		// name a forwarder bound now, which passes each connection to
		// the relay's HTTP listener of the moment.
		c.Links.BaseURL = "http://" + startFrontDoor(t, r.liveHTTP)
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

// Start runs `careerrelay serve -config FILE -ready-file FILE` and waits
// for the ready file, which the relay writes once its SMTP, HTTP and admin
// listeners are all open and mail is accepted; then SMTPAddr, HTTPAddr and
// AdminAddr are the addresses this run bound. It fails the test, with the
// log, when the process exits first or the file does not come.
func (r *Relay) Start() {
	r.t.Helper()
	r.mu.Lock()
	if r.cmd != nil {
		r.mu.Unlock()
		r.t.Fatalf("relay: Start while already running")
	}
	r.runs++
	// A run killed with SIGKILL leaves its ready file behind; the relay
	// removes it too, but only after it has read its config.
	if err := os.Remove(r.ReadyPath); err != nil && !errors.Is(err, fs.ErrNotExist) {
		r.mu.Unlock()
		r.t.Fatalf("relay: removing the last run's ready file: %v", err)
	}
	f, err := os.OpenFile(r.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		r.mu.Unlock()
		r.t.Fatalf("relay: opening log: %v", err)
	}
	fmt.Fprintf(f, "=== harness: run %d, %s\n", r.runs, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(r.bin, "serve", "-config", r.ConfigPath, "-ready-file", r.ReadyPath)
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

	addrs, err := waitReadyFile(r.ReadyPath, done, startTimeout)
	if err != nil {
		r.mu.Lock()
		if errors.Is(err, errExited) {
			err = fmt.Errorf("%w (%v)", err, r.waitErr)
			r.cmd = nil
		}
		r.mu.Unlock()
		r.t.Fatalf("relay: %v; log:\n%s", err, r.LogTail(8000))
	}
	r.mu.Lock()
	r.live = addrs
	r.mu.Unlock()
	r.SMTPAddr, r.SMTPTLSAddr, r.HTTPAddr, r.HTTPTLSAddr, r.AdminAddr = addrs.SMTP, addrs.SMTPTLS, addrs.HTTP, addrs.HTTPTLS, addrs.Admin
}

// readyAddrs is the ready file of `careerrelay serve -ready-file`.
type readyAddrs struct {
	SMTP, SMTPTLS, HTTP, HTTPTLS, Metrics, Admin string
}

// errExited is waitReadyFile's error when the process exits first.
var errExited = errors.New("the process exited while starting")

// waitReadyFile waits until the ready file at path exists and holds the
// six documented keys with an SMTP, an HTTP and an admin address, polling
// at the short intervals of testlib.Poll. It returns early with errExited
// when done is closed (the process ended) and with an error after timeout.
func waitReadyFile(path string, done <-chan struct{}, timeout time.Duration) (readyAddrs, error) {
	var addrs readyAddrs
	var last error = fs.ErrNotExist
	exited := false
	ok := testlib.Poll(timeout, func() bool {
		select {
		case <-done:
			exited = true
			return true
		default:
		}
		// The file is complete whenever it exists (temp file and
		// rename), so one that does not parse is an error of the relay;
		// it is reported if no good one comes.
		addrs, last = readReadyFile(path)
		return last == nil
	})
	switch {
	case exited:
		return readyAddrs{}, errExited
	case !ok:
		return readyAddrs{}, fmt.Errorf("no ready file after %v: %v", timeout, last)
	}
	return addrs, nil
}

// readReadyFile reads and checks a ready file.
func readReadyFile(path string) (readyAddrs, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return readyAddrs{}, err
	}
	var m map[string]string
	if err := json.Unmarshal(data, &m); err != nil {
		return readyAddrs{}, fmt.Errorf("ready file %s: %v:\n%s", path, err, data)
	}
	_, tls := m["smtp_tls"]
	_, httpTLS := m["http_tls"]
	_, metrics := m["metrics"]
	if len(m) != 6 || m["smtp"] == "" || !tls || !httpTLS || !metrics || m["http"] == "" || m["admin"] == "" {
		return readyAddrs{}, fmt.Errorf("ready file %s: want the keys smtp, smtp_tls, http, http_tls, metrics and admin:\n%s", path, data)
	}
	a := readyAddrs{SMTP: m["smtp"], SMTPTLS: m["smtp_tls"], HTTP: m["http"], HTTPTLS: m["http_tls"], Metrics: m["metrics"], Admin: m["admin"]}
	for _, addr := range []string{a.SMTP, a.HTTP, a.Admin} {
		if _, port, err := net.SplitHostPort(addr); err != nil || port == "0" {
			return readyAddrs{}, fmt.Errorf("ready file %s: %q is not a bound host:port:\n%s", path, addr, data)
		}
	}
	return a, nil
}

// Live returns the addresses of the running process, or empty ones while
// none runs (after Stop or Kill, until Start reads the next ready file).
// Unlike the fields, it may be called from any goroutine.
func (r *Relay) Live() readyAddrs {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.live
}

func (r *Relay) liveHTTP() string { return r.Live().HTTP }

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
	r.cmd, r.live = nil, readyAddrs{}
	r.mu.Unlock()
	if err != nil {
		r.t.Errorf("relay: after SIGTERM, exit: %v; log:\n%s", err, r.LogTail(4000))
		return
	}
	// A clean stop removes the ready file.
	if _, err := os.Stat(r.ReadyPath); !errors.Is(err, fs.ErrNotExist) {
		r.t.Errorf("relay: the ready file %s is still there after a clean stop (%v)", r.ReadyPath, err)
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
	r.cmd, r.live = nil, readyAddrs{}
	r.mu.Unlock()
}

// Restart stops the process (gracefully) if it runs, then starts it again
// on the same config and data. The addresses change: Start reads the new
// ready file.
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
		r.cmd, r.live = nil, readyAddrs{}
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
	r.checkLogPrivacy()
	if r.t.Failed() && !r.logShown {
		r.t.Logf("relay: log %s (last part):\n%s", r.LogPath, r.LogTail(16000))
	}
}

// logAddress finds mail addresses in a log.
var logAddress = regexp.MustCompile(`[A-Za-z0-9._%+=-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+`)

// checkLogPrivacy fails the test when the relay's log holds the address of
// anyone but a tenant (the candidates' addresses appear only as hashes or
// masked), whatever the test did: every integration flow runs it.
func (r *Relay) checkLogPrivacy() {
	own := map[string]bool{"localhost": true}
	for _, t := range r.Config.Tenants {
		for _, d := range t.Domains {
			own[strings.ToLower(d)] = true
		}
	}
	for _, m := range logAddress.FindAllString(r.Log(), -1) {
		domain := strings.ToLower(m[strings.LastIndexByte(m, '@')+1:])
		if own[domain] || strings.HasSuffix(domain, ".careerrelay") || strings.HasSuffix(domain, ".invalid") {
			continue // a tenant's own address, or ids the relay made
		}
		r.t.Errorf("relay: the log holds the address %q in clear", m)
		return
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
