package transport

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	gosmtp "github.com/emersion/go-smtp"
)

// Outcome is what one attempt did for one recipient.
type Outcome int

const (
	// Delivered: the next hop accepted the recipient (2xx).
	Delivered Outcome = iota
	// Deferred: a temporary failure (4xx, connection, TLS, DNS, timeout);
	// the recipient stays pending and is retried.
	Deferred
	// Bounced: a permanent failure (5xx, null MX, no such domain).
	Bounced
)

// String is the outcome's name in logs: delivered, deferred or bounced.
func (o Outcome) String() string {
	switch o {
	case Delivered:
		return "delivered"
	case Deferred:
		return "deferred"
	default:
		return "bounced"
	}
}

// Result is the outcome of an attempt for one recipient.
type Result struct {
	Addr    string
	Outcome Outcome
	// Status is the RFC 3463 enhanced status code ("5.1.1") that a DSN
	// reports; empty for delivered recipients.
	Status string
	// Reply is the full SMTP reply from the remote MTA ("550 5.1.1 No such
	// user"), empty when the failure was not an SMTP reply.
	Reply string
	// Detail describes a failure that was not an SMTP reply (connection
	// refused, DNS, TLS).
	Detail string
	// Remote is the name of the MTA that answered, for DSNs and logs.
	Remote string
}

// Text is what is stored as the recipient's LastError: the reply, or the
// description of the failure.
func (r Result) Text() string {
	if r.Reply != "" {
		return r.Reply
	}
	return r.Detail
}

// Code is the SMTP reply code of the reply, 0 without one.
func (r Result) Code() int {
	var c int
	if _, err := fmt.Sscanf(r.Reply, "%3d", &c); err != nil {
		return 0
	}
	return c
}

// permanentError is a failure decided locally that must not be retried:
// a null MX, a domain that does not exist.
type permanentError struct {
	status string // enhanced status code, e.g. "5.1.10"
	msg    string
}

func (e *permanentError) Error() string { return e.msg }

// resultsFor gives every address in rcpts the outcome that err implies.
func resultsFor(rcpts []string, err error, remote string) []Result {
	out := make([]Result, len(rcpts))
	for i, a := range rcpts {
		out[i] = resultFor(a, err, remote)
	}
	return out
}

// resultFor classifies err (nil for success) into a recipient result: a 5xx
// reply or a permanentError bounces, anything else (4xx, network, TLS,
// timeout, a local problem) is deferred.
func resultFor(addr string, err error, remote string) Result {
	r := Result{Addr: addr, Remote: remote}
	if err == nil {
		r.Outcome = Delivered
		return r
	}
	var se *gosmtp.SMTPError
	var pe *permanentError
	switch {
	case errors.As(err, &se):
		r.Reply = formatReply(se)
		if se.Code >= 500 && se.Code < 600 {
			r.Outcome = Bounced
			r.Status = enhancedStatus(se, "5.0.0")
		} else {
			r.Outcome = Deferred
			r.Status = enhancedStatus(se, "4.0.0")
		}
	case errors.As(err, &pe):
		r.Outcome = Bounced
		r.Status = pe.status
		r.Detail = pe.msg
	default:
		r.Outcome = Deferred
		r.Status = "4.4.1" // no answer from host
		r.Detail = describe(err)
	}
	return r
}

// enhancedStatus is the reply's enhanced status code when it has one of
// the reply's class, else def.
func enhancedStatus(se *gosmtp.SMTPError, def string) string {
	ec := se.EnhancedCode
	if ec[0] == se.Code/100 && ec[1] >= 0 && ec[2] >= 0 {
		return fmt.Sprintf("%d.%d.%d", ec[0], ec[1], ec[2])
	}
	return def
}

// formatReply renders a reply as it was on the wire, on one line:
// "550 5.1.1 No such user".
func formatReply(se *gosmtp.SMTPError) string {
	msg := strings.Join(strings.Fields(se.Message), " ")
	ec := se.EnhancedCode
	if ec[0] > 0 {
		return fmt.Sprintf("%03d %d.%d.%d %s", se.Code, ec[0], ec[1], ec[2], msg)
	}
	return fmt.Sprintf("%03d %s", se.Code, msg)
}

// describe turns a non-SMTP error into a short line for LastError and DSNs.
func describe(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout: " + oneLine(err.Error())
	case errors.Is(err, context.Canceled):
		return "attempt interrupted (shutting down)"
	}
	return oneLine(err.Error())
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
