package integration

import (
	"bytes"
	"io/fs"
	"net"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/careerrelay/careerrelay/internal/testlib"
)

// captured returns the .eml files under dir (not the temp files of a write
// in progress).
func captured(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".eml") && !strings.HasPrefix(d.Name(), ".") {
			files = append(files, p)
		}
		return nil
	})
	return files
}

// needSwaks returns the path of swaks (Debian package swaks): the test is
// skipped where it is missing, and fails in CI, which must install it.
func needSwaks(t *testing.T) string {
	t.Helper()
	swaks, err := exec.LookPath("swaks")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("swaks is required in CI (Debian package swaks): %v", err)
		}
		t.Skipf("swaks not installed (Debian package swaks): %v", err)
	}
	return swaks
}

// TestCaptureWithSwaks sends with swaks, a real SMTP client, to a relay in
// capture mode, and wants one .eml file in capture_dir that starts with the
// Return-Path: and Delivered-To: a local delivery agent would prepend.
func TestCaptureWithSwaks(t *testing.T) {
	t.Parallel()
	swaks := needSwaks(t)
	var captureDir string
	r := StartRelay(t, "", func(dir string, c *Config) {
		captureDir = filepath.Join(dir, "capture")
		c.Delivery.Mode = "capture"
		c.Delivery.Relay = Upstream{}
		c.Delivery.CaptureDir = captureDir
	})

	id := newMessageID()
	host, port, _ := net.SplitHostPort(r.SMTPAddr)
	cmd := exec.Command(swaks,
		"--server", host, "--port", port,
		"--ehlo", "client.test",
		"--from", tenantSender, "--to", candidate,
		"--header", "Subject: captured by swaks",
		"--header", "Message-Id: <"+id+">",
		"--body", "Thank you for applying.",
		"--timeout", "30",
	)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("swaks: %v\n%s", err, out)
	}
	if !regexp.MustCompile(`(?m)^<-\s+250 2\.0\.0 queued as \S+`).Match(out) {
		t.Errorf("swaks did not see 250 2.0.0 queued as <id> after the dot:\n%s", out)
	}

	var files []string
	testlib.WaitFor(t, deliveryTimeout, "an .eml file in "+captureDir, func() bool {
		files = captured(t, captureDir)
		return len(files) > 0
	})
	// Delivery is over when the queue is empty: no other file can follow.
	waitQueueDrained(t, r)
	if files = captured(t, captureDir); len(files) != 1 {
		t.Fatalf("capture_dir holds %d .eml files, want 1: %q", len(files), files)
	}
	data, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s:\n%s", files[0], data)
	msg, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("captured file is not a message: %v", err)
	}
	angle := func(s string) string { return strings.Trim(strings.TrimSpace(s), "<>") }
	if got := msg.Header.Get("Return-Path"); angle(got) != tenantSender {
		t.Errorf("Return-Path: %q, want <%s>", got, tenantSender)
	}
	if got := msg.Header.Get("Delivered-To"); angle(got) != candidate {
		t.Errorf("Delivered-To: %q, want %s", got, candidate)
	}
	if got := testlib.MessageID(data); got != id {
		t.Errorf("Message-ID %q, want %q (the file is not the mail swaks sent)", got, id)
	}
	// Prepended: both come before the header fields swaks wrote.
	text := string(data)
	own := strings.Index(text, "\nSubject: captured by swaks")
	for _, h := range []string{"Return-Path:", "Delivered-To:"} {
		if i := strings.Index(text, h); i < 0 || (i > 0 && text[i-1] != '\n') || i > own {
			t.Errorf("%s is not prepended to the message's own header fields", h)
		}
	}
}
