package demo

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/careerrelay/careerrelay/internal/testlib"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testlib.RemoveBuilt()
	os.Exit(code)
}

// wantTour checks the parts of the tour's output that tell it worked.
func wantTour(t *testing.T, out string) {
	t.Helper()
	for _, re := range []string{
		`(?m)^== 1\. 準備 / Setup ==$`,
		`(?m)^ 1  ISO-2022-JP text/plain .* 250 2\.0\.0 queued as \S+$`,
		`(?m)^  10 with a personal link`,
		`(?m)^   1 with the generic link http://127\.0\.0\.1:\d+/t/demo`,
		`(?m)^   2 untagged, passed on unchanged`,
		`(?m)^  \| http://127\.0\.0\.1:\d+/c/demo1\.[A-Za-z0-9_-]{20,}$`, // the rewritten link in the decoded text
		`(?m)^link http://127\.0\.0\.1:\d+/c/demo1\.[A-Za-z0-9_-]{20,}$`,
		`(?m)^DKIM d=example\.jp s=demo2026e: pass`,
		`(?m)^10  加藤 愛 +GET /c/\S+ 200 \(landing page\)  POST consent → 303 → 受付完了 → /dev/agency\?ref=\w+$`,
		`agency webhook: 10 referrals`,
		`(?m)^demo 株式会社デモ: 10 referrals, 1 credit granted, 0 redeemed, 1 credit available$`,
		`(?m)^ledger verify: OK, 11 entries`,
		`(?m)^careerrelay_referrals_total\{tenant="demo"\} 10$`,
		`(?m)^careerrelay_credits_granted_total\{tenant="demo"\} 1$`,
		`(?m)^careerrelay_link_clicks_total\{class="human",tenant="demo"\} 10$`, // the second visit shows the application: no click
		`(?m)^demo OK in \d+\.\ds$`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("the output lacks %s", re)
		}
	}
	if strings.Contains(out, " 0\n") {
		t.Errorf("the metrics excerpt shows a zero series")
	}
	if t.Failed() {
		t.Logf("output:\n%s", out)
	}
}

// TestDemo runs the tour in-process: ten referrals, one credit, a
// rewritten link, and the temporary folder gone at the end.
func TestDemo(t *testing.T) {
	parent := testlib.TempDir(t)
	var out bytes.Buffer
	start := time.Now()
	err := Run(context.Background(), &out, Options{Dir: parent, Timeout: 50 * time.Second})
	if err != nil {
		t.Fatalf("Run: %v\noutput:\n%s", err, out.String())
	}
	t.Logf("the tour took %v", time.Since(start).Round(time.Millisecond))
	wantTour(t, out.String())
	if left, _ := filepath.Glob(filepath.Join(parent, "*")); len(left) != 0 {
		t.Errorf("left behind: %v", left)
	}
}

// cancelAt cancels a context when the output reaches a heading.
type cancelAt struct {
	bytes.Buffer
	heading string
	cancel  context.CancelFunc
}

func (c *cancelAt) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte(c.heading)) {
		c.cancel()
	}
	return c.Buffer.Write(p)
}

// TestDemoCancelled: a context cancelled mid-way (Ctrl-C) ends the tour
// with an error, the relay stopped and the folder removed.
func TestDemoCancelled(t *testing.T) {
	parent := testlib.TempDir(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &cancelAt{heading: "== 3.", cancel: cancel}
	err := Run(ctx, out, Options{Dir: parent})
	if err == nil || !strings.Contains(err.Error(), "context canceled") {
		t.Fatalf("Run cancelled at section 3: %v\n%s", err, out.String())
	}
	if strings.Contains(out.String(), "demo OK") {
		t.Errorf("a cancelled tour says OK:\n%s", out.String())
	}
	if left, _ := filepath.Glob(filepath.Join(parent, "*")); len(left) != 0 {
		t.Errorf("left behind: %v", left)
	}
}

// TestDemoBinary runs `careerrelay demo -keep` as a user would: exit 0
// within 60s, the tour on standard output, the folder kept and named.
func TestDemoBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the built binary: skipped with -short")
	}
	bin := testlib.BuildBinary(t)
	tmp := testlib.TempDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "demo", "-keep")
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("careerrelay demo still running after 60s\nstdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	}
	if err != nil {
		t.Fatalf("careerrelay demo: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	t.Logf("careerrelay demo took %v", time.Since(start).Round(time.Millisecond))
	wantTour(t, stdout.String())
	m := regexp.MustCompile(`folder kept: (\S+)`).FindStringSubmatch(stdout.String())
	if m == nil || !strings.HasPrefix(m[1], tmp) {
		t.Fatalf("-keep: no kept folder under %s named in the output", tmp)
	}
	mail, _ := filepath.Glob(filepath.Join(m[1], "mail", "*.eml"))
	if len(mail) != 13 {
		t.Errorf("kept folder holds %d captured mails, want 13", len(mail))
	}
	if _, err := os.Stat(filepath.Join(m[1], "careerrelay.yaml")); err != nil {
		t.Errorf("kept folder: %v", err)
	}
}
