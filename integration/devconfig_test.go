package integration

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/careerrelay/careerrelay/internal/testlib"
)

// startDevRelay serves a copy of the shipped configs/dev.yaml (what `make
// run` serves) with its three listeners' fixed loopback ports swapped for
// port 0 (the ready file tells the ports bound) and nothing else changed:
// relative paths, capture delivery, the TEST-ONLY secrets all work as they
// do for a newcomer. links.base_url keeps naming 127.0.0.1:8080; the tests
// here follow no link.
func startDevRelay(t *testing.T) *Relay {
	t.Helper()
	dir := testlib.TempDir(t)
	src, err := os.ReadFile("../configs/dev.yaml")
	if err != nil {
		t.Fatal(err)
	}
	r := &Relay{
		t: t, Dir: dir, bin: binary(t),
		ConfigPath: filepath.Join(dir, "configs", "dev.yaml"),
		LogPath:    filepath.Join(dir, "careerrelay.log"),
		ReadyPath:  filepath.Join(dir, "ready.json"),
	}
	conf := string(src)
	for _, fixed := range []string{"127.0.0.1:2525", "127.0.0.1:8080", "127.0.0.1:8025"} {
		listen := `listen: "` + fixed + `"`
		if !strings.Contains(conf, listen) {
			t.Fatalf("configs/dev.yaml no longer has %s (the addresses README.md gives)", listen)
		}
		conf = strings.ReplaceAll(conf, listen, `listen: "127.0.0.1:0"`)
	}
	if err := os.MkdirAll(filepath.Join(dir, "configs", "dev"), 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, r.ConfigPath, []byte(conf))
	// The harness's view of the config, for the DKIM check of the captured
	// files when the test ends (Relay.checkCaptured).
	r.Config = &Config{}
	if err := yaml.Unmarshal([]byte(conf), r.Config); err != nil {
		t.Fatalf("configs/dev.yaml: %v", err)
	}
	secrets, err := filepath.Glob("../configs/dev/*")
	if err != nil || len(secrets) == 0 {
		t.Fatalf("no files in configs/dev/: %v", err)
	}
	for _, s := range secrets {
		data, err := os.ReadFile(s)
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, "configs", "dev", filepath.Base(s)), data)
	}
	t.Cleanup(r.cleanup)
	r.Start()
	return r
}

// TestDevConfigCapturesSwaksMail is the newcomer's first step (`make run`,
// then swaks): the relay prints its capture folder at start-up, and a mail
// sent with swaks lands there as exactly one .eml file, signed with both
// TEST-ONLY DKIM keys of tenant demo.
func TestDevConfigCapturesSwaksMail(t *testing.T) {
	t.Parallel()
	swaks := needSwaks(t)
	r := startDevRelay(t)
	// The notice follows the listeners' start, so it may come just after
	// the SMTP port opens.
	notice := regexp.MustCompile(`delivered mail is written to (\S+)`)
	var printed []string
	if !testlib.Poll(startTimeout, func() bool { printed = notice.FindStringSubmatch(r.Log()); return printed != nil }) {
		t.Fatalf("the start-up output does not name the capture folder:\n%s", r.LogTail(4000))
	}
	captureDir := printed[1]
	if want := filepath.Join(r.Dir, "var", "dev", "mail"); captureDir != want {
		t.Errorf("capture folder %s, want %s (relative to the config file)", captureDir, want)
	}

	host, port, _ := net.SplitHostPort(r.SMTPAddr)
	out, err := exec.Command(swaks, "--server", host, "--port", port,
		"--from", "hr@example.jp", "--to", "candidate@example.com",
		"--header", "Subject: 選考結果のご連絡",
		"--body", "ご応募ありがとうございました。",
		"--timeout", "30").CombinedOutput()
	if err != nil {
		t.Fatalf("swaks: %v\n%s", err, out)
	}
	if !regexp.MustCompile(`(?m)^<-\s+250 2\.0\.0 queued as \S+`).Match(out) {
		t.Fatalf("swaks did not get 250 queued as <id>:\n%s", out)
	}
	// Delivery is over when the queue is empty and one attempt delivered.
	testlib.WaitFor(t, deliveryTimeout, "the queue to empty after one delivery", func() bool {
		s, _ := scrape(t, r.HTTPAddr)
		return s["careerrelay_queue_messages"] == 0 && s[`careerrelay_delivery_attempts_total{result="delivered"}`] == 1
	})
	files := captured(t, captureDir)
	if len(files) != 1 {
		t.Fatalf("%s holds %d .eml files, want 1", captureDir, len(files))
	}
	data, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Return-Path: <hr@example.jp>\r\n", "Delivered-To: candidate@example.com\r\n", "by relay.dev.localhost (careerrelay)"} {
		if !bytes.Contains(data, []byte(want)) {
			t.Errorf("captured mail lacks %q:\n%s", want, data)
		}
	}

	// `make run` signs as production does: both TEST-ONLY keys of tenant
	// demo, d=example.jp, verified offline as the file is (the prepended
	// Return-Path: and Delivered-To: are outside the signatures).
	var sigs []sigTags
	for _, f := range headerFields(data) {
		if f.name == "dkim-signature" {
			sigs = append(sigs, parseTags(f.value))
		}
	}
	want := []sigTags{
		{"d": "example.jp", "s": "dev2026", "a": "rsa-sha256"},
		{"d": "example.jp", "s": "dev2026e", "a": "ed25519-sha256"},
	}
	if len(sigs) != len(want) {
		t.Fatalf("captured mail has %d DKIM signatures, want %d:\n%s", len(sigs), len(want), data)
	}
	for i, w := range want {
		for k, v := range w {
			if sigs[i][k] != v {
				t.Errorf("signature %d: %s=%s, want %s", i, k, sigs[i][k], v)
			}
		}
	}
	pol := &dkimPolicy{records: map[string]string{}}
	if err := pol.add(r.Config, filepath.Dir(r.ConfigPath)); err != nil {
		t.Fatal(err)
	}
	if problems := pol.check(t, "hr@example.jp", data, captureAdds, true); len(problems) > 0 {
		t.Errorf("captured mail's signatures:\n%s", strings.Join(problems, "\n"))
	}
}
