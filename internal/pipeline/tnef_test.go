package pipeline

import (
	"bytes"
	"context"
	"encoding/base64"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"
)

// TestTNEFBodyWithTagCountedAndRelayedUnchanged: Outlook's winmail.dat
// holding the tag (only in its compressed RTF) is counted with reason
// tnef, logged at warn with the queue id, and relayed as it came.
func TestTNEFBodyWithTagCountedAndRelayedUnchanged(t *testing.T) {
	dat, err := os.ReadFile("../../rewrite/testdata/tnef/rtf-tag.dat")
	if err != nil {
		t.Fatal(err)
	}
	msg := "From: hr@acme.example\r\nTo: a@cand.example\r\nSubject: x\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n\r\n" +
		"--b\r\nContent-Type: application/ms-tnef; name=\"winmail.dat\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		base64.StdEncoding.EncodeToString(dat) + "\r\n--b--\r\n"
	p, db, _ := newTestPipeline(t)
	var logs bytes.Buffer
	p.log = slog.New(slog.NewTextHandler(&logs, nil))
	before := rewriteFailures(t, "tnef")
	env := Envelope{From: "hr@acme.example", Tenant: acme, Rcpts: []string{"a@cand.example"}, Received: time.Now()}
	ids, err := p.Accept(context.Background(), env, []byte(msg))
	if err != nil {
		t.Fatal(err)
	}
	if got := rewriteFailures(t, "tnef") - before; got != 1 {
		t.Errorf("careerrelay_rewrite_failures_total{reason=tnef} moved by %v, want 1", got)
	}
	if q := queue(t, p, db); len(q) != 1 || q[0].body != msg {
		t.Errorf("the message was not relayed unchanged")
	}
	if l := logs.String(); !strings.Contains(l, "level=WARN") || !strings.Contains(l, "queue_id="+ids[0]) || !strings.Contains(l, "reason=tnef") {
		t.Errorf("log: %s", l)
	}
}
