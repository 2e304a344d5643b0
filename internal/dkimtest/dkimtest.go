// Package dkimtest verifies DKIM signatures with python3-dkim (dkimpy), an
// implementation independent of ours and of go-msgauth, for the tests of
// smtp/dkim and the integration tests. It runs the script
// smtp/dkim/testdata/dkimverify.py offline: key records come from the test.
package dkimtest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/careerrelay/careerrelay/internal/testlib"
)

// Script is the verifier script, relative to the module root.
const Script = "smtp/dkim/testdata/dkimverify.py"

// Result is python3-dkim's verdict on one DKIM-Signature.
type Result struct {
	Msg      int    `json:"msg"`   // which message of VerifyAll's (0 for Verify's)
	Index    int    `json:"index"` // 0 is the topmost signature; -1: python3-dkim could not parse the message
	Domain   string `json:"d"`
	Selector string `json:"s"`
	Algo     string `json:"a"`
	OK       bool   `json:"ok"`
	Error    string `json:"error"` // why it failed, as python3-dkim says
}

// python is the interpreter found by findPython, once.
var python = sync.OnceValues(findPython)

// findPython returns the first interpreter that imports dkim among
// $DKIMTEST_PYTHON, python3 on the PATH and /usr/bin/python3 (the Debian
// package's, which a python3 from pyenv or a virtualenv does not see).
func findPython() (string, error) {
	var cands []string
	if p := os.Getenv("DKIMTEST_PYTHON"); p != "" {
		cands = append(cands, p)
	}
	if p, err := exec.LookPath("python3"); err == nil {
		cands = append(cands, p)
	}
	cands = append(cands, "/usr/bin/python3")
	for _, p := range cands {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		err := exec.CommandContext(ctx, p, "-c", "import dkim").Run()
		cancel()
		if err == nil {
			return p, nil
		}
	}
	return "", errors.New("no python3 here imports dkim (Debian: apt-get install python3-dkim)")
}

// Interpreter returns the python3 interpreter that has python3-dkim, or why
// there is none, without skipping or failing anything: for a test that
// goes on with its other checks where python3-dkim is missing.
func Interpreter() (string, error) { return python() }

// Python returns a python3 interpreter that has python3-dkim. When there is
// none it skips the test, or fails it when the environment variable CI is
// "true": CI installs python3-dkim, so its absence there is an error.
func Python(t testing.TB) string {
	t.Helper()
	p, err := python()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("dkimtest: %v; CI must install it (see .ci/run)", err)
		}
		t.Skipf("dkimtest: %v; skipping the independent DKIM check", err)
	}
	return p
}

// Verify runs python3-dkim on msg, with records mapping a key record's
// name (selector._domainkey.domain) to its TXT text, and returns the
// verdict on each signature, topmost first. It skips the test as Python
// does when python3-dkim is missing. It is VerifyAll of one message: a
// test with several messages should verify them all in one VerifyAll.
func Verify(t testing.TB, msg []byte, records map[string]string) []Result {
	t.Helper()
	return VerifyAll(t, [][]byte{msg}, records)[0]
}

// VerifyAll is Verify of every message of msgs in one python3 process
// (starting one, and importing dkim, costs far more than a verification):
// its k-th element is the verdict on the signatures of msgs[k], topmost
// first (none when the message has no signature). The messages are written
// to files in t.TempDir(). With no message it runs nothing.
func VerifyAll(t testing.TB, msgs [][]byte, records map[string]string) [][]Result {
	t.Helper()
	out := make([][]Result, len(msgs))
	if len(msgs) == 0 {
		return out
	}
	py := Python(t)
	root, err := testlib.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	recs, err := json.Marshal(records)
	if err != nil {
		t.Fatal(err)
	}
	// Relative names, in the process's working directory, keep the
	// command line short for thousands of messages.
	dir := t.TempDir()
	args := []string{filepath.Join(root, Script), "records.json"}
	if err := os.WriteFile(filepath.Join(dir, "records.json"), recs, 0o600); err != nil {
		t.Fatal(err)
	}
	for k, m := range msgs {
		name := fmt.Sprintf("%d.eml", k)
		if err := os.WriteFile(filepath.Join(dir, name), m, 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, name)
	}
	// A minute for the interpreter under load, and ample time per message
	// (a few milliseconds each, measured).
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute+time.Duration(len(msgs))*50*time.Millisecond)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, args...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	var exit *exec.ExitError
	if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 1) {
		t.Fatalf("dkimtest: %s on %d messages: %v\n%s", Script, len(msgs), err, stderr.Bytes())
	}
	sc := bufio.NewScanner(&stdout)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r Result
		r.Msg = -1
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("dkimtest: %s printed %q: %v", Script, sc.Text(), err)
		}
		if r.Msg < 0 || r.Msg >= len(msgs) {
			t.Fatalf("dkimtest: %s printed %q: no message %d among %d", Script, sc.Text(), r.Msg, len(msgs))
		}
		out[r.Msg] = append(out[r.Msg], r)
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("dkimtest: reading the output of %s: %v", Script, err)
	}
	return out
}
