package pipeline

import (
	"bufio"
	"fmt"
	"io"
	"os"

	"github.com/careerrelay/careerrelay/internal/spill"
	"github.com/careerrelay/careerrelay/rewrite"
	"github.com/careerrelay/careerrelay/smtp/dkim"
	"github.com/careerrelay/careerrelay/store"
)

// sigRoom is the room left in front of a rendered copy for its DKIM
// signatures, per key (an RSA-2048 field is about 600 octets), so that
// prepending them needs no second copy of the message.
const sigRoom = 1024

// Render makes the copy m from its stored body when it is delivered (stage
// 3 of the package comment): the recipe's tag becomes the copy's link, and
// the tenant's keys sign the result, with t= now. A copy without a recipe
// is sent as stored. The delivery engine calls it for every attempt, and
// calls release once the attempt is over: a large copy is rendered into an
// unlinked temporary file, which release closes.
//
// An error (the tenant is no longer configured, the stored body cannot be
// read) leaves the copy queued: the engine defers it.
func (p *Pipeline) Render(m *store.Message, stored store.Body) (body store.Body, release func(), err error) {
	r := m.Recipe
	if r == nil {
		return stored, func() {}, nil
	}
	var signer *dkim.Signer
	if r.Sign {
		if !p.tenants[m.Tenant] {
			return store.Body{}, nil, fmt.Errorf("tenant %q is no longer configured: its mail is not signed with another key", m.Tenant)
		}
		signer = p.signers[m.Tenant] // nil: the tenant has no keys
	}
	if stored.Spooled() {
		return p.renderFile(r, stored, signer)
	}
	raw, err := stored.Bytes()
	if err != nil {
		return store.Body{}, nil, err
	}
	body, err = renderInline(r, raw, signer)
	return body, func() {}, err
}

// renderInline renders a small copy in memory, with room in front for its
// signatures.
func renderInline(r *store.Recipe, raw []byte, signer *dkim.Signer) (store.Body, error) {
	from := recipeFrom(r, raw)
	if r.Link == "" {
		sigs, err := signer.Signatures(raw, from)
		if err != nil {
			return store.Body{}, err
		}
		return store.InlineBody(raw).WithPrefix(sigs), nil
	}
	tmpl, err := rewrite.Prepare(raw, r.Tag)
	if err != nil {
		return store.Body{}, fmt.Errorf("render: %w", err)
	}
	room := sigRoom * signer.Keys()
	out, err := tmpl.AppendRender(make([]byte, room, room+tmpl.SizeHint(r.Link)), r.Link)
	if err != nil {
		return store.Body{}, fmt.Errorf("render: %w", err)
	}
	copyBody := out[room:]
	sigs, err := signer.Signatures(copyBody, from)
	if err != nil {
		return store.Body{}, err
	}
	if len(sigs) > room {
		return store.InlineBody(copyBody).WithPrefix(sigs), nil
	}
	start := room - len(sigs)
	copy(out[start:], sigs)
	return store.InlineBody(out[start:]), nil
}

// renderFile makes a copy of a large stored body without holding it in
// memory: a copy sent as stored is signed over one read of the spool file,
// and a copy with a link is rendered from a memory map of it into an
// unlinked temporary file, then signed over one read of that.
func (p *Pipeline) renderFile(r *store.Recipe, stored store.Body, signer *dkim.Signer) (store.Body, func(), error) {
	hdr, err := stored.Header(p.maxHeader)
	if err != nil {
		return store.Body{}, nil, err
	}
	from := recipeFrom(r, hdr)
	if r.Link == "" {
		sigs, err := signFile(signer, hdr, stored, from)
		return stored.WithPrefix(sigs), func() {}, err
	}
	out, n, err := p.renderToFile(r, stored)
	if err != nil {
		return store.Body{}, nil, err
	}
	release := func() { out.Close() }
	// Rendering changes no header field: hdr is the copy's header too.
	sigs, err := signer.SignaturesFrom(hdr, io.NewSectionReader(out, 0, n), from)
	if err != nil {
		release()
		return store.Body{}, nil, err
	}
	return store.FileBody(out, n).WithPrefix(sigs), release, nil
}

// recipeFrom is the From domain the copy is signed for: the one found
// when the message was received, or, for a copy queued by an earlier
// version, the one its header (msg's first octets) gives now.
func recipeFrom(r *store.Recipe, msg []byte) string {
	if r.From != "" {
		return r.From
	}
	return fromDomain(header(msg))
}

// signFile returns the signatures of a body read from its file.
func signFile(signer *dkim.Signer, hdr []byte, stored store.Body, from string) ([]byte, error) {
	if signer.Keys() == 0 {
		return nil, nil
	}
	rc, err := stored.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return signer.SignaturesFrom(hdr, rc, from)
}

// renderToFile renders the copy of recipe r from the spool file of stored
// into a new unlinked temporary file, and returns it with its length.
func (p *Pipeline) renderToFile(r *store.Recipe, stored store.Body) (*os.File, int64, error) {
	in, err := os.Open(stored.Path())
	if err != nil {
		return nil, 0, fmt.Errorf("render: %w", err)
	}
	defer in.Close()
	view, unmap, err := spill.Map(in, stored.Size())
	if err != nil {
		return nil, 0, fmt.Errorf("render: %w", err)
	}
	defer unmap()
	tmpl, err := rewrite.Prepare(view, r.Tag)
	if err != nil {
		return nil, 0, fmt.Errorf("render: %w", err)
	}
	out, err := p.db.TempFile()
	if err != nil {
		return nil, 0, err
	}
	w := bufio.NewWriterSize(out, 64<<10)
	n, err := tmpl.WriteRender(w, r.Link)
	if err == nil {
		err = w.Flush()
	}
	if err != nil {
		out.Close()
		return nil, 0, fmt.Errorf("render: %w", err)
	}
	return out, n, nil
}
