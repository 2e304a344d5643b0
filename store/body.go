package store

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/careerrelay/careerrelay/internal/bufpool"
)

// Body is the body of a queued message: inline bytes, a spool file, or
// (for a copy made at delivery) an open temporary file; any of them may
// have a prefix in front, the copy's signatures.
type Body struct {
	prefix []byte   // octets before the rest (DKIM-Signature fields)
	inline []byte   // the rest, when held in memory
	path   string   // the rest is this spool file; "" otherwise
	file   *os.File // the rest is the first size-len(prefix) octets of this open file
	size   int64    // the whole length, prefix included
	// pooled is inline's buffer when Tx.Body took it from bodyBufs: Release
	// gives it back. A Body made from it (WithPrefix) does not own it.
	pooled *[]byte
}

// bodyBufs recycles the copies Tx.Body makes of inline bodies: each one
// lives only while its copy is delivered, and delivery gives it back
// (Release). Up to 64 of up to 64 KiB are kept, across garbage
// collections; a larger body's copy is left to the collector.
var bodyBufs = bufpool.New(64, 16<<10, 64<<10)

// pooledCopy returns a copy of v in a buffer from bodyBufs.
func pooledCopy(v []byte) Body {
	buf := bodyBufs.Get()
	b := append((*buf)[:0], v...)
	return Body{inline: b, size: int64(len(b)), pooled: buf}
}

// Release gives the memory of a body read by Tx.Body back for reuse. The
// body, every Body made from it and every slice of it must not be used
// afterwards. It does nothing for other bodies.
func (b Body) Release() {
	if b.pooled == nil {
		return
	}
	*b.pooled = b.inline[:0]
	bodyBufs.Put(b.pooled)
}

// InlineBody is a Body held in memory (small bodies, tests).
func InlineBody(b []byte) Body { return Body{inline: b, size: int64(len(b))} }

// FileBody is a Body read from the first size octets of the open file f
// (a copy rendered at delivery into an unlinked temporary file). The caller
// keeps f open while the body is read and closes it afterwards.
func FileBody(f *os.File, size int64) Body { return Body{file: f, size: size} }

// WithPrefix returns b with p in front of its first octet.
func (b Body) WithPrefix(p []byte) Body {
	if len(p) == 0 {
		return b
	}
	b.prefix = append(p[:len(p):len(p)], b.prefix...)
	b.size += int64(len(p))
	b.pooled = nil
	return b
}

// Size is the body's length in octets.
func (b Body) Size() int64 { return b.size }

// Spooled says whether the body is read from a file (a spool file, or a
// copy rendered into a temporary file).
func (b Body) Spooled() bool { return b.path != "" || b.file != nil }

// Path is the spool file the body is read from ("" when it is not one):
// for a caller that maps a large stored body to render a copy from it.
func (b Body) Path() string { return b.path }

// Open returns a reader of the whole body. Each call starts at the first
// octet, so a failed attempt can be retried on another connection. The
// caller closes it. A spool file that has gone (the message was deleted
// meanwhile) gives an error that matches fs.ErrNotExist.
func (b Body) Open() (io.ReadCloser, error) {
	var rest io.ReadCloser
	switch {
	case b.file != nil:
		rest = io.NopCloser(io.NewSectionReader(b.file, 0, b.size-int64(len(b.prefix))))
	case b.path != "":
		f, err := os.Open(b.path)
		if err != nil {
			return nil, fmt.Errorf("store: open body: %w", err)
		}
		rest = f
	default:
		rest = io.NopCloser(bytes.NewReader(b.inline))
	}
	if len(b.prefix) == 0 {
		return rest, nil
	}
	return prefixed{io.MultiReader(bytes.NewReader(b.prefix), rest), rest}, nil
}

// prefixed reads a prefix then rest, and closes rest.
type prefixed struct {
	io.Reader
	rest io.Closer
}

func (p prefixed) Close() error { return p.rest.Close() }

// Bytes returns the whole body in memory. Use it for small bodies only
// (tests, capture mode); delivery streams with Open.
func (b Body) Bytes() ([]byte, error) {
	if b.path == "" && b.file == nil && len(b.prefix) == 0 {
		return b.inline, nil
	}
	r, err := b.Open()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	out := make([]byte, 0, b.size)
	buf := bytes.NewBuffer(out)
	_, err = buf.ReadFrom(r)
	return buf.Bytes(), err
}

// Header returns the body's header section (up to and including the empty
// line that ends it), read from the start of the body and at most limit
// octets long. When the section does not end within limit octets (or the
// body has no empty line), it returns the first limit octets (or the whole,
// shorter body). limit must be positive. An inline body's header is a slice
// of it, not a copy.
func (b Body) Header(limit int) ([]byte, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("store: Body.Header: limit %d, want > 0", limit)
	}
	if b.path == "" && b.file == nil && len(b.prefix) == 0 {
		return headerOf(b.inline, limit), nil
	}
	r, err := b.Open()
	if err != nil {
		return nil, fmt.Errorf("store: read header: %w", err)
	}
	defer r.Close()
	buf := make([]byte, int(min(int64(limit), max(b.size, 0))))
	n, err := io.ReadFull(r, buf)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("store: read header: %w", err)
	}
	return headerOf(buf[:n], limit), nil
}

// headerOf cuts b after the empty line that ends its header section (lines
// may end in CRLF or LF), or at limit octets when there is none before.
func headerOf(b []byte, limit int) []byte {
	if len(b) > limit {
		b = b[:limit]
	}
	for pos := 0; pos < len(b); {
		i := bytes.IndexByte(b[pos:], '\n')
		if i < 0 {
			break
		}
		line := b[pos : pos+i]
		pos += i + 1
		if len(line) == 0 || (len(line) == 1 && line[0] == '\r') {
			return b[:pos]
		}
	}
	return b
}
