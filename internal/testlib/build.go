package testlib

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// BinaryEnv names an environment variable that, when set, is the path of a
// careerrelay binary to use instead of building one (for example one built
// with -race or -cover).
const BinaryEnv = "CAREERRELAY_BIN"

var built struct {
	once sync.Once
	dir  string // temp folder holding the binary, removed by RemoveBuilt
	path string
	err  error
}

// BuildBinary returns the path of a careerrelay binary built from
// ./cmd/careerrelay of the module that holds the test's working folder. It
// is built once per test process (into a temp folder that RemoveBuilt
// deletes); a build failure fails every caller with the compiler's output.
func BuildBinary(t testing.TB) string {
	t.Helper()
	built.once.Do(func() {
		if p := os.Getenv(BinaryEnv); p != "" {
			built.path, built.err = filepath.Abs(p)
			return
		}
		built.path, built.err = buildBinary()
	})
	if built.err != nil {
		t.Fatalf("testlib: %v", built.err)
	}
	return built.path
}

// RemoveBuilt deletes the binary BuildBinary built, if any. Call it from
// TestMain after m.Run.
func RemoveBuilt() {
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
}

func buildBinary() (string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("building careerrelay: %w", err)
	}
	dir, err := os.MkdirTemp("", "careerrelay-bin-")
	if err != nil {
		return "", fmt.Errorf("building careerrelay: %w", err)
	}
	built.dir = dir
	path := filepath.Join(dir, "careerrelay")
	cmd := exec.Command(gobin, "build", "-o", path, "./cmd/careerrelay")
	cmd.Dir = root
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build ./cmd/careerrelay in %s: %w\n%s", root, err, out)
	}
	if d := time.Since(start); d > 30*time.Second {
		fmt.Fprintf(os.Stderr, "testlib: building careerrelay took %v\n", d.Round(time.Second))
	}
	return path, nil
}

// ModuleRoot returns the folder holding go.mod, searched upwards from the
// working folder (a test runs in its package's folder).
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("finding module root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("finding module root: no go.mod above the working folder")
		}
		dir = parent
	}
}
