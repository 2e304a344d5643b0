package delivery

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strings"

	gosmtp "github.com/emersion/go-smtp"
)

// outcome is what one attempt did for one recipient.
type outcome int

const (
	// delivered: the next hop accepted the recipient (2xx).
	delivered outcome = iota
	// deferred: a temporary failure (4xx, connection, TLS, DNS, timeout);
	// the recipient stays pending and is retried.
	deferred
	// bounced: a permanent failure (5xx, null MX, no such domain).
	bounced
)

func (o outcome) String() string {
	switch o {
	case delivered:
		return "delivered"
	case deferred:
		return "deferred"
	default:
		return "bounced"
	}
}

// rcptResult is the outcome of an attempt for one recipient.
type rcptResult struct {
	addr    string
	outcome outcome
	// status is the RFC 3463 enhanced status code ("5.1.1") that a DSN
	// reports; empty for delivered recipients.
	status string
	// reply is the full SMTP reply from the remote MTA ("550 5.1.1 No such
	// user"), empty when the failure was not an SMTP reply.
	reply string
	// detail describes a failure that was not an SMTP reply (connection
	// refused, DNS, TLS).
	detail string
	// remote is the name of the MTA that answered, for DSNs and logs.
	remote string
}

// text is what is stored as the recipient's LastError: the reply, or the
// description of the failure.
func (r rcptResult) text() string {
	if r.reply != "" {
		return r.reply
	}
	return r.detail
}

// code is the SMTP reply code of a reply, 0 without one.
func (r rcptResult) code() int {
	var c int
	if _, err := fmt.Sscanf(r.reply, "%3d", &c); err != nil {
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
func resultsFor(rcpts []string, err error, remote string) []rcptResult {
	out := make([]rcptResult, len(rcpts))
	for i, a := range rcpts {
		out[i] = resultFor(a, err, remote)
	}
	return out
}

// resultFor classifies err (nil for success) into a recipient result: a 5xx
// reply or a permanentError bounces, anything else (4xx, network, TLS,
// timeout, a local problem) is deferred.
func resultFor(addr string, err error, remote string) rcptResult {
	r := rcptResult{addr: addr, remote: remote}
	if err == nil {
		r.outcome = delivered
		return r
	}
	var se *gosmtp.SMTPError
	var pe *permanentError
	switch {
	case errors.As(err, &se):
		r.reply = formatReply(se)
		if se.Code >= 500 && se.Code < 600 {
			r.outcome = bounced
			r.status = enhancedStatus(se, "5.0.0")
		} else {
			r.outcome = deferred
			r.status = enhancedStatus(se, "4.0.0")
		}
	case errors.As(err, &pe):
		r.outcome = bounced
		r.status = pe.status
		r.detail = pe.msg
	default:
		r.outcome = deferred
		r.status = "4.4.1" // no answer from host
		r.detail = describe(err)
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

// addrHash is how an address appears in logs: a short SHA-256 of its
// lower-cased form, so that lines about one address can be correlated
// without the address itself ever being written.
func addrHash(addr string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(addr)))
	return hex.EncodeToString(sum[:6])
}

func addrHashes(addrs []string) []string {
	out := make([]string, len(addrs))
	for i, a := range addrs {
		out[i] = addrHash(a)
	}
	return out
}

// domainOf is the lower-cased domain part of an address.
func domainOf(addr string) string {
	i := strings.LastIndexByte(addr, '@')
	if i < 0 {
		return ""
	}
	return strings.ToLower(strings.TrimSuffix(addr[i+1:], "."))
}
