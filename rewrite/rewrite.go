// Package rewrite replaces a tenant's template tag in a mail with a
// recipient's link, changing nothing else. It is pure (bytes in, bytes
// out): it imports nothing of careerrelay, and the link it splices in is
// made by its caller.
//
// Prepare parses a message once: it walks the MIME tree the way go-message
// reads it (so both agree on every part's bytes), undoes the transfer
// encoding of each eligible text part (text/plain and text/html that is not
// an attachment, not inside an attached message/rfc822 and not inside a
// signed or encrypted multipart), and finds the tag at character boundaries
// of the part's own charset, without ever converting the text to Unicode and
// back. Render then splices a link into those places for each recipient:
// parts without the tag are copied byte for byte, changed parts keep their
// charset, transfer encoding and headers.
//
// Forms of the tag that are found:
//   - text/plain: the tag as written, also when quoted-printable soft line
//     breaks or format=flowed soft breaks split it; it becomes the link.
//   - text/html: each character of the tag may also be written as a
//     character reference (&#91; &#x5B; &lsqb; …) or percent-encoded (%5B,
//     any case). In an attribute value (href) it becomes the link; in text it
//     becomes <a href="link">link</a>, except inside an existing <a> element,
//     where it becomes the link (anchors do not nest). In comments, titles
//     and raw-text elements it becomes the link.
//
// Line length: a changed quoted-printable part is re-encoded only on the
// encoded lines that hold a tag, at most 76 columns, with the link kept on
// one encoded line whenever it fits in 75 columns (a longer one is split by
// soft line breaks, which every decoder rejoins). A base64 part is
// re-encoded whole at 76 columns. A 7bit/8bit/binary part is spliced in
// place; if a line would then exceed 998 octets it is broken next to the
// link, in front of it if that is enough, else also behind it:
//   - text/plain: with a CRLF (a new line in the text, the one change this
//     allows);
//   - format=flowed: with a flowed soft break (its space is the one next to
//     the link when there is one, else an added space, which DelSp=yes
//     removes again); the quote marks are repeated;
//   - HTML: inside markup, as "<a \r\nhref=…>…</a\r\n>" or around the
//     attribute holding the link (inside its value, in front of the link,
//     only if the value alone is too long: URL parsers drop the break), so
//     that no text changes; elsewhere (text inside an <a>, a title, a
//     comment, script, style) with CRLFs around the link, which HTML reads
//     as white space (a string in CSS or script would break, but less than
//     if a relay broke the line anywhere).
//
// Not rewritten: the Subject and other headers, preambles and epilogues,
// attachments (Content-Disposition: attachment), attached messages
// (message/rfc822 and the like), multipart/signed and multipart/encrypted
// content (a change would break the signature), parts whose transfer
// encoding go-message cannot decode, and parts in the charsets below that
// are not supported.
//
// Charsets: UTF-8, US-ASCII and ASCII-compatible single-byte charsets,
// EUC-JP, Shift_JIS/CP932 (a double-byte character's trail byte may be '['
// and is never taken for the tag) and ISO-2022-JP with its vendor variants
// (the tag is only seen in the ASCII/JIS-Roman state; the link is written in
// ASCII state, escape sequences are restored after it). Character
// boundaries are those of the golang.org/x/text decoders that go-message
// uses. Parts in other charsets (UTF-16, EBCDIC, GBK, Big5, EUC-KR, unknown
// labels) are left untouched.
package rewrite

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/emersion/go-message/textproto"
)

// maxLink is the longest link Render accepts, also as HTML writes it (each
// & as &amp;); with it, a link alone always fits on a line of 998 octets,
// even as an anchor in HTML, so a line is never broken inside a link.
const maxLink = 400

// ErrParse wraps every error of Prepare about the message: it cannot be
// parsed as MIME the way go-message reads it. The message can still be
// relayed with ReplaceRaw.
var ErrParse = errors.New("rewrite: message cannot be parsed as MIME")

// ErrTag is returned by Prepare and ValidTag for a tag this package cannot
// find reliably.
var ErrTag = errors.New("rewrite: invalid tag")

// ErrLink is returned by Render for a link it will not write.
var ErrLink = errors.New("rewrite: invalid link")

// A Template is a parsed message with the places of its tag. It is
// immutable: Render may be called from several goroutines at once.
type Template struct {
	msg      []byte
	tag      string
	hdr      textproto.Header // the message's header section, as go-message reads it
	parts    []*textPart      // parts holding the tag, in message order
	count    int
	failures []string // one reason for each part that holds the tag but is left as it is
}

// Reasons a part that holds the tag is left as it is (Template.Failures).
const (
	ReasonCharset  = "charset"  // a text part in a charset the rewriter does not write
	ReasonEncoding = "encoding" // a text part whose transfer encoding is broken
	ReasonTNEF     = "tnef"     // a TNEF body (winmail.dat), which Outlook shows as it is
	ReasonSigned   = "signed"   // signed content (multipart/signed), which a change would break
)

// ValidTag reports whether tag can be used: 1 to 200 printable ASCII
// characters without white space and without & % < > " ' (which HTML and
// URLs would spell in other ways).
func ValidTag(tag string) error {
	if len(tag) == 0 || len(tag) > 200 {
		return fmt.Errorf("%w: length %d (1 to 200)", ErrTag, len(tag))
	}
	for i := 0; i < len(tag); i++ {
		c := tag[i]
		if c <= ' ' || c >= 0x7f {
			return fmt.Errorf("%w: %q: only printable ASCII without spaces", ErrTag, tag)
		}
		switch c {
		case '&', '%', '<', '>', '"', '\'':
			return fmt.Errorf("%w: %q: the character %q is not allowed", ErrTag, tag, c)
		}
	}
	return nil
}

// Prepare parses msg (headers and body, CRLF line endings) and finds the
// tag in its eligible parts. It returns an error wrapping ErrParse only when
// msg cannot be parsed as MIME, or ErrTag for an invalid tag. Prepare keeps
// msg; the caller must not change it afterwards.
func Prepare(msg []byte, tag string) (*Template, error) {
	if err := ValidTag(tag); err != nil {
		return nil, err
	}
	hdr, leaves, err := parseMessage(msg)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrParse, err)
	}
	t := &Template{msg: msg, tag: tag, hdr: hdr}
	for i := range leaves {
		p, failure := prepareLeaf(msg, &leaves[i], tag)
		if failure != "" {
			t.failures = append(t.failures, failure)
		}
		if p == nil {
			continue
		}
		t.parts = append(t.parts, p)
		for _, o := range p.occ {
			if o.kind != kindDrop {
				t.count++
			}
		}
	}
	return t, nil
}

// Header is the message's header section as go-message reads it, for a
// caller that needs a field of it (the From, the display names of To)
// without parsing the message again. It must not be changed.
func (t *Template) Header() textproto.Header { return t.hdr }

// Tagged reports whether the tag occurs in at least one eligible part.
func (t *Template) Tagged() bool { return t.count > 0 }

// Count is the number of places Render fills with the link.
func (t *Template) Count() int { return t.count }

// Skipped is the number of parts that hold the tag but that Render leaves
// as they are (see Failures).
func (t *Template) Skipped() int { return len(t.failures) }

// Failures gives, for each part that holds the tag but that Render leaves
// as it is, the reason: ReasonCharset or ReasonEncoding for a text part
// that cannot be read safely, ReasonTNEF for a TNEF body, ReasonSigned for
// signed content. The caller counts and logs them (or falls back to
// ReplaceRaw); the message is still delivered.
func (t *Template) Failures() []string { return t.failures }

// Render returns the message with every eligible occurrence of the tag
// replaced by link. When the message is not tagged it returns the prepared
// message itself (same bytes, same slice). The link must be an absolute
// URL of at most 400 characters from the set A-Z a-z 0-9 - . _ ~ : / ? # @
// ! $ & ( ) * + , ; = %, and of at most 400 characters too with each &
// written as &amp; (as HTML has it).
func (t *Template) Render(link string) ([]byte, error) {
	if !t.Tagged() {
		if err := validLink(link); err != nil {
			return nil, err
		}
		return t.msg, nil
	}
	return t.AppendRender(make([]byte, 0, t.sizeHint(link)), link)
}

// AppendRender appends the rendered message to dst, so that a caller
// rendering many copies can reuse one buffer.
func (t *Template) AppendRender(dst []byte, link string) ([]byte, error) {
	if err := validLink(link); err != nil {
		return nil, err
	}
	cur := 0
	for _, p := range t.parts {
		dst = append(dst, t.msg[cur:p.bodyStart]...)
		dst = p.render(dst, t.msg[p.bodyStart:p.bodyEnd], link)
		cur = p.bodyEnd
	}
	return append(dst, t.msg[cur:]...), nil
}

// WriteRender writes the rendered message to w without holding it whole:
// the octets between tagged parts are written from the prepared message as
// they are, and each tagged part is rendered on its own (a caller rendering
// a large message into a file). It writes what AppendRender appends.
func (t *Template) WriteRender(w io.Writer, link string) (int64, error) {
	if err := validLink(link); err != nil {
		return 0, err
	}
	var n int64
	write := func(b []byte) error {
		k, err := w.Write(b)
		n += int64(k)
		return err
	}
	var part []byte
	cur := 0
	for _, p := range t.parts {
		if err := write(t.msg[cur:p.bodyStart]); err != nil {
			return n, err
		}
		part = p.render(part[:0], t.msg[p.bodyStart:p.bodyEnd], link)
		if err := write(part); err != nil {
			return n, err
		}
		cur = p.bodyEnd
	}
	return n, write(t.msg[cur:])
}

// SizeHint is a generous estimate of the size Render gives for link: a
// capacity for AppendRender's buffer.
func (t *Template) SizeHint(link string) int { return t.sizeHint(link) }

// sizeHint is a generous estimate of the rendered size.
func (t *Template) sizeHint(link string) int {
	n := len(t.msg)
	for _, p := range t.parts {
		n += len(p.occ) * (3*len(link) + 64)
		if p.cte == cteBase64 {
			n += (p.bodyEnd-p.bodyStart)/3 + 16
		}
	}
	return n
}

// CheckLink reports whether Render accepts link (see Render), so that a
// caller can choose its links before rendering.
func CheckLink(link string) error { return validLink(link) }

// validLink checks the link Render writes: it must need no escaping other
// than & in HTML and must fit on a line.
func validLink(link string) error {
	if len(link) == 0 || len(link) > maxLink {
		return fmt.Errorf("%w: length %d (1 to %d)", ErrLink, len(link), maxLink)
	}
	for i := 0; i < len(link); i++ {
		if !linkByte(link[i]) {
			return fmt.Errorf("%w: character %q at %d", ErrLink, link[i], i)
		}
	}
	if n := len(link) + 4*strings.Count(link, "&"); n > maxLink {
		return fmt.Errorf("%w: length %d in HTML, with each & as &amp; (1 to %d)", ErrLink, n, maxLink)
	}
	return nil
}

func linkByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '-', '.', '_', '~', ':', '/', '?', '#', '@', '!', '$', '&', '(', ')', '*', '+', ',', ';', '=', '%':
		return true
	}
	return false
}

// ReplaceRaw is the fallback for a message Prepare could not parse: every
// occurrence of tag in the raw body (after the first empty line; a message
// without one is all header) becomes link, and the number of replacements
// is returned. The header section is left alone: a tag in the Subject or
// another field is not replaced. Where the links make a line longer than
// 998 octets, it is broken with a CRLF next to a link, as in text/plain (a
// relay would otherwise break it anywhere, perhaps inside a link). Nothing
// else changes; when there is no occurrence msg itself is returned.
func ReplaceRaw(msg []byte, tag, link string) ([]byte, int) {
	if tag == "" {
		return msg, 0
	}
	t := []byte(tag)
	start := rawBodyStart(msg)
	n := bytes.Count(msg[start:], t)
	if n == 0 {
		return msg, 0
	}
	out := make([]byte, 0, len(msg)+n*(len(link)-len(tag)))
	out = append(out, msg[:start]...)
	body := msg[start:]
	var cands []cand
	for {
		i := bytes.Index(body, t)
		if i < 0 {
			break
		}
		out = append(out, body[:i]...)
		cands = append(cands, cand{len(out) - start, "\r\n", rankBefore})
		out = append(out, link...)
		cands = append(cands, cand{len(out) - start, "\r\n", rankAfter})
		body = body[i+len(tag):]
	}
	out = append(out, body...)
	if len(link) > len(tag) && maxLineLen(out[start:]) > maxLine {
		out = append(out[:start:start], breakLines(out[start:], cands)...)
	}
	return out, n
}

// rawBodyStart is the offset of the body: just past the first empty line
// (CRLF or bare LF), or len(msg) when there is none. A message that starts
// with an empty line has no header.
func rawBodyStart(msg []byte) int {
	for i := 0; i < len(msg); {
		j := bytes.IndexByte(msg[i:], '\n')
		if j < 0 {
			return len(msg)
		}
		line := msg[i : i+j]
		if len(line) == 0 || (len(line) == 1 && line[0] == '\r') {
			return i + j + 1
		}
		i += j + 1
	}
	return len(msg)
}
