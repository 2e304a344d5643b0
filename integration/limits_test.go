package integration

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/careerrelay/careerrelay/internal/testlib"
)

func TestLimitsMessageSize(t *testing.T) {
	t.Parallel()
	const limit = 20000
	sink := newSink(t, nil)
	r := StartRelay(t, sink.Addr, func(_ string, c *Config) { c.SMTP.MaxMessageBytes = limit })

	line := strings.Repeat("x", 76) + "\n"
	big, _ := newMessage(tenantSender, candidate, "too big", strings.Repeat(line, 2*limit/len(line)))
	_, err := sendMail(r.SMTPAddr, SendOptions{}, tenantSender, []string{candidate}, big)
	rep, ok := replyOf(err)
	if !ok || rep.Code != 552 {
		t.Fatalf("message of %d bytes over max_message_bytes %d: got %v, want 552", len(big), limit, err)
	}
	t.Logf("refused as expected: %v", rep)

	// A message under the limit passes, so the 552 was the limit's.
	small, id := newMessage(tenantSender, candidate, "small", strings.Repeat(line, limit/2/len(line)))
	if _, err := sendMail(r.SMTPAddr, SendOptions{}, tenantSender, []string{candidate}, small); err != nil {
		t.Fatalf("message of %d bytes under the limit: %v", len(small), err)
	}
	wantOnlyDelivery(t, sink, id)
}

func TestLimitsRecipients(t *testing.T) {
	t.Parallel()
	const limit = 3
	sink := newSink(t, nil)
	r := StartRelay(t, sink.Addr, func(_ string, c *Config) { c.SMTP.MaxRecipients = limit })

	cl, err := Dial(r.SMTPAddr, SendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.c.Mail(tenantSender, nil); err != nil {
		t.Fatalf("MAIL: %v", err)
	}
	for i := range limit + 1 {
		err := cl.c.Rcpt(fmt.Sprintf("candidate%d@example.net", i), nil)
		if i < limit {
			if err != nil {
				t.Fatalf("RCPT %d of max_recipients %d: %v", i+1, limit, err)
			}
			continue
		}
		var se *gosmtp.SMTPError
		if !errors.As(err, &se) || se.Code != 452 {
			t.Fatalf("RCPT %d over max_recipients %d: got %v, want 452", i+1, limit, err)
		}
		t.Logf("refused as expected: %d %v %s", se.Code, se.EnhancedCode, se.Message)
	}

	// The transaction goes on with the recipients accepted before.
	data, id := newMessage(tenantSender, "candidate0@example.net", "recipients", "hello")
	w, err := cl.c.Data()
	if err != nil {
		t.Fatalf("DATA: %v", err)
	}
	w.Write(data)
	if err := w.Close(); err != nil {
		t.Fatalf("final dot: %v", err)
	}
	// One copy per recipient (each may carry its own link), or one for all.
	delivered := func() map[string]bool {
		rcpts := map[string]bool{}
		for _, m := range sink.Messages() {
			if m.MessageID != id {
				t.Errorf("sink got Message-ID %q, want %q", m.MessageID, id)
			}
			for _, to := range m.Rcpts {
				rcpts[to] = true
			}
		}
		return rcpts
	}
	testlib.WaitFor(t, deliveryTimeout, "delivery to the accepted recipients", func() bool {
		return len(delivered()) >= limit
	})
	waitQueueDrained(t, r)
	if rcpts := delivered(); len(rcpts) != limit || rcpts[fmt.Sprintf("candidate%d@example.net", limit)] {
		t.Errorf("delivered to %v, want exactly the %d accepted recipients", rcpts, limit)
	}
}
