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
// does when python3-dkim is missing.
func Verify(t testing.TB, msg []byte, records map[string]string) []Result {
	t.Helper()
	py := Python(t)
	root, err := testlib.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	recs, err := json.Marshal(records)
	if err != nil {
		t.Fatal(err)
	}
	recFile := filepath.Join(t.TempDir(), "records.json")
	if err := os.WriteFile(recFile, recs, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, filepath.Join(root, Script), recFile)
	cmd.Stdin = bytes.NewReader(msg)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	var exit *exec.ExitError
	if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 1) {
		t.Fatalf("dkimtest: %s: %v\n%s", Script, err, stderr.Bytes())
	}
	var out []Result
	sc := bufio.NewScanner(&stdout)
	for sc.Scan() {
		var r Result
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("dkimtest: %s printed %q: %v", Script, sc.Text(), err)
		}
		out = append(out, r)
	}
	return out
}
