package testlib

import (
	"os"
	"os/exec"
	"testing"
)

// NeedCommand returns the path of the command name, which Debian's package
// pkg installs. Where it is missing the test is skipped with a message, or
// fails when CI=true: CI installs every package the tests need (.ci/run).
func NeedCommand(t testing.TB, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s not found; CI must install the Debian package %s", name, pkg)
	}
	t.Skipf("%s not found (install the Debian package %s)", name, pkg)
	return ""
}
