package pipeline

import (
	"context"
	"fmt"

	"github.com/careerrelay/careerrelay/internal/spill"
	"github.com/careerrelay/careerrelay/store"
)

// spoolAbove is the size past which a message's body goes to a spool file:
// the size past which the inbound session holds a message in a file.
const spoolAbove = spill.DefaultLimit

// acceptSpooled is Accept for a large message: each group's body (mostly
// one for all copies) is written once to its own spool file, made durable
// before the commit that enqueues the copies.
func (p *Pipeline) acceptSpooled(ctx context.Context, env Envelope, pl *plan) (ids []string, err error) {
	files := make([]*store.SpoolFile, 0, len(pl.groups))
	defer func() {
		if err != nil {
			for _, f := range files {
				f.Discard()
			}
		}
	}()
	for _, g := range pl.groups {
		f, err := p.db.CreateSpool()
		if err != nil {
			return nil, fmt.Errorf("spool: %w", err)
		}
		files = append(files, f)
		if _, err := f.Write(g.body); err != nil {
			return nil, fmt.Errorf("spool: %w", err)
		}
		if err := f.Finish(); err != nil {
			return nil, fmt.Errorf("spool: %w", err)
		}
	}
	return p.enqueue(ctx, env, pl, files)
}
