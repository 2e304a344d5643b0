package rewrite

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/textproto"
)

// The MIME walk below reproduces how go-message reads a message (its
// textproto.ReadHeader and MultipartReader), so that the parts found here
// are exactly the parts any go-message reader sees: where go-message fails,
// so does parseMessage. Byte offsets are kept so that Render can splice.

const (
	maxDepth       = 64            // nested multiparts
	maxHeaderBytes = 1<<20 - 8<<10 // go-message refuses headers over 1 MiB
	maxBoundary    = 1000          // longer boundaries do not fit go-message's 4 KiB buffer
	sliceLimit     = 4096          // go-message's bufio.Reader.ReadSlice limit on boundary lines
)

// A leaf is a part that is not itself a multipart go-message descends into:
// a text or binary part, an attached message, or a signed/encrypted
// multipart whose content we must not change.
type leaf struct {
	hdr       textproto.Header
	hdrStart  int
	bodyStart int
	bodyEnd   int
}

var readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4096) }}

// readHeader reads a header block at the start of b the way go-message
// does, and returns it with the number of bytes it used.
func readHeader(b []byte) (textproto.Header, int, error) {
	rd := bytes.NewReader(b)
	br := readers.Get().(*bufio.Reader)
	br.Reset(rd)
	h, err := textproto.ReadHeader(br)
	n := len(b) - rd.Len() - br.Buffered()
	br.Reset(nil)
	readers.Put(br)
	return h, n, err
}

// parseMessage returns the header of msg and its leaves in order.
func parseMessage(msg []byte) (textproto.Header, []leaf, error) {
	h, n, err := readHeader(msg)
	if err != nil {
		return textproto.Header{}, nil, fmt.Errorf("header: %v", err)
	}
	if n > maxHeaderBytes {
		return textproto.Header{}, nil, errors.New("header larger than 1 MiB")
	}
	var leaves []leaf
	err = walk(msg, leaf{hdr: h, hdrStart: 0, bodyStart: n, bodyEnd: len(msg)}, 0, &leaves)
	return h, leaves, err
}

// opaqueMultipart reports a multipart whose parts must stay as they are:
// changing signed content breaks the signature, encrypted content cannot
// be read.
func opaqueMultipart(mediaType string) bool {
	return mediaType == "multipart/signed" || mediaType == "multipart/encrypted"
}

func walk(msg []byte, e leaf, depth int, leaves *[]leaf) error {
	mh := message.Header{Header: e.hdr}
	mt, params, _ := mh.ContentType()
	if !strings.HasPrefix(mt, "multipart/") || opaqueMultipart(mt) {
		*leaves = append(*leaves, e)
		return nil
	}
	if depth >= maxDepth {
		return errors.New("multiparts nested too deeply")
	}
	body := msg[e.bodyStart:e.bodyEnd]
	parts, err := splitMultipart(body, params["boundary"])
	if err != nil {
		return err
	}
	for _, p := range parts {
		p.hdrStart += e.bodyStart
		p.bodyStart += e.bodyStart
		p.bodyEnd += e.bodyStart
		if err := walk(msg, p, depth+1, leaves); err != nil {
			return err
		}
	}
	return nil
}

// splitMultipart returns the parts of a multipart body, with offsets into b
// (a body ends before the line break that belongs to the next delimiter),
// following textproto.MultipartReader.
func splitMultipart(b []byte, boundary string) ([]leaf, error) {
	if boundary == "" {
		return nil, errors.New("multipart without boundary")
	}
	if len(boundary) > maxBoundary {
		return nil, errors.New("multipart boundary too long")
	}
	m := newMultipartScanner(boundary)
	var parts []leaf
	pos := 0
	for {
		// NextPart: read lines until a delimiter line.
		expectNewPart := false
		start := -1
		for start < 0 {
			line, eof, err := readSlice(b, pos)
			if err != nil {
				return nil, err
			}
			if eof && m.isFinal(line) {
				return parts, nil
			}
			if eof {
				return nil, errors.New("multipart: unexpected end before the closing boundary")
			}
			pos += len(line)
			switch {
			case m.isDelimiter(line, len(parts) == 0):
				start = pos
			case m.isFinal(line):
				return parts, nil
			case expectNewPart:
				return nil, fmt.Errorf("multipart: expecting a new part; got line %q", clip(line))
			case len(parts) == 0:
				// preamble
			case bytes.Equal(line, m.nl):
				expectNewPart = true
			default:
				return nil, fmt.Errorf("multipart: unexpected line %q", clip(line))
			}
		}
		h, n, err := readHeader(b[start:])
		if err != nil {
			return nil, fmt.Errorf("part header: %v", err)
		}
		end, err := m.bodyEnd(b, start+n)
		if err != nil {
			return nil, err
		}
		parts = append(parts, leaf{hdr: h, hdrStart: start, bodyStart: start + n, bodyEnd: end})
		pos = end
	}
}

func clip(b []byte) []byte {
	if len(b) > 40 {
		return b[:40]
	}
	return b
}

// readSlice returns the line at pos including its '\n' (eof: there is none),
// failing where bufio.Reader.ReadSlice would fill its 4 KiB buffer.
func readSlice(b []byte, pos int) (line []byte, eof bool, err error) {
	rest := b[pos:]
	i := bytes.IndexByte(rest, '\n')
	if i < 0 {
		if len(rest) > sliceLimit {
			return nil, false, errors.New("multipart: line too long")
		}
		return rest, true, nil
	}
	if i+1 > sliceLimit {
		return nil, false, errors.New("multipart: line too long")
	}
	return rest[:i+1], false, nil
}

type multipartScanner struct {
	nl, nlDashBoundary, dashBoundaryDash, dashBoundary []byte
}

func newMultipartScanner(boundary string) *multipartScanner {
	b := []byte("\r\n--" + boundary + "--")
	return &multipartScanner{
		nl:               b[:2],
		nlDashBoundary:   b[:len(b)-2],
		dashBoundaryDash: b[2:],
		dashBoundary:     b[2 : len(b)-2],
	}
}

func skipLWSP(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	return b
}

func (m *multipartScanner) isFinal(line []byte) bool {
	if !bytes.HasPrefix(line, m.dashBoundaryDash) {
		return false
	}
	rest := skipLWSP(line[len(m.dashBoundaryDash):])
	return len(rest) == 0 || bytes.Equal(rest, m.nl)
}

// isDelimiter also switches to bare-LF mode on a first delimiter line that
// ends in LF, as go-message does.
func (m *multipartScanner) isDelimiter(line []byte, first bool) bool {
	if !bytes.HasPrefix(line, m.dashBoundary) {
		return false
	}
	rest := skipLWSP(line[len(m.dashBoundary):])
	if first && len(rest) == 1 && rest[0] == '\n' {
		m.nl = m.nl[1:]
		m.nlDashBoundary = m.nlDashBoundary[1:]
	}
	return bytes.Equal(rest, m.nl)
}

// matchAfter reports whether the prefix at the start of buf ends a part
// body: it is followed by white space, a line break, '-' or the end.
func matchAfter(buf []byte, n int) bool {
	if len(buf) == n {
		return true
	}
	switch buf[n] {
	case ' ', '\t', '\r', '\n', '-':
		return true
	}
	return false
}

// bodyEnd finds where the body starting at start ends, as
// textproto's scanUntilBoundary does.
func (m *multipartScanner) bodyEnd(b []byte, start int) (int, error) {
	from := start
	if bytes.HasPrefix(b[start:], m.dashBoundary) {
		if matchAfter(b[start:], len(m.dashBoundary)) {
			return start, nil
		}
		from = start + len(m.dashBoundary)
	}
	for {
		i := bytes.Index(b[from:], m.nlDashBoundary)
		if i < 0 {
			return 0, errors.New("multipart: part without a closing boundary")
		}
		if matchAfter(b[from+i:], len(m.nlDashBoundary)) {
			return from + i, nil
		}
		from += i + len(m.nlDashBoundary)
	}
}
