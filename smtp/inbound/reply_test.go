package inbound

import (
	"errors"
	"fmt"
	"testing"

	gosmtp "github.com/emersion/go-smtp"
)

func TestReplyNeverLeaksInternalErrors(t *testing.T) {
	err := fmt.Errorf("enqueue: %w", errors.New("bolt: /var/lib/careerrelay/careerrelay.db: input/output error"))
	r := Reply(err)
	if r.Code != 451 || r.EnhancedCode != (gosmtp.EnhancedCode{4, 3, 0}) {
		t.Errorf("local error answered %d %v, want 451 4.3.0", r.Code, r.EnhancedCode)
	}
	if r.Message != errLocal.Message {
		t.Errorf("reply text %q carries more than the fixed text", r.Message)
	}
}

func TestReplyKeepsSMTPErrors(t *testing.T) {
	wrapped := fmt.Errorf("policy: %w", errRelayDenied)
	if r := Reply(wrapped); r != errRelayDenied {
		t.Errorf("Reply(wrapped relay denial) = %v", r)
	}
}
