package inbound

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/careerrelay/careerrelay/configs"
	"github.com/careerrelay/careerrelay/internal/address"
	"github.com/careerrelay/careerrelay/internal/metrics"
	"github.com/careerrelay/careerrelay/internal/pipeline"
	"github.com/careerrelay/careerrelay/internal/spill"
	"github.com/careerrelay/careerrelay/smtp/ingress"
	gosmtp "github.com/emersion/go-smtp"
)

// Submit takes a message handed over the tenant API (POST
// /api/v1/tenants/<id>/messages) with a key of tenant t, and treats it as
// the SMTP session treats DATA: the same address checks, size and header
// limits, line-ending normalisation, Received field, ingress rules (the
// key proves t; the sender must be t's) and the same pipeline, so it is
// rewritten, signed and queued alike. It returns the queue ids once the
// copies are durable. A refusal is an *gosmtp.SMTPError with the reply
// SMTP would give (5xx: do not retry as it is; 4xx: retry later); any
// other error is local trouble (retry later).
func (s *Server) Submit(ctx context.Context, t *configs.Tenant, keyID string, client netip.Addr, from string, rcpts []string, body io.Reader) ([]string, error) {
	now := s.now()
	txID := "api-" + newSubmissionID()
	log := s.log.With("tx", txID, "tenant", t.ID, "key", keyID)
	if from != "" {
		checked, err := address.Check(from, true)
		if err != nil || !strings.Contains(checked, "@") {
			return nil, s.refuse("bad_address", badAddress("sender", from))
		}
		from = checked
	}
	if len(rcpts) == 0 {
		return nil, s.refuse("bad_address", &gosmtp.SMTPError{Code: 554, EnhancedCode: gosmtp.EnhancedCode{5, 5, 1}, Message: "No valid recipients (to=)"})
	}
	if len(rcpts) > s.cfg.SMTP.MaxRecipients {
		return nil, s.refuse("too_many_rcpts", &gosmtp.SMTPError{Code: 452, EnhancedCode: gosmtp.EnhancedCode{4, 5, 3},
			Message: fmt.Sprintf("Too many recipients (at most %d; send the rest in another request)", s.cfg.SMTP.MaxRecipients)})
	}
	for i, r := range rcpts {
		checked, err := address.Check(r, true)
		if err != nil || !strings.Contains(checked, "@") {
			return nil, s.refuse("bad_address", badAddress("recipient", r))
		}
		if err := address.Deliverable(address.Domain(checked)); err != nil {
			return nil, s.refuse("bad_domain", &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 2}, Message: "Recipient domain is not deliverable: " + r})
		}
		rcpts[i] = checked
	}
	buf := spill.New(spill.DefaultLimit, s.tempFile)
	defer buf.Close()
	received := fmt.Sprintf("Received: from api-key %s ([%s])\r\n\tby %s (careerrelay) with HTTPS id %s;\r\n\t%s\r\n",
		sanitizeHelo(keyID), client, s.cfg.SMTP.Hostname, txID, now.Format(time.RFC1123Z)) +
		ingress.ProcessedHeader + ": " + s.cfg.SMTP.Hostname + "\r\n"
	io.WriteString(buf, received)
	norm := &crlfWriter{w: buf}
	limited := io.LimitReader(body, s.cfg.SMTP.MaxMessageBytes+1)
	n, err := io.Copy(norm, limited)
	if err == nil {
		err = norm.Close()
	}
	if err != nil {
		log.Warn("reading the submitted message failed", "err", err)
		return nil, errLocal
	}
	if n > s.cfg.SMTP.MaxMessageBytes {
		return nil, s.refuse("too_large", gosmtp.ErrDataTooLarge)
	}
	msg, err := buf.Bytes()
	if err != nil {
		log.Error("reading back the submitted message failed", "err", err)
		return nil, errLocal
	}
	recv := len(received)
	header := msg[recv : recv+headerEnd(msg[recv:])]
	if max := s.cfg.SMTP.MaxHeaderBytes; max > 0 && headerSize(header) > max {
		return nil, s.refuse("header_too_large", errHeaderTooLarge)
	}
	if max := s.cfg.SMTP.MaxLineLength; max > 0 && longestLine(msg[recv:]) > max {
		return nil, s.refuse("line_too_long", errLineTooLong)
	}
	verdict, refusal := s.ingress.CheckAPI(t, from, msg[recv:])
	if refusal != nil {
		return nil, s.refuse(refusal.Reason, refusal.Reply)
	}
	metrics.Ingress.WithLabelValues(t.ID, verdict.Proof).Inc()
	env := pipeline.Envelope{From: from, Rcpts: rcpts, Tenant: t, SessionID: txID, Received: now}
	ids, err := s.enqueue(ctx, log, env, verdict.Proof, msg, recv, header)
	if err != nil {
		return nil, errLocal
	}
	return ids, nil
}

// refuse counts a refusal of reason and returns its reply.
func (s *Server) refuse(reason string, reply *gosmtp.SMTPError) error {
	metrics.Rejected.WithLabelValues(reason).Inc()
	return reply
}

func badAddress(what, addr string) *gosmtp.SMTPError {
	return &gosmtp.SMTPError{Code: 501, EnhancedCode: gosmtp.EnhancedCode{5, 1, 3}, Message: fmt.Sprintf("Bad %s address %q", what, addr)}
}

// longestLine is the length of msg's longest line, without its CRLF.
func longestLine(msg []byte) int {
	longest, start := 0, 0
	for i, c := range msg {
		if c == '\n' {
			longest = max(longest, i-start-1)
			start = i + 1
		}
	}
	return max(longest, len(msg)-start)
}

// newSubmissionID is a short random id for the submission's log lines.
func newSubmissionID() string {
	var b [6]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
