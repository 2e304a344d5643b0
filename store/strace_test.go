package store

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// The tests of uncertain.go inject the failure with Options.Fault, after
// bbolt's Commit. This one fails the real fdatasync system call inside
// bbolt's Commit, with strace's fault injection, to check what they
// assume of bbolt: a failed first fdatasync leaves the transaction
// invisible (a definite failure), a failed second one (after the meta page
// write) leaves it visible, so that a synced fence commit settles it.
// strace skips the injected call, so the page stays dirty and the kernel
// writes it later: the file holds the writes in every case but the first.

const straceChild = "CAREERRELAY_STORE_STRACE_CHILD"

// TestRealFdatasyncFailure runs the child (below) under strace, failing
// the n-th fdatasync of the child's thread. The child opens an existing
// store (Open's own commit: fdatasyncs 1 and 2), then commits k=v
// (fdatasync 3 after the data pages, 4 after the meta page), then each
// fence syncs twice.
func TestRealFdatasyncFailure(t *testing.T) {
	if os.Getenv(straceChild) != "" {
		return
	}
	// skip skips, or fails when CI=true: CI installs strace (.ci/run).
	skip := func(format string, args ...any) {
		t.Helper()
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true: "+format, args...)
		}
		t.Skipf(format, args...)
	}
	strace, err := exec.LookPath("strace")
	if err != nil {
		skip("strace not installed: %v", err)
	}
	cases := []struct {
		name, when string
		want       string // the child's report of its Update
		failed     int    // the child's Stats().Failed
		stored     bool   // k=v in the reopened file
	}{
		{"data sync fails", "3", "definite", 1, false},
		// Settled by resolve's fence: the commit counts as failed once.
		{"meta sync fails once", "4", "ok", 1, true},
		{"meta sync fails for good", "4+", "uncertain", 1 + fenceAttempts, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "s.db")
			db, err := Open(path, Options{})
			if err != nil {
				t.Fatal(err)
			}
			db.Close()
			cmd := exec.Command(strace, "-f", "-qq", "-o", "/dev/null", "-e", "trace=fdatasync",
				"-e", "inject=fdatasync:error=EIO:when="+c.when,
				os.Args[0], "-test.run=^TestRealFdatasyncFailureChild$", "-test.count=1")
			cmd.Env = append(os.Environ(), straceChild+"="+path)
			out, err := cmd.CombinedOutput()
			if err != nil && !strings.Contains(string(out), "RESULT") {
				skip("cannot run under strace (%v): %s", err, out)
			}
			if !strings.Contains(string(out), fmt.Sprintf("RESULT %s failed=%d\n", c.want, c.failed)) {
				t.Fatalf("child, want RESULT %s:\n%s", c.want, out)
			}
			db, err = Open(path, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if got := get(t, db, "k"); (got == "v") != c.stored {
				t.Errorf("reopened file: k=%q, want stored=%v", got, c.stored)
			}
		})
	}
}

// TestRealFdatasyncFailureChild is the child of TestRealFdatasyncFailure.
func TestRealFdatasyncFailureChild(t *testing.T) {
	path := os.Getenv(straceChild)
	if path == "" {
		t.Skip("run by TestRealFdatasyncFailure")
	}
	// strace counts the calls of each thread. The Open and the commit run
	// on this goroutine, locked to its thread, so the count is the one
	// the parent expects: the commit goes straight through db.commit, the
	// code of the committer goroutine, instead of Update.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	r := &request{fn: put("k", "v"), done: make(chan error, 1)}
	r.state.Store(taken)
	db.commit([]*request{r})
	err = <-r.done
	result := "ok"
	switch {
	case errors.Is(err, ErrCommitUncertain):
		result = "uncertain"
		if err := db.View(func(*Tx) error { return nil }); !errors.Is(err, ErrFailed) {
			result += fmt.Sprintf(" (but View: %v)", err)
		}
	case err != nil:
		result = "definite"
		if v := get(t, db, "k"); v != "" {
			result += " (but visible)"
		}
	}
	fmt.Printf("RESULT %s failed=%d\n", result, db.Stats().Failed)
	fmt.Printf("error: %v\n", err)
}
