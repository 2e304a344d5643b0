package queue

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"mime/multipart"
	"mime/quotedprintable"
	"net/textproto"
	"strings"
	"time"

	"github.com/careerrelay/careerrelay/smtp/transport"
	"github.com/careerrelay/careerrelay/store"
)

// mailDate is the RFC 5322 date format.
const mailDate = "Mon, 02 Jan 2006 15:04:05 -0700"

// maxDiagnostic bounds a Diagnostic-Code so that the report's lines stay
// far below the 998-octet limit whatever the remote server said.
const maxDiagnostic = 900

// dsn is a delivery status notification to compose (RFC 3464).
type dsn struct {
	reportingMTA string             // our host name
	orig         *store.Message     // the message that failed
	origHeader   []byte             // its header section (Body.Header), for the headers part
	failed       []transport.Result // recipients that failed for good
	now          time.Time
	lifetime     time.Duration
}

// newMessageID makes a Message-ID for a message we compose.
func newMessageID(host string) string {
	var b [16]byte
	rand.Read(b[:])
	return "<" + hex.EncodeToString(b[:]) + ".dsn@" + host + ">"
}

// global tells whether the DSN is about internationalised mail (RFC 6533):
// a non-ASCII envelope sender or failed recipient (SMTPUTF8), or UTF-8 in
// the original's header section (RFC 6532). Its report is then
// message/global-delivery-status, and its headers part, when they are not
// ASCII, message/global-headers.
func (d *dsn) global() bool {
	if !isASCII(d.orig.From) || !isASCII(string(d.origHeader)) {
		return true
	}
	for _, r := range d.failed {
		if !isASCII(r.Addr) {
			return true
		}
	}
	return false
}

// compose renders the DSN: a multipart/report with a human-readable
// text/plain part, a message/delivery-status part with one block per
// failed recipient, and the original headers as text/rfc822-headers; or,
// for internationalised mail (global), of report-type
// global-delivery-status with a message/global-delivery-status part (and
// message/global-headers for UTF-8 headers). Lines end in CRLF.
func (d *dsn) compose(messageID string) ([]byte, error) {
	var parts bytes.Buffer
	mw := multipart.NewWriter(&parts)

	var h bytes.Buffer
	hdr := func(k, v string) { fmt.Fprintf(&h, "%s: %s\r\n", k, v) }
	hdr("From", "Mail Delivery System <MAILER-DAEMON@"+d.reportingMTA+">")
	hdr("To", "<"+d.orig.From+">")
	hdr("Subject", "Undelivered Mail Returned to Sender")
	hdr("Date", d.now.Format(mailDate))
	hdr("Message-ID", messageID)
	if id := d.orig.MessageID; id != "" && !strings.ContainsAny(id, "\r\n") {
		if !strings.HasPrefix(id, "<") {
			id = "<" + id + ">"
		}
		hdr("In-Reply-To", id)
		hdr("References", id)
	}
	hdr("Auto-Submitted", "auto-replied") // RFC 3834: no auto-reply to this
	hdr("MIME-Version", "1.0")
	reportType := "delivery-status"
	if d.global() {
		reportType = "global-delivery-status" // RFC 6533 section 6
	}
	hdr("Content-Type", `multipart/report; report-type=`+reportType+`; boundary="`+mw.Boundary()+`"`)
	h.WriteString("\r\n")

	if err := d.writeNotification(mw); err != nil {
		return nil, err
	}
	if err := d.writeStatus(mw); err != nil {
		return nil, err
	}
	if err := d.writeHeaders(mw); err != nil {
		return nil, err
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	h.Write(parts.Bytes())
	return h.Bytes(), nil
}

func (d *dsn) writeNotification(mw *multipart.Writer) error {
	w, err := mw.CreatePart(textproto.MIMEHeader{
		"Content-Type":              {"text/plain; charset=utf-8"},
		"Content-Transfer-Encoding": {"quoted-printable"},
		"Content-Description":       {"Notification"},
	})
	if err != nil {
		return err
	}
	var t strings.Builder
	fmt.Fprintf(&t, "This is the mail delivery system at %s.\r\n\r\n", d.reportingMTA)
	t.WriteString("Your message could not be delivered to one or more recipients.\r\n")
	t.WriteString("It has been returned to you with this notification; the\r\n")
	t.WriteString("recipients below will not receive it.\r\n\r\n")
	t.WriteString("メッセージを次の宛先に配信できませんでした。\r\n\r\n")
	for _, r := range d.failed {
		fmt.Fprintf(&t, "<%s>: %s\r\n", r.Addr, d.reason(r))
		if r.Remote != "" && r.Remote != "capture" {
			fmt.Fprintf(&t, "    (reported by %s)\r\n", r.Remote)
		}
	}
	t.WriteString("\r\n")
	if d.orig.MessageID != "" {
		fmt.Fprintf(&t, "Original Message-ID: %s\r\n", oneLine(d.orig.MessageID))
	}
	fmt.Fprintf(&t, "Received: %s\r\n", d.orig.Received.Format(mailDate))
	t.WriteString("The headers of the original message are attached.\r\n")
	qp := quotedprintable.NewWriter(w)
	if _, err := qp.Write([]byte(t.String())); err != nil {
		return err
	}
	return qp.Close()
}

// reason is the human-readable failure of one recipient.
func (d *dsn) reason(r transport.Result) string {
	what := r.Text()
	if r.Status == "4.4.7" {
		return fmt.Sprintf("could not be delivered within %s; last error: %s", d.lifetime, what)
	}
	return what
}

func (d *dsn) writeStatus(mw *multipart.Writer) error {
	ctype := "message/delivery-status"
	if d.global() {
		ctype = "message/global-delivery-status" // RFC 6533
	}
	w, err := mw.CreatePart(textproto.MIMEHeader{
		"Content-Type":        {ctype},
		"Content-Description": {"Delivery report"},
	})
	if err != nil {
		return err
	}
	var t strings.Builder
	fmt.Fprintf(&t, "Reporting-MTA: dns; %s\r\n", d.reportingMTA)
	if !d.orig.Received.IsZero() {
		fmt.Fprintf(&t, "Arrival-Date: %s\r\n", d.orig.Received.Format(mailDate))
	}
	for _, r := range d.failed {
		t.WriteString("\r\n")
		if isASCII(r.Addr) {
			fmt.Fprintf(&t, "Final-Recipient: rfc822; %s\r\n", r.Addr)
		} else {
			fmt.Fprintf(&t, "Final-Recipient: utf-8; %s\r\n", unitext(r.Addr))
		}
		t.WriteString("Action: failed\r\n")
		fmt.Fprintf(&t, "Status: %s\r\n", dsnStatus(r))
		if r.Remote != "" && r.Remote != "capture" {
			fmt.Fprintf(&t, "Remote-MTA: dns; %s\r\n", r.Remote)
		}
		if r.Reply != "" {
			fmt.Fprintf(&t, "Diagnostic-Code: smtp; %s\r\n", clip(r.Reply))
		} else if r.Detail != "" {
			fmt.Fprintf(&t, "Diagnostic-Code: X-CareerRelay; %s\r\n", clip(r.Detail))
		}
		fmt.Fprintf(&t, "Last-Attempt-Date: %s\r\n", d.now.Format(mailDate))
	}
	_, err = w.Write([]byte(t.String()))
	return err
}

// dsnStatus is the Status field: a failure's enhanced code, 4.4.7 for an
// expired message, and never a 2.x.x.
func dsnStatus(r transport.Result) string {
	s := r.Status
	if s == "" || s[0] == '2' {
		return "5.0.0"
	}
	return s
}

func clip(s string) string {
	s = oneLine(s)
	if len(s) > maxDiagnostic {
		s = s[:maxDiagnostic] + "..."
	}
	return s
}

func (d *dsn) writeHeaders(mw *multipart.Writer) error {
	hdrs := headerBlock(d.origHeader)
	mh := textproto.MIMEHeader{
		"Content-Type":        {"text/rfc822-headers"},
		"Content-Description": {"Undelivered Message Headers"},
	}
	if !isASCII(string(hdrs)) {
		mh.Set("Content-Type", "message/global-headers") // RFC 6533 section 6.3
		mh.Set("Content-Transfer-Encoding", "8bit")
	}
	w, err := mw.CreatePart(mh)
	if err != nil {
		return err
	}
	_, err = w.Write(hdrs)
	return err
}

// headerBlock is the header section of a message, without the blank line
// that ends it, with CRLF line ends.
func headerBlock(body []byte) []byte {
	var out bytes.Buffer
	for len(body) > 0 {
		line := body
		rest := []byte(nil)
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			line, rest = body[:i], body[i+1:]
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 {
			break
		}
		out.Write(line)
		out.WriteString("\r\n")
		body = rest
	}
	return out.Bytes()
}

// oneLine joins the words of s with single spaces.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// unitext is an address as a utf-8-addr-unitext (RFC 6533 section 3): as
// it is, but for the space, controls, "+", "=" and "\", which become
// \x{HEX}.
func unitext(addr string) string {
	var b strings.Builder
	for _, c := range addr {
		if c <= ' ' || c == '+' || c == '=' || c == '\\' || c == 0x7f {
			fmt.Fprintf(&b, "\\x{%X}", c)
		} else {
			b.WriteRune(c)
		}
	}
	return b.String()
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
