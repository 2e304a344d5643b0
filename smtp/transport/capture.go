package transport

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/careerrelay/careerrelay/internal/durable"
	"github.com/careerrelay/careerrelay/store"
)

// captureTransport "delivers" by writing each copy into a folder, as a
// local delivery agent would: for development and dry runs.
type captureTransport struct {
	dir string
}

func newCaptureTransport(dir string) (*captureTransport, error) {
	if dir == "" {
		return nil, fmt.Errorf("delivery.capture_dir is required in capture mode")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("delivery.capture_dir: %w", err)
	}
	return &captureTransport{dir: dir}, nil
}

// Name is "capture <folder>".
func (t *captureTransport) Name() string { return "capture " + t.dir }

// Close does nothing: capture mode keeps no connection.
func (t *captureTransport) Close() {}

// Deliver writes <dir>/<queue-id>-<n>.eml for each recipient, n being the
// recipient's position (from 1) in the envelope, so that a retry rewrites
// the same file. A write failure is temporary. Capture mode is for
// development: it reads the whole body into memory, even a spooled one.
func (t *captureTransport) Deliver(_ context.Context, m *store.Message, sb store.Body, rcpts []string) []Result {
	body, err := sb.Bytes()
	if err != nil {
		return resultsFor(rcpts, bodyError(err), "capture")
	}
	eol := "\n"
	if bytes.Contains(body, []byte("\r\n")) {
		eol = "\r\n"
	}
	out := make([]Result, 0, len(rcpts))
	for _, addr := range rcpts {
		n := 0
		for i, r := range m.Rcpts {
			if r.Addr == addr && r.State == store.Pending {
				n = i + 1
				break
			}
		}
		name := fmt.Sprintf("%s-%d.eml", safeName(m.ID), n)
		var b bytes.Buffer
		b.Grow(len(body) + 2*len(addr) + 40)
		fmt.Fprintf(&b, "Return-Path: <%s>%sDelivered-To: %s%s", m.From, eol, addr, eol)
		b.Write(body)
		err := durable.WriteFile(filepath.Join(t.dir, name), b.Bytes(), 0o644)
		r := resultFor(addr, err, "capture")
		if err == nil {
			r.Reply = "250 2.0.0 written to " + name
		}
		out = append(out, r)
	}
	return out
}

// safeName keeps a queue id from naming a path outside the folder.
func safeName(id string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r == 0 {
			return '_'
		}
		return r
	}, id)
}
