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

// NeedLibrary skips the test, with a message, when the shared library lib
// (from Debian's package pkg) could not be loaded: err says why. It fails
// instead when CI=true: CI installs every package the tests need
// (.ci/run). It does nothing when err is nil.
func NeedLibrary(t testing.TB, lib, pkg string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s not loaded (%v); CI must install the Debian package %s", lib, err, pkg)
	}
	t.Skipf("%s not loaded (%v); install the Debian package %s", lib, err, pkg)
}
