package integration

import (
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message/mail"
)

// TestConfirmationMail: with links.confirmation_mail, a consent sends the
// candidate a confirmation mail through the relay's own queue: from the
// tenant's no-reply address, DKIM-signed for the tenant (the sink checks
// every delivered mail with go-msgauth and python3-dkim), naming the agency
// and holding no personal link.
func TestConfirmationMail(t *testing.T) {
	t.Parallel()
	sink := newSink(t, nil)
	r := StartRelay(t, sink.Addr, withLocalLinks, func(dir string, c *Config) {
		c.Links.ConfirmationMail = true
	})
	const cand = "confirm.me@cand.example"
	links := relayLinks(t, r, sink, cand)
	before := sink.Count()
	consentRef(t, links[cand])
	msgs := sink.WaitForCount(t, before+1, 30*time.Second)
	m := msgs[before]
	if len(m.Rcpts) != 1 || m.Rcpts[0] != cand {
		t.Fatalf("confirmation mail to %v, want %s", m.Rcpts, cand)
	}
	mr, err := mail.CreateReader(strings.NewReader(string(m.Data)))
	if err != nil {
		t.Fatal(err)
	}
	subject, _ := mr.Header.Subject()
	from, _ := mr.Header.AddressList("From")
	part, err := mr.NextPart()
	if err != nil {
		t.Fatal(err)
	}
	var body strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := part.Body.Read(buf)
		body.Write(buf[:n])
		if err != nil {
			break
		}
	}
	if !strings.Contains(subject, "受付完了") || len(from) != 1 || from[0].Address != "no-reply@acme.example" {
		t.Errorf("confirmation mail: subject %q, from %v", subject, from)
	}
	text := body.String()
	if !strings.Contains(text, "Example Career Agency") || !strings.Contains(text, cand) || strings.Contains(text, "/c/") {
		t.Errorf("confirmation mail body (must name the agency and the address, no personal link):\n%s", text)
	}
	if !strings.Contains(string(m.Data), "DKIM-Signature:") {
		t.Error("the confirmation mail is not DKIM-signed")
	}
	// Opening the link again (the completion page) queues none.
	agencyRef(t, links[cand])
	if n := strings.Count(r.Log(), "confirmation mail queued"); n != 1 {
		t.Errorf("%d confirmation mails queued, want 1", n)
	}
}
