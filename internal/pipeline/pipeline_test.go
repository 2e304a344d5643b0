package pipeline

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/careerrelay/careerrelay/configs"
	"github.com/careerrelay/careerrelay/internal/linktoken"
	"github.com/careerrelay/careerrelay/internal/metrics"
	"github.com/careerrelay/careerrelay/store"
	dto "github.com/prometheus/client_model/go"
)

// rewriteFailures reads careerrelay_rewrite_failures_total{tenant="acme",reason}.
func rewriteFailures(t *testing.T, reason string) float64 {
	t.Helper()
	var m dto.Metric
	if err := metrics.RewriteFailures.WithLabelValues("acme", reason).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

var testLinks = configs.Links{
	BaseURL: "https://careers.test",
	Keys:    []configs.LinkKey{{ID: "k1", Secret: []byte("TEST-ONLY-pipeline-link-key-0123456789")}},
}

var acme = &configs.Tenant{ID: "acme", Name: "Acme", Domains: []string{"acme.example"}, Tag: "[[career-relay]]"}

func newTestPipeline(t *testing.T) (*Pipeline, *store.DB, *[]string) {
	t.Helper()
	db, err := store.Open(filepath.Join(t.TempDir(), "q.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	var notified []string
	cfg := &configs.Config{Links: testLinks, Tenants: []configs.Tenant{*acme}}
	p, err := New(cfg, db, slog.New(slog.NewTextHandler(io.Discard, nil)), Options{Notify: func(ids ...string) { notified = append(notified, ids...) }})
	if err != nil {
		t.Fatal(err)
	}
	return p, db, &notified
}

type queued struct {
	msg  *store.Message
	body string
}

// queue returns every copy queued in db as p makes it at delivery.
func queue(t *testing.T, p *Pipeline, db *store.DB) []queued {
	t.Helper()
	return eachQueued(t, db, func(m *store.Message, sb store.Body) []byte { return rendered(t, p, m, sb) })
}

// storedCopies returns every copy queued in db with its body as stored
// (before Render).
func storedCopies(t *testing.T, db *store.DB) []queued {
	t.Helper()
	return eachQueued(t, db, func(_ *store.Message, sb store.Body) []byte {
		b, err := sb.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		return b
	})
}

// eachQueued returns every copy queued in db with the body body makes of
// its stored one.
func eachQueued(t *testing.T, db *store.DB, body func(m *store.Message, sb store.Body) []byte) []queued {
	t.Helper()
	var out []queued
	db.View(func(tx *store.Tx) error {
		return tx.Queued(func(m *store.Message) error {
			sb, err := tx.Body(m.ID)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, queued{m, string(body(m, sb))})
			return nil
		})
	})
	return out
}

// rendered is the copy m of stored as p makes it at delivery.
func rendered(t *testing.T, p *Pipeline, m *store.Message, stored store.Body) []byte {
	t.Helper()
	body, release, err := p.Render(m, stored)
	if err != nil {
		t.Fatalf("Render %s: %v", m.ID, err)
	}
	defer release()
	b, err := body.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

const taggedMail = "From: 人事部 <hr@acme.example>\r\n" +
	"To: =?UTF-8?B?5YCZ6KOcIOWkqumDjg==?= <Taro@Cand.example>, hanako@cand2.example\r\n" +
	"Subject: =?UTF-8?B?6YG46ICD57WQ5p6c?=\r\n" +
	"Message-ID: <r1@acme.example>\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: text/plain; charset=UTF-8\r\n" +
	"Content-Transfer-Encoding: 8bit\r\n" +
	"\r\n" +
	"ご応募ありがとうございました。\r\n" +
	"キャリア相談はこちら: [[career-relay]]\r\n"

var linkRE = regexp.MustCompile(`https://careers\.test/(c|t)/([A-Za-z0-9._-]+)`)

// TestTaggedMailPersonalAndGenericLinks: two candidates and one address of
// the tenant's own domain give two personal links, each with its send
// record in the same commit, and one generic link.
func TestTaggedMailPersonalAndGenericLinks(t *testing.T) {
	p, db, notified := newTestPipeline(t)
	received := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	env := Envelope{
		From: "hr@acme.example", Tenant: acme, MessageID: "<r1@acme.example>", Received: received,
		Rcpts: []string{"Taro@Cand.example", "hanako@cand2.example", "archive@acme.example", "taro@cand.example"},
	}
	ids, err := p.Accept(context.Background(), env, []byte(taggedMail))
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 3 || len(*notified) != 3 {
		t.Fatalf("ids %v, notified %v: want 3 copies (a repeated recipient counts once)", ids, *notified)
	}
	keys, _ := linktoken.NewKeys(testLinks.Keys)
	personal := map[string]string{} // rcpt -> link
	var generic []string
	for _, q := range queue(t, p, db) {
		if strings.Contains(q.body, "[[career-relay]]") {
			t.Errorf("copy for %v still holds the tag", q.msg.PendingRcpts())
		}
		links := linkRE.FindAllStringSubmatch(q.body, -1)
		if len(links) != 1 {
			t.Fatalf("copy for %v has %d links:\n%s", q.msg.PendingRcpts(), len(links), q.body)
		}
		rest := strings.Replace(q.body, links[0][0], "[[career-relay]]", 1)
		if !strings.HasSuffix(rest, taggedMail) {
			t.Errorf("copy differs from the original beyond the link:\n%s", q.body)
		}
		if links[0][1] == "t" {
			if links[0][2] != "acme" {
				t.Errorf("generic link %s", links[0][0])
			}
			generic = append(generic, q.msg.PendingRcpts()...)
			continue
		}
		if len(q.msg.Rcpts) != 1 {
			t.Fatalf("a personal copy goes to %v", q.msg.PendingRcpts())
		}
		rcpt := q.msg.Rcpts[0].Addr
		personal[rcpt] = links[0][0]
		id, err := keys.Verify(links[0][2])
		if err != nil {
			t.Fatalf("link of %s does not verify: %v", rcpt, err)
		}
		db.View(func(tx *store.Tx) error {
			s, err := tx.GetSend(id.String())
			if err != nil {
				t.Fatalf("no send record for %s: %v", rcpt, err)
			}
			if s.Rcpt != rcpt || s.Tenant != "acme" || s.QueueID != q.msg.ID || s.MessageID != "<r1@acme.example>" || !s.Sent.Equal(received) {
				t.Errorf("send record %+v for copy %s to %s", s, q.msg.ID, rcpt)
			}
			if rcpt == "Taro@Cand.example" && s.Name != "候補 太郎" {
				t.Errorf("display name %q, want the decoded To name", s.Name)
			}
			return nil
		})
	}
	if len(personal) != 2 || personal["Taro@Cand.example"] == personal["hanako@cand2.example"] {
		t.Errorf("personal links %v: want two different ones", personal)
	}
	if len(generic) != 1 || generic[0] != "archive@acme.example" {
		t.Errorf("generic link went to %v", generic)
	}
}

func TestUntaggedMailIsOneUnchangedCopy(t *testing.T) {
	p, db, _ := newTestPipeline(t)
	msg := strings.Replace(taggedMail, "[[career-relay]]", "https://acme.example/careers", 1)
	env := Envelope{From: "hr@acme.example", Tenant: acme, Rcpts: []string{"a@cand.example", "b@cand.example"}, Received: time.Now()}
	if _, err := p.Accept(context.Background(), env, []byte(msg)); err != nil {
		t.Fatal(err)
	}
	q := queue(t, p, db)
	if len(q) != 1 || len(q[0].msg.Rcpts) != 2 {
		t.Fatalf("%d copies, want 1 for both recipients", len(q))
	}
	if !strings.HasSuffix(q[0].body, msg) {
		t.Errorf("untagged body changed:\n%s", q[0].body)
	}
}

func TestUnknownSenderRelayedUntouched(t *testing.T) {
	p, db, _ := newTestPipeline(t)
	env := Envelope{From: "x@other.example", Rcpts: []string{"a@cand.example"}, Received: time.Now()}
	if _, err := p.Accept(context.Background(), env, []byte(taggedMail)); err != nil {
		t.Fatal(err)
	}
	if q := queue(t, p, db); len(q) != 1 || q[0].body != taggedMail || q[0].msg.Tenant != "" {
		t.Errorf("unknown sender's mail was changed or given a tenant: %+v", q)
	}
}

func TestStoreFailureQueuesNothing(t *testing.T) {
	p, db, notified := newTestPipeline(t)
	db.Close() // every Update now fails
	env := Envelope{From: "hr@acme.example", Tenant: acme, Rcpts: []string{"a@cand.example"}, Received: time.Now()}
	if _, err := p.Accept(context.Background(), env, []byte(taggedMail)); err == nil {
		t.Fatal("Accept on a closed store succeeded")
	}
	if len(*notified) != 0 {
		t.Errorf("delivery notified of %v after a failed commit", *notified)
	}
}

// TestUnreadableTaggedPartCountsAsFailure: a tagged part in a charset the
// rewriter cannot handle safely goes out unchanged and is counted.
func TestUnreadableTaggedPartCountsAsFailure(t *testing.T) {
	p, db, _ := newTestPipeline(t)
	msg := strings.Replace(taggedMail, "charset=UTF-8", "charset=x-unknown-charset", 1)
	before := rewriteFailures(t, "charset")
	env := Envelope{From: "hr@acme.example", Tenant: acme, Rcpts: []string{"a@cand.example"}, Received: time.Now()}
	if _, err := p.Accept(context.Background(), env, []byte(msg)); err != nil {
		t.Fatal(err)
	}
	if got := rewriteFailures(t, "charset") - before; got != 1 {
		t.Errorf("careerrelay_rewrite_failures_total{reason=charset} moved by %v, want 1", got)
	}
	if q := queue(t, p, db); len(q) != 1 || !strings.HasSuffix(q[0].body, msg) {
		t.Errorf("the message was not relayed unchanged: %+v", q)
	}
}

// TestUnparseableMessageGetsGenericLinkInBodyOnly: a message the rewriter
// cannot parse is still delivered, its body's raw tag becomes the generic
// link, its Subject keeps the tag, and the failure is counted.
func TestUnparseableMessageGetsGenericLinkInBodyOnly(t *testing.T) {
	p, db, _ := newTestPipeline(t)
	msg := "From: hr@acme.example\r\nSubject: [[career-relay]]\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhere: [[career-relay]]\r\n"
	before := rewriteFailures(t, "unparsable")
	env := Envelope{From: "hr@acme.example", Tenant: acme, Rcpts: []string{"a@cand.example"}, Received: time.Now()}
	if _, err := p.Accept(context.Background(), env, []byte(msg)); err != nil {
		t.Fatal(err)
	}
	if got := rewriteFailures(t, "unparsable") - before; got != 1 {
		t.Fatalf("careerrelay_rewrite_failures_total{reason=unparsable} moved by %v, want 1 (is the message parseable after all?)", got)
	}
	q := queue(t, p, db)
	if len(q) != 1 {
		t.Fatalf("%d copies", len(q))
	}
	want := strings.Replace(msg, "here: [[career-relay]]", "here: https://careers.test/t/acme", 1)
	if q[0].body != want {
		t.Errorf("got\n%q\nwant\n%q", q[0].body, want)
	}
}

// TestTenantDomainSpellings: an address of the tenant's own domain written
// in capitals or with the DNS root's trailing dot is still the tenant's, so
// it gets the generic link and no personal one (no send record, no count).
func TestTenantDomainSpellings(t *testing.T) {
	p, db, _ := newTestPipeline(t)
	env := Envelope{
		From: "hr@acme.example", Tenant: acme, MessageID: "<r2@acme.example>", Received: time.Now(),
		Rcpts: []string{"Archive@ACME.example.", "boss@Acme.Example"},
	}
	if _, err := p.Accept(context.Background(), env, []byte(taggedMail)); err != nil {
		t.Fatal(err)
	}
	copies := queue(t, p, db)
	if len(copies) != 1 {
		t.Fatalf("%d copies, want one with the generic link", len(copies))
	}
	for _, q := range copies {
		for _, l := range linkRE.FindAllStringSubmatch(q.body, -1) {
			if l[1] != "t" {
				t.Errorf("copy for %v has a personal link %s", q.msg.PendingRcpts(), l[0])
			}
		}
	}
}

// TestAdjacentTagsLinksWhole: a line of 30 or 40 adjacent tags, in a parseable
// message (text and HTML) and in one that is not (the raw fallback), gives
// copies whose lines keep within 998 octets and whose links are all whole:
// each copy holds its one link, complete, at every place of the tag.
func TestAdjacentTagsLinksWhole(t *testing.T) {
	tags := strings.Repeat("[[career-relay]]", 30)
	head := "From: hr@acme.example\r\nTo: a@cand.example\r\nSubject: x\r\nMIME-Version: 1.0\r\n"
	for _, c := range []struct {
		name, msg string
		want      int // places of the link in each copy
		failure   bool
	}{
		{"plain", head + "Content-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nこちら:" + tags + "\r\n", 30, false},
		{"alternative", head + "Content-Type: multipart/alternative; boundary=\"b\"\r\n\r\n--b\r\n" +
			"Content-Type: text/plain; charset=UTF-8; format=flowed\r\n\r\n" + tags + "\r\n--b\r\n" +
			"Content-Type: text/html; charset=UTF-8\r\n\r\n<p>" + tags + "</p>\r\n--b--\r\n", 30 + 60, false},
		// 40 generic links of 27 octets need more than a line.
		{"unparseable", head + "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n" + tags + tags[:10*16] + "\r\n", 40, true},
	} {
		p, db, _ := newTestPipeline(t)
		before := rewriteFailures(t, "unparsable")
		env := Envelope{From: "hr@acme.example", Tenant: acme, Rcpts: []string{"a@cand.example", "archive@acme.example"}, Received: time.Now()}
		if _, err := p.Accept(context.Background(), env, []byte(c.msg)); err != nil {
			t.Fatal(err)
		}
		if failed := rewriteFailures(t, "unparsable") > before; failed != c.failure {
			t.Errorf("%s: rewrite failure counted: %v, want %v", c.name, failed, c.failure)
		}
		q := queue(t, p, db)
		want := 2 // personal and generic
		if c.failure {
			want = 1 // the generic link for all
		}
		if len(q) != want {
			t.Fatalf("%s: %d copies, want %d", c.name, len(q), want)
		}
		for _, cp := range q {
			for i, line := range strings.Split(cp.body, "\n") {
				if n := len(strings.TrimSuffix(line, "\r")); n > 998 {
					t.Errorf("%s: copy to %v: line %d has %d octets", c.name, cp.msg.PendingRcpts(), i+1, n)
				}
			}
			links := adjacentLinks(cp.body)
			if len(links) != c.want {
				t.Errorf("%s: copy to %v has %d links, want %d", c.name, cp.msg.PendingRcpts(), len(links), c.want)
				continue
			}
			for _, l := range links {
				if l != links[0] {
					t.Errorf("%s: copy to %v: link %q, another is %q (split?)", c.name, cp.msg.PendingRcpts(), l, links[0])
					break
				}
			}
			if strings.Contains(links[0], "/c/") {
				keys, _ := linktoken.NewKeys(testLinks.Keys)
				if _, err := keys.Verify(strings.TrimPrefix(links[0], "https://careers.test/c/")); err != nil {
					t.Errorf("%s: link %s does not verify: %v", c.name, links[0], err)
				}
			}
		}
	}
}

// adjacentLinks returns the links in body, which may follow each other
// with nothing between them (linkRE would take them for one).
func adjacentLinks(body string) []string {
	const base = "https://careers.test/"
	var out []string
	segs := strings.Split(body, base)
	for _, seg := range segs[1:] {
		end := strings.IndexFunc(seg, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._-/", r))
		})
		if end < 0 {
			end = len(seg)
		}
		out = append(out, base+seg[:end])
	}
	return out
}

// TestOneCandidateCopyStoredRendered: a rejection to one candidate is
// rendered when it is received, from the template made then, and stored
// with its link (its recipe has no tag: delivery only signs it, for the
// From domain found then); a rejection to two candidates keeps one body
// with the tag, rendered per copy at delivery. Both deliver the same copies
// (signing is TestCopiesAreSignedAndLargeOnesSpooled's).
func TestOneCandidateCopyStoredRendered(t *testing.T) {
	received := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	for _, rcpts := range [][]string{{"Taro@Cand.example"}, {"Taro@Cand.example", "hanako@cand2.example"}} {
		p, db, _ := newTestPipeline(t)
		env := Envelope{From: "hr@acme.example", Tenant: acme, MessageID: "<r1@acme.example>", Received: received, Rcpts: rcpts}
		if _, err := p.Accept(context.Background(), env, []byte(taggedMail)); err != nil {
			t.Fatal(err)
		}
		stored := storedCopies(t, db)
		if len(stored) != len(rcpts) {
			t.Fatalf("%d recipients: %d copies", len(rcpts), len(stored))
		}
		for _, q := range stored {
			r := q.msg.Recipe
			if r == nil || !r.Sign || r.Send == "" || r.From != "acme.example" {
				t.Fatalf("%d recipients: recipe %+v, want signed, with its send record and From acme.example", len(rcpts), r)
			}
			hasTag := strings.Contains(q.body, "[[career-relay]]")
			if len(rcpts) == 1 && (hasTag || r.Tag != "" || r.Link != "" || len(linkRE.FindAllString(q.body, -1)) != 1) {
				t.Errorf("one recipient: stored with tag %v, recipe %+v; want the link in the stored copy and no tag in its recipe", hasTag, r)
			}
			if len(rcpts) == 2 && (!hasTag || r.Tag != "[[career-relay]]" || r.Link == "") {
				t.Errorf("two recipients: stored with tag %v, recipe %+v; want one body with the tag, the link in each recipe", hasTag, r)
			}
		}
		for _, q := range queue(t, p, db) {
			links := linkRE.FindAllString(q.body, -1)
			if len(links) != 1 || strings.Replace(q.body, links[0], "[[career-relay]]", 1) != taggedMail {
				t.Errorf("%d recipients: delivered copy is not the mail with one link in place of the tag:\n%s", len(rcpts), q.body)
			}
		}
	}
}
