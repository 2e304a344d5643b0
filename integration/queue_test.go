package integration

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/careerrelay/careerrelay/internal/testlib"
	"github.com/careerrelay/careerrelay/internal/web"
)

// TestQueueCommand: with an upstream answering 451 (naming the recipient),
// `careerrelay queue` shows the deferred copies through the running
// server's admin API, oldest first, with their tenant, recipient domains,
// attempt, next attempt and the reply, and no recipient's local part; as a
// table with a summary and as JSON. Without a server it says so (exit 1).
func TestQueueCommand(t *testing.T) {
	t.Parallel()
	sink := newSink(t, &testlib.SinkOptions{Reply: func(m *testlib.SinkMessage) error {
		return testlib.SMTPReply(451, "4.2.0", "mailbox of <"+m.Rcpts[0]+"> busy, try later")
	}})
	r := StartRelay(t, sink.Addr, func(dir string, c *Config) {
		c.Delivery.RetrySchedule = []string{"1h"} // stays deferred for the test
	})
	rcpts := []string{"taro.yamada@cand.example", "hanako.sato@Other.Example"}
	data, _ := newMessage(tenantSender, rcpts[0], "選考結果のご連絡", "ありがとうございました。 [[career-relay]]")
	if _, err := sendMail(r.SMTPAddr, SendOptions{}, tenantSender, rcpts, data); err != nil {
		t.Fatalf("send: %v", err)
	}

	var q web.QueueReply
	var out string
	testlib.WaitFor(t, 30*time.Second, "both copies deferred once in `careerrelay queue -format json`", func() bool {
		var code int
		out, code = runBinary(t, "queue", "-config", r.ConfigPath, "-ready-file", r.ReadyPath, "-format", "json")
		if code != 0 || json.Unmarshal([]byte(out), &q) != nil || q.Count != 2 {
			return false
		}
		for _, m := range q.Messages {
			if m.Attempts != 1 || m.LastError == "" {
				return false
			}
		}
		return true
	})
	for _, local := range []string{"taro", "yamada", "hanako", "sato"} {
		if strings.Contains(out, local) {
			t.Errorf("queue -format json shows %q of a recipient's address:\n%s", local, out)
		}
	}
	domains := map[string]bool{}
	for i, m := range q.Messages {
		if m.Tenant != tenantID || m.Recipients != 1 || len(m.Domains) != 1 ||
			!strings.HasPrefix(m.LastError, "451 4.2.0") || !strings.Contains(m.LastError, "<*@") ||
			!m.NextAttempt.After(q.Now.Add(30*time.Minute)) || m.AgeSeconds > 60 {
			t.Errorf("message %d: %+v", i, m)
		}
		if i > 0 && m.Received.Before(q.Messages[i-1].Received) {
			t.Errorf("not oldest first: %v before %v", q.Messages[i-1].Received, m.Received)
		}
		domains[strings.Join(m.Domains, ",")] = true
	}
	if !domains["cand.example"] || !domains["other.example"] || q.Recipients != 2 {
		t.Errorf("domains %v, recipients %d: want cand.example and other.example, 2", domains, q.Recipients)
	}

	text, code := runBinary(t, "queue", "-config", r.ConfigPath, "-ready-file", r.ReadyPath)
	if code != 0 {
		t.Fatalf("careerrelay queue: exit %d\n%s", code, text)
	}
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	if len(lines) != 4 || !regexp.MustCompile(`^ID +AGE +TENANT +RCPTS +DOMAINS +ATTEMPTS +NEXT ATTEMPT +LAST ERROR$`).MatchString(lines[0]) {
		t.Fatalf("careerrelay queue: want a header, two rows and a summary:\n%s", text)
	}
	for i, m := range q.Messages {
		row := regexp.MustCompile(`^` + m.ID + ` +\d+s +acme +1 +` + regexp.QuoteMeta(m.Domains[0]) + ` +1 +in (5\dm|1h0\dm) \(.*\) +451 4\.2\.0 mailbox of <\*@` + regexp.QuoteMeta(strings.Split(m.LastError, "@")[1]))
		if !row.MatchString(lines[1+i]) {
			t.Errorf("row %d %q does not match %s", i, lines[1+i], row)
		}
	}
	if !regexp.MustCompile(`^2 queued, 2 recipients pending, oldest \d+s$`).MatchString(lines[3]) {
		t.Errorf("summary %q", lines[3])
	}
	if strings.Contains(text, "taro") || strings.Contains(text, "hanako") {
		t.Errorf("the table shows a recipient's local part:\n%s", text)
	}

	if out, code := runBinary(t, "queue", "-config", r.ConfigPath, "-ready-file", r.ReadyPath, "-limit", "1"); code != 0 ||
		!strings.Contains(out, "2 queued, 2 recipients pending") || !strings.Contains(out, "(1 listed, -limit)") ||
		strings.Count(out, "\n") != 3 {
		t.Errorf("queue -limit 1: exit %d\n%s", code, out)
	}
	if out, code := runBinary(t, "queue", "-config", r.ConfigPath, "-ready-file", r.ReadyPath, "-format", "xml"); code != 2 {
		t.Errorf("queue -format xml: exit %d, want 2\n%s", code, out)
	}
	if out, code := runBinary(t, "queue"); code != 2 || !strings.Contains(out, "-config") {
		t.Errorf("queue without -config: exit %d, want 2\n%s", code, out)
	}

	r.Stop()
	if out, code := runBinary(t, "queue", "-config", r.ConfigPath, "-ready-file", r.ReadyPath); code != 1 || !strings.Contains(out, "is careerrelay serve running?") {
		t.Errorf("queue with the server stopped: exit %d, want 1 and a hint\n%s", code, out)
	}
}
