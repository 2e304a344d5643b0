package integration

import (
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/careerrelay/careerrelay/internal/testlib"
)

// TestRestartKeepsDeferred: a message the upstream defers (451) stays
// queued across a graceful restart (SIGTERM, start again on the same data),
// is retried after it, and is delivered once the upstream accepts.
func TestRestartKeepsDeferred(t *testing.T) {
	t.Parallel()
	sink := newSink(t, &SinkOptionsDeferAll)
	r := StartRelay(t, sink.Addr)

	data, id := newMessage(tenantSender, candidate, "deferred", "hello")
	if _, err := sendMail(r.SMTPAddr, SendOptions{}, tenantSender, []string{candidate}, data); err != nil {
		t.Fatalf("send: %v", err)
	}
	t0 := time.Now()
	testlib.WaitFor(t, deliveryTimeout, "a retry after the first 451", func() bool { return sink.Attempts() >= 2 })
	t.Logf("first retry after %v", time.Since(t0))

	start := time.Now()
	r.Restart()
	t.Logf("restarted in %v", time.Since(start))
	before := sink.Attempts()
	testlib.WaitFor(t, deliveryTimeout, "a retry after the restart", func() bool { return sink.Attempts() > before })

	t.Logf("retried %v after the restart", time.Since(start))
	sink.SetReply(nil)
	t1 := time.Now()
	wantOnlyDelivery(t, sink, id)
	t.Logf("delivered %v after the upstream accepts", time.Since(t1))
}

// SinkOptionsDeferAll makes a sink answer every message 451 4.3.0.
var SinkOptionsDeferAll = testlib.SinkOptions{
	Reply: func(*testlib.SinkMessage) error {
		return &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
	},
}
