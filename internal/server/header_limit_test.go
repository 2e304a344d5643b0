package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/careerrelay/careerrelay/configs"
	"github.com/careerrelay/careerrelay/internal/testlib"
	"github.com/careerrelay/careerrelay/internal/web"
	"github.com/careerrelay/careerrelay/smtp/dkim"
	msgauth "github.com/emersion/go-msgauth/dkim"
	gosmtp "github.com/emersion/go-smtp"
)

// foldedHeaderMail is a tagged mail of acme whose header section is size
// bytes (fields with their CRLFs), most of it one X-Folded field of
// 10-octet continuation lines: the shape that made go-msgauth's header
// reader quadratic (issue 13).
func foldedHeaderMail(size int, to []string) string {
	var b strings.Builder
	b.WriteString("From: hr@acme.example\r\nTo: " + strings.Join(to, ",\r\n ") + "\r\nSubject: folded\r\n" +
		"Message-ID: <folded@acme.example>\r\nDate: Mon, 02 Mar 2026 10:00:00 +0900\r\nX-Folded: start\r\n")
	for b.Len()+10 <= size {
		b.WriteString("\tf0123456\r\n")
	}
	if n := size - b.Len(); n >= 3 {
		b.WriteString("\t" + strings.Repeat("g", n-3) + "\r\n")
	}
	return b.String() + "\r\nThank you. [[career-relay]]\r\n"
}

// TestHeaderLimitDefault runs the relay on a config without
// smtp.max_header_bytes (so its default, 102400): a 101 KB header gets 552
// 5.3.4 and nothing is queued or delivered; a 99 KB header of folded lines
// to 10 recipients is accepted and every copy is delivered signed,
// verified by go-msgauth (its speed is held by smtp/dkim's allocation test and BenchmarkSignFoldedHeader; this test only logs it).
func TestHeaderLimitDefault(t *testing.T) {
	t.Parallel()
	dir := testlib.TempDir(t)
	cfg := testConfig(t, dir)
	if cfg.SMTP.MaxHeaderBytes != configs.DefaultMaxHeaderBytes || configs.DefaultMaxHeaderBytes != 102400 {
		t.Fatalf("smtp.max_header_bytes loaded as %d, want the default 102400", cfg.SMTP.MaxHeaderBytes)
	}
	r := start(t, cfg)
	defer r.wait(t)
	var to []string
	for i := range 10 {
		to = append(to, fmt.Sprintf("cand%d@example.com", i))
	}
	mailDir := filepath.Join(dir, "mail")

	sendRaw := func(msg string) error {
		c, err := gosmtp.Dial(r.ready.SMTP)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.SendMail("hr@acme.example", to, strings.NewReader(msg))
	}

	big := foldedHeaderMail(101<<10, to)
	err := sendRaw(big)
	var se *gosmtp.SMTPError
	if !errors.As(err, &se) || se.Code != 552 || se.EnhancedCode != (gosmtp.EnhancedCode{5, 3, 4}) ||
		!strings.Contains(se.Message, "smtp.max_header_bytes") {
		t.Fatalf("101 KB header: %v, want 552 5.3.4 naming smtp.max_header_bytes", err)
	}
	_, metricsText := get(t, "http://"+r.ready.HTTP+"/metrics", "")
	if !strings.Contains(metricsText, `careerrelay_smtp_rejected_total{reason="header_too_large"} 1`) {
		t.Errorf("header_too_large not counted once:\n%s", grepLines(metricsText, "rejected_total"))
	}
	code, body := get(t, "http://"+r.ready.Admin+"/api/queue", testToken)
	var q web.QueueReply
	if code != 200 || json.Unmarshal([]byte(body), &q) != nil || q.Count != 0 {
		t.Errorf("after the refusal, queue: %d %s", code, body)
	}

	ok := foldedHeaderMail(99<<10, to)
	start := time.Now()
	if err := sendRaw(ok); err != nil {
		t.Fatalf("99 KB header: %v", err)
	}
	t.Logf("99 KB header of folded lines to 10 recipients: DATA to 250 in %v", time.Since(start))
	var copies []string
	testlib.WaitFor(t, 20*time.Second, "10 captured copies", func() bool {
		copies, _ = filepath.Glob(filepath.Join(mailDir, "[^.]*.eml")) // not durable's temp files
		return len(copies) == 10
	})
	txt, err := dkim.TXTRecord(cfg.Tenants[0].DKIM[0].Signer.Public())
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range copies {
		raw, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		// Capture puts Return-Path and Delivered-To on top.
		for range 2 {
			raw = raw[bytes.IndexByte(raw, '\n')+1:]
		}
		if !bytes.Contains(raw, []byte("\tf0123456\r\n\tf0123456\r\n")) || !bytes.Contains(raw, []byte("/c/")) {
			t.Fatalf("%s is not the folded mail with a personal link", filepath.Base(name))
		}
		vs, err := msgauth.VerifyWithOptions(bytes.NewReader(raw), &msgauth.VerifyOptions{
			LookupTXT: func(name string) ([]string, error) {
				if strings.TrimSuffix(name, ".") == "t1._domainkey.acme.example" {
					return []string{txt}, nil
				}
				return nil, fmt.Errorf("no TXT record at %s", name)
			},
		})
		if err != nil || len(vs) != 1 || vs[0].Err != nil || vs[0].Domain != "acme.example" {
			t.Fatalf("%s: verification %v, %+v", filepath.Base(name), err, vs)
		}
	}
}

func grepLines(text, sub string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
