package inbound

import (
	"errors"

	gosmtp "github.com/emersion/go-smtp"
)

// Replies this package sends; each names its reason for the metrics.
var (
	errRelayDenied = &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 7, 1},
		Message: "Relaying denied: authenticate or connect from an allowed network"}
	errRelayDeniedClose = &gosmtp.SMTPError{Code: 421, EnhancedCode: gosmtp.EnhancedCode{4, 7, 0},
		Message: "Relaying denied: authenticate or connect from an allowed network; closing connection"}
	errTooManyRcpts = &gosmtp.SMTPError{Code: 452, EnhancedCode: gosmtp.EnhancedCode{4, 5, 3},
		Message: "Too many recipients"}
	errBadAddress = &gosmtp.SMTPError{Code: 501, EnhancedCode: gosmtp.EnhancedCode{5, 1, 3},
		Message: "Bad address syntax"}
	errNeedsUTF8 = &gosmtp.SMTPError{Code: 553, EnhancedCode: gosmtp.EnhancedCode{5, 6, 7},
		Message: "Non-ASCII address without SMTPUTF8"}
	errUndeliverable = &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 2},
		Message: "Recipient domain not accepted: address literal, single label or localhost"}
	errLineTooLong = &gosmtp.SMTPError{Code: 552, EnhancedCode: gosmtp.EnhancedCode{5, 3, 4},
		Message: "Message has a line longer than the limit (smtp.max_line_length)"}
	errAuthBlocked = &gosmtp.SMTPError{Code: 454, EnhancedCode: gosmtp.EnhancedCode{4, 7, 0},
		Message: "Temporary authentication failure"}
	errAuthTooMany = &gosmtp.SMTPError{Code: 421, EnhancedCode: gosmtp.EnhancedCode{4, 7, 0},
		Message: "Too many authentication failures"}
	errHeaderTooLarge = &gosmtp.SMTPError{Code: 552, EnhancedCode: gosmtp.EnhancedCode{5, 3, 4},
		Message: "Message header too large (smtp.max_header_bytes)"}
	errLocal = &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 3, 0},
		Message: "Local error, message not accepted, try again later"}
)

// Reply maps any error met while handling a command to the SMTP reply the
// client gets. An *SMTPError is sent as it is; anything else is local
// trouble: a temporary 451 4.3.0 that never carries the internal error text
// (the caller logs it). This is the only place such errors become replies.
func Reply(err error) *gosmtp.SMTPError {
	var se *gosmtp.SMTPError
	if errors.As(err, &se) {
		return se
	}
	return errLocal
}

// queued is the success reply of DATA. go-smtp sends an *SMTPError returned
// by Session.Data as it is, which is how the reply carries the queue id.
func queued(id string) *gosmtp.SMTPError {
	return &gosmtp.SMTPError{Code: 250, EnhancedCode: gosmtp.EnhancedCode{2, 0, 0}, Message: "queued as " + id}
}
