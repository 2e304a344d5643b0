package inbound

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/careerrelay/careerrelay/smtp/ingress"
)

// crlfWriter passes a message on with every bare LF and bare CR turned
// into CRLF, so that what is signed and relayed has only canonical line
// endings (and a bare-LF "." line can never end a message downstream). It
// streams: a CR at the end of one Write is resolved by the next, or by
// Close. Canonical text is passed on in spans, without a copy.
type crlfWriter struct {
	w  io.Writer
	cr bool // the last octet written was a CR not yet passed on
}

var crlf = []byte("\r\n")

func (c *crlfWriter) Write(p []byte) (int, error) {
	n := len(p)
	if n == 0 {
		return 0, nil // a pending CR waits for an octet that decides it
	}
	if c.cr {
		c.cr = false
		if _, err := c.w.Write(crlf); err != nil {
			return 0, err
		}
		if len(p) > 0 && p[0] == '\n' {
			p = p[1:] // the CRLF of the previous Write
		}
	}
	start, i := 0, 0 // p[start:i] is canonical and not yet passed on
	for {
		j := bytes.IndexAny(p[i:], "\r\n")
		if j < 0 {
			break
		}
		j += i
		switch {
		case p[j] == '\r' && j+1 == len(p):
			c.cr = true // decided by the next octet
			_, err := c.w.Write(p[start:j])
			return n, err
		case p[j] == '\r' && p[j+1] == '\n':
			i = j + 2
			continue
		}
		// A bare CR or a bare LF.
		if _, err := c.w.Write(p[start:j]); err != nil {
			return 0, err
		}
		if _, err := c.w.Write(crlf); err != nil {
			return 0, err
		}
		start, i = j+1, j+1
	}
	if start < len(p) {
		if _, err := c.w.Write(p[start:]); err != nil {
			return 0, err
		}
	}
	return n, nil
}

// Close passes on a CR left at the very end, as CRLF.
func (c *crlfWriter) Close() error {
	if !c.cr {
		return nil
	}
	c.cr = false
	_, err := c.w.Write(crlf)
	return err
}

// headerEnd returns the length of the header section including the blank
// line that ends it (len(msg) when there is no body).
func headerEnd(msg []byte) int {
	if bytes.HasPrefix(msg, []byte("\r\n")) {
		return 2
	}
	if i := bytes.Index(msg, []byte("\r\n\r\n")); i >= 0 {
		return i + 4
	}
	return len(msg)
}

// headerSize is the size that smtp.max_header_bytes limits: the header
// fields of header (as headerEnd cuts it) with their line ends, without
// the empty line that ends them.
func headerSize(header []byte) int {
	if bytes.HasSuffix(header, []byte("\r\n\r\n")) {
		return len(header) - 2
	}
	if bytes.Equal(header, []byte("\r\n")) {
		return 0
	}
	return len(header) // no empty line: all of the message is header
}

// headerValue returns the unfolded value of the first header field named
// name (case-insensitively) and whether there is one.
func headerValue(header []byte, name string) (string, bool) {
	lines := strings.Split(string(header), "\r\n")
	for i := 0; i < len(lines); i++ {
		if lines[i] == "" || lines[i][0] == ' ' || lines[i][0] == '\t' {
			continue // a continuation line (or the end), not a field
		}
		k, v, ok := strings.Cut(lines[i], ":")
		// (Only spaces and tabs around the name, as go-message reads it.)
		if !ok || !ingress.SameFieldName(strings.Trim(k, " \t"), name) {
			continue
		}
		// The continuation lines joined at once: v += line for each copied
		// the value once per line (issue 13).
		j := i + 1
		for j < len(lines) && len(lines[j]) > 0 && (lines[j][0] == ' ' || lines[j][0] == '\t') {
			j++
		}
		if j > i+1 {
			v += strings.Join(lines[i+1:j], "")
		}
		return strings.TrimSpace(v), true
	}
	return "", false
}

// newMessageID makes a Message-ID for messages that come without one.
func newMessageID(hostname string) string {
	var b [12]byte
	rand.Read(b[:])
	return "<" + hex.EncodeToString(b[:]) + "@" + hostname + ">"
}

// receivedHeader is the trace field prepended to every accepted message
// (RFC 5321 §4.4, protocol names of RFC 3848).
func receivedHeader(helo string, ip netip.Addr, by, id string, tls, auth bool, at time.Time) string {
	proto := "ESMTP"
	if tls {
		proto += "S"
	}
	if auth {
		proto += "A"
	}
	return fmt.Sprintf("Received: from %s ([%s])\r\n\tby %s (careerrelay) with %s id %s;\r\n\t%s\r\n",
		sanitizeHelo(helo), ip, by, proto, id, at.Format(time.RFC1123Z))
}

// sanitizeHelo keeps a client's HELO argument from breaking the header.
func sanitizeHelo(h string) string {
	h = strings.Map(func(r rune) rune {
		if r < 0x21 || r > 0x7e || r == '(' || r == ')' {
			return -1
		}
		return r
	}, h)
	if h == "" {
		return "unknown"
	}
	if len(h) > 255 {
		h = h[:255]
	}
	return h
}
