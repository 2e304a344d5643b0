package pipeline

import (
	"context"
	"fmt"

	"github.com/careerrelay/careerrelay/internal/spill"
	"github.com/careerrelay/careerrelay/store"
)

// spoolAbove is the size past which a message's copies go to spool files:
// the size past which the inbound session holds a message in a file.
const spoolAbove = spill.DefaultLimit

// acceptSpooled is Accept for a large message: each copy is rendered into
// one reused buffer, signed, and written to its own spool file, made
// durable before the commit that enqueues them all.
func (p *Pipeline) acceptSpooled(ctx context.Context, env Envelope, msg []byte) (ids []string, err error) {
	pl := p.split(env, msg)
	files := make([]*store.SpoolFile, 0, len(pl.copies))
	defer func() {
		if err != nil {
			for _, f := range files {
				f.Discard()
			}
		}
	}()
	var scratch []byte
	for i := range pl.copies {
		c := &pl.copies[i]
		body, err := pl.render(c, scratch[:0])
		if err != nil {
			return nil, err
		}
		if c.Body == nil {
			scratch = body // rendered into scratch: keep what it grew to
		}
		sigs, body, err := p.signatures(pl, c, body)
		if err != nil {
			return nil, err
		}
		f, err := p.db.CreateSpool()
		if err != nil {
			return nil, fmt.Errorf("spool: %w", err)
		}
		files = append(files, f)
		if _, err := f.Write(sigs); err != nil {
			return nil, fmt.Errorf("spool: %w", err)
		}
		if _, err := f.Write(body); err != nil {
			return nil, fmt.Errorf("spool: %w", err)
		}
		if err := f.Finish(); err != nil {
			return nil, fmt.Errorf("spool: %w", err)
		}
	}
	return p.enqueue(ctx, env, pl.copies, files)
}
