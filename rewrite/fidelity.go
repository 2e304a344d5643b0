package rewrite

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"html"
	"io"
	"regexp"
	"strings"

	"github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset" // go-message's charset decoders
	"github.com/emersion/go-message/textproto"
	"golang.org/x/text/encoding/japanese"
)

// CheckFidelity verifies that out is in with tag replaced by link as this
// package promises, reading both with go-message rather than with the
// rewriter's own code wherever it can:
//   - go-message reads in and out into the same leaves with the same
//     headers, and the rewriter's parser agrees with it on every body;
//   - out is in with only the bodies of eligible text parts changed: every
//     other byte (headers, preambles, boundaries, epilogues, other parts)
//     is identical;
//   - each eligible part, decoded with go-message (transfer encoding and
//     charset), reads as the input text with every tag replaced: in
//     text/plain by the link (format=flowed compared unflowed), in HTML
//     each spelling of the tag (literal, character references as
//     html.UnescapeString reads them, percent-encoding) by the link or an
//     anchor to it: in text, comments and raw text, and inside tags only in
//     href and src values; in text also where inline markup splits its
//     characters (the text of such a run goes, its markup stays). It reads
//     HTML with golang.org/x/net/html's tokenizer (expectedHTML). Where a line had to be broken in a 7bit/8bit part, only
//     line breaks (and in flowed text a space) next to a link may be added;
//   - a changed part has no line longer than 998 octets unless it had one
//     before, and a changed quoted-printable part keeps to 76 columns if it
//     did (everything else is unchanged).
//
// It returns nil or the first difference found.
func CheckFidelity(in, out []byte, tag, link string) error {
	_, leaves, err := parseMessage(in)
	if err != nil {
		return fmt.Errorf("input: %w", err)
	}
	gin, err := goMessageLeaves(in)
	if err != nil {
		return fmt.Errorf("go-message cannot read the input: %v", err)
	}
	gout, err := goMessageLeaves(out)
	if err != nil {
		return fmt.Errorf("go-message cannot read the output: %v", err)
	}
	if len(gin) != len(leaves) || len(gout) != len(leaves) {
		return fmt.Errorf("parts: rewriter %d, go-message input %d, output %d", len(leaves), len(gin), len(gout))
	}
	rebuilt := make([]byte, 0, len(out))
	cur := 0
	for i, lf := range leaves {
		if !bytes.Equal(in[lf.bodyStart:lf.bodyEnd], gin[i].body) {
			return fmt.Errorf("part %d: the rewriter and go-message disagree on its body", i)
		}
		if err := sameHeader(gin[i].hdr, gout[i].hdr); err != nil {
			return fmt.Errorf("part %d: %v", i, err)
		}
		rebuilt = append(rebuilt, in[cur:lf.bodyStart]...)
		rebuilt = append(rebuilt, gout[i].body...)
		cur = lf.bodyEnd
	}
	rebuilt = append(rebuilt, in[cur:]...)
	if !bytes.Equal(rebuilt, out) {
		return errors.New("bytes outside the bodies of the parts changed")
	}
	for i := range leaves {
		if err := checkLeaf(gin[i], gout[i], tag, link); err != nil {
			return fmt.Errorf("part %d: %v", i, err)
		}
	}
	return nil
}

type gleaf struct {
	hdr  textproto.Header
	body []byte
}

// goMessageLeaves reads b with go-message's textproto, into the leaves the
// rewriter sees (it does not descend into signed or encrypted multiparts).
func goMessageLeaves(b []byte) ([]gleaf, error) {
	br := bufio.NewReader(bytes.NewReader(b))
	h, err := textproto.ReadHeader(br)
	if err != nil {
		return nil, err
	}
	var out []gleaf
	err = gwalk(h, br, 0, &out)
	return out, err
}

func gwalk(h textproto.Header, body io.Reader, depth int, out *[]gleaf) error {
	mh := message.Header{Header: h}
	mt, params, _ := mh.ContentType()
	if !strings.HasPrefix(mt, "multipart/") || opaqueMultipart(mt) {
		raw, err := io.ReadAll(body)
		if err != nil {
			return err
		}
		*out = append(*out, gleaf{hdr: h, body: raw})
		return nil
	}
	if depth >= maxDepth {
		return errors.New("too deep")
	}
	mr := textproto.NewMultipartReader(body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := gwalk(p.Header, p, depth+1, out); err != nil {
			return err
		}
	}
}

func sameHeader(a, b textproto.Header) error {
	fa, fb := a.Fields(), b.Fields()
	for fa.Next() {
		if !fb.Next() {
			return errors.New("a header field went missing")
		}
		ra, _ := fa.Raw()
		rb, _ := fb.Raw()
		if !bytes.Equal(ra, rb) {
			return fmt.Errorf("header field %s changed", fa.Key())
		}
	}
	if fb.Next() {
		return errors.New("a header field was added")
	}
	return nil
}

func checkLeaf(in, out gleaf, tag, link string) error {
	same := bytes.Equal(in.body, out.body)
	pi, ok := leafInfo(in.hdr)
	if !ok {
		if !same {
			return errors.New("a part that is not eligible changed")
		}
		return nil
	}
	a, ok := decodeText(in.hdr, in.body, pi)
	if !ok {
		if !same {
			return errors.New("a part that cannot be decoded changed")
		}
		return nil
	}
	b, ok := decodeText(out.hdr, out.body, pi)
	if !ok {
		return errors.New("the changed part cannot be decoded")
	}
	breaks := pi.cte == cteIdentity
	var err error
	if pi.html {
		err = checkHTML(a, b, tag, link, breaks)
	} else {
		err = checkPlain(a, b, tag, link, pi, breaks)
	}
	if err != nil {
		return err
	}
	if same {
		return nil
	}
	if maxLineLen(in.body) <= maxLine {
		if n := maxLineLen(out.body); n > maxLine {
			return fmt.Errorf("line of %d octets", n)
		}
	}
	if pi.cte == cteQP && maxLineLen(in.body) <= 76 {
		if n := maxLineLen(out.body); n > 76 {
			return fmt.Errorf("quoted-printable line of %d columns", n)
		}
	}
	return nil
}

// decodeText decodes a part's body to UTF-8 with go-message. The labels go-message
// does not know (extraCharsets) and unlabelled ISO-2022-JP are decoded
// with golang.org/x/text directly, as the rewriter reads them.
func decodeText(h textproto.Header, body []byte, pi partInfo) (string, bool) {
	// The transfer decoding alone, to classify the charset as the
	// rewriter does.
	bin := textproto.Header{}
	bin.Set("Content-Type", "application/octet-stream")
	bin.Set("Content-Transfer-Encoding", h.Get("Content-Transfer-Encoding"))
	e, err := message.New(message.Header{Header: bin}, bytes.NewReader(body))
	if err != nil {
		return "", false
	}
	td, err := io.ReadAll(e.Body)
	if err != nil {
		return "", false
	}
	switch charsetKind(pi.charset, pi.hasCharset, td) {
	case csUnsupported:
		return "", false
	case csISO2022JP:
		if !pi.hasCharset || strings.EqualFold(pi.charset, "us-ascii") {
			s, err := japanese.ISO2022JP.NewDecoder().Bytes(td)
			return string(s), err == nil
		}
	}
	if pi.hasCharset && !fromGoMessage(pi.charset) {
		enc, _ := lookupEncoding(pi.charset)
		s, err := enc.NewDecoder().Bytes(td)
		return string(s), err == nil
	}
	e, err = message.New(message.Header{Header: h}, bytes.NewReader(body))
	if err != nil {
		return "", false
	}
	s, err := io.ReadAll(e.Body)
	return string(s), err == nil
}

// placeholder stands for the link on both sides of a comparison.
const placeholder = "\x00LINK\x00"

func checkPlain(a, b, tag, link string, pi partInfo, breaks bool) error {
	if pi.flowed {
		a, b = unflowText(a, pi.delsp), unflowText(b, pi.delsp)
	}
	a = strings.ReplaceAll(strings.ReplaceAll(a, link, placeholder), tag, placeholder)
	b = strings.ReplaceAll(b, link, placeholder)
	allowed := []string(nil)
	if breaks {
		allowed = []string{"\r\n"}
		if pi.flowed {
			allowed = []string{" "}
		}
	}
	return sameModuloInsertions(a, b, allowed)
}

func checkHTML(a, b, tag, link string, breaks bool) error {
	esc := strings.ReplaceAll(link, "&", "&amp;")
	links := func(s string) string {
		s = strings.ReplaceAll(s, "<a \r\nhref=\"", anchorOpen)
		s = strings.ReplaceAll(s, "</a\r\n>", anchorEnd)
		return strings.ReplaceAll(strings.ReplaceAll(s, esc, placeholder), link, placeholder)
	}
	anchors := func(s string) string {
		return strings.ReplaceAll(s, anchorOpen+placeholder+anchorMid+placeholder+anchorEnd, placeholder)
	}
	want := expectedHTML(links(a), tag)
	got := anchors(links(b))
	var allowed []string
	if breaks {
		allowed = []string{"\r\n"}
	}
	// An input that already held an anchor to the link reads as one
	// placeholder once collapsed; but collapsing the expected text can
	// also join markup of the input with a placeholder next to it (an
	// element named "a<a" followed by the tag). Either reading that
	// matches is the promised output.
	err := sameModuloInsertions(anchors(want), got, allowed)
	if err != nil && sameModuloInsertions(want, got, allowed) == nil {
		return nil
	}
	return err
}

var (
	reNumRef   = regexp.MustCompile(`^&#(?:[0-9]+|[xX][0-9a-fA-F]+);?`)
	reNamedRef = regexp.MustCompile(`^&[A-Za-z][A-Za-z0-9]*;`)
	rePercent  = regexp.MustCompile(`^%[0-9a-fA-F]{2}`)
)

// replaceTagForms replaces each spelling of tag in HTML source s (leftmost
// first, not overlapping) by the placeholder.
func replaceTagForms(s, tag string) string {
	var sb strings.Builder
	for i := 0; i < len(s); {
		if n := matchTagForm(s[i:], tag); n > 0 {
			sb.WriteString(placeholder)
			i += n
			continue
		}
		sb.WriteByte(s[i])
		i++
	}
	return sb.String()
}

func matchTagForm(s, tag string) int {
	j := 0
	for k := 0; k < len(tag); k++ {
		c := string(tag[k])
		rest := s[j:]
		switch {
		case strings.HasPrefix(rest, c):
			j++
		case strings.HasPrefix(rest, "%"):
			m := rePercent.FindString(rest)
			if m == "" || percentValue(m) != tag[k] {
				return 0
			}
			j += len(m)
		case strings.HasPrefix(rest, "&"):
			m := reNumRef.FindString(rest)
			if m == "" {
				m = reNamedRef.FindString(rest)
			}
			if m == "" || html.UnescapeString(m) != c {
				return 0
			}
			j += len(m)
		default:
			return 0
		}
	}
	return j
}

func percentValue(m string) byte {
	h, _ := unhex(m[1])
	l, _ := unhex(m[2])
	return h<<4 | l
}

// sameModuloInsertions reports whether got is want with some of the
// allowed strings inserted (at most two per link).
func sameModuloInsertions(want, got string, allowed []string) error {
	budget := 2 * strings.Count(want, placeholder)
	i, j := 0, 0
	for i < len(want) || j < len(got) {
		if i < len(want) && j < len(got) && want[i] == got[j] {
			i, j = i+1, j+1
			continue
		}
		skipped := false
		for _, s := range allowed {
			if budget > 0 && strings.HasPrefix(got[j:], s) {
				j += len(s)
				budget--
				skipped = true
				break
			}
		}
		if !skipped {
			return fmt.Errorf("text differs at %d: want %q, got %q", i, excerpt(want, i), excerpt(got, j))
		}
	}
	return nil
}

func excerpt(s string, i int) string {
	a, b := max(0, i-30), min(len(s), i+30)
	return s[a:b]
}

// unflowText joins the soft-broken lines of format=flowed text (RFC 3676)
// and drops quote marks and space-stuffing of every line, writing each
// logical line as its quote depth in '>' and its text.
func unflowText(s string, delsp bool) string {
	lines := strings.Split(s, "\n")
	var sb strings.Builder
	open := false // a soft-broken line continues
	prevDepth := 0
	for i, line := range lines {
		line = strings.TrimSuffix(line, "\r")
		depth := 0
		for depth < len(line) && line[depth] == '>' {
			depth++
		}
		text := strings.TrimPrefix(line[depth:], " ")
		if open && depth != prevDepth {
			sb.WriteByte('\n')
			open = false
		}
		if !open {
			sb.WriteString(strings.Repeat(">", depth))
			sb.WriteByte('|')
		}
		soft := strings.HasSuffix(text, " ") && text != "-- " && i+1 < len(lines)
		if soft && delsp {
			text = text[:len(text)-1]
		}
		sb.WriteString(text)
		if soft {
			open, prevDepth = true, depth
		} else {
			sb.WriteByte('\n')
			open = false
		}
	}
	return sb.String()
}

func maxLineLen(b []byte) int {
	m := 0
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		line := b
		if i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		m = max(m, len(line))
	}
	return m
}
