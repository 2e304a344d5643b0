package pipeline

import (
	"slices"
	"strings"

	"github.com/careerrelay/careerrelay/configs"
	"github.com/careerrelay/careerrelay/internal/address"
	"github.com/careerrelay/careerrelay/internal/linktoken"
	"github.com/careerrelay/careerrelay/internal/metrics"
	"github.com/careerrelay/careerrelay/rewrite"
	"github.com/careerrelay/careerrelay/store"
	"github.com/emersion/go-message/textproto"
)

// Copy is one message to be queued: a body, the recipients it goes to, and
// the send record of its personal link when it carries one.
type Copy struct {
	Rcpts []string
	// Body is the copy's final bytes. Until the copy is rendered it is nil
	// when the copy is the template rendered with Link, else the body the
	// copy will have before signing.
	Body    []byte
	Link    string
	Send    *store.Send // nil unless the copy carries a personal link
	Changed bool        // the body differs from what the client sent
}

// plan is the split of one message into copies (stages 1 and 2 of the
// package comment) before any copy is rendered.
type plan struct {
	tenant *configs.Tenant // nil: relayed untouched, unsigned
	tmpl   *rewrite.Template
	from   string // the From header's domain, for d=
	copies []Copy
}

// split runs stages 1 and 2 up to rendering. Mail of unknown senders is
// relayed untouched and unsigned.
func (p *Pipeline) split(env Envelope, msg []byte) *plan {
	rcpts := uniqueRcpts(env.Rcpts)
	t := env.Tenant
	if t == nil {
		return &plan{copies: []Copy{{Rcpts: rcpts, Body: msg}}}
	}
	h := header(msg) // rewriting changes no header field: parsed once
	pl := &plan{tenant: t, from: fromDomain(h)}
	pl.tmpl, pl.copies = p.rewrite(env, t, rcpts, msg, h)
	return pl
}

// render returns c's body before signing, appended to dst when it must be
// rendered from the template.
func (pl *plan) render(c *Copy, dst []byte) ([]byte, error) {
	if c.Body != nil {
		return c.Body, nil
	}
	return pl.tmpl.AppendRender(dst, c.Link)
}

// sigRoom is the room left in front of a rendered copy for its DKIM
// signatures, per key (an RSA-2048 field is about 600 octets), so that
// prepending them needs no second copy of the message.
const sigRoom = 1024

// prepare renders and signs every copy in memory (stage 3).
func (p *Pipeline) prepare(env Envelope, msg []byte) ([]Copy, error) {
	pl := p.split(env, msg)
	room := 0
	if pl.tenant != nil && p.signers[pl.tenant.ID] != nil {
		room = sigRoom * p.signers[pl.tenant.ID].Keys()
	}
	for i := range pl.copies {
		c := &pl.copies[i]
		var buf []byte
		if c.Body == nil {
			buf = make([]byte, room, room+pl.tmpl.SizeHint(c.Link))
		}
		out, err := pl.render(c, buf)
		if err != nil {
			return nil, err
		}
		body := out[len(buf):]
		sigs, signed, err := p.signatures(pl, c, body)
		if err != nil {
			return nil, err
		}
		switch {
		case len(sigs) == 0:
			c.Body = signed
		case c.Body == nil && len(sigs) <= room && len(signed) == len(body):
			// Signed as rendered: the fields go into the room in front.
			start := room - len(sigs)
			copy(out[start:], sigs)
			c.Body = out[start:]
		default:
			c.Body = append(sigs, signed...)
		}
	}
	return pl.copies, nil
}

// rewrite splits the recipients and replaces the tenant's tag: each
// candidate (outside the tenant's domains) gets a copy with a personal link,
// the tenant's own addresses (an HR archive Bcc) share one copy with the
// generic link, which never counts. Untagged mail is one unchanged copy.
// Copies to render from the template have a Link and no Body.
func (p *Pipeline) rewrite(env Envelope, t *configs.Tenant, rcpts []string, msg []byte, h textproto.Header) (*rewrite.Template, []Copy) {
	log := p.log.With("tx", env.SessionID, "tenant", t.ID)
	tmpl, err := rewrite.Prepare(msg, t.Tag)
	if err != nil {
		// Never dropped: a raw, visible tag becomes the generic link.
		metrics.RewriteFailures.WithLabelValues(t.ID).Inc()
		body, n := rewrite.ReplaceRaw(msg, t.Tag, p.genericLink(t))
		log.Warn("message not parseable for rewriting; relayed with raw tags replaced by the generic link", "err", err, "raw_tags", n)
		return nil, []Copy{{Rcpts: rcpts, Body: body, Changed: n > 0}}
	}
	if n := tmpl.Skipped(); n > 0 {
		// A text part shows the raw tag but cannot be rewritten safely
		// (unsupported charset, broken transfer encoding): it goes out as it
		// came, and the operator hears of it.
		metrics.RewriteFailures.WithLabelValues(t.ID).Inc()
		log.Warn("text parts with the tag left unrewritten (unsupported charset or broken encoding)", "parts", n)
	}
	if !tmpl.Tagged() {
		return tmpl, []Copy{{Rcpts: rcpts, Body: msg}}
	}

	names := displayNames(h)
	var copies []Copy
	var internal []string
	for _, r := range rcpts {
		if isTenantDomain(t, address.Domain(r)) {
			internal = append(internal, r)
			continue
		}
		id := linktoken.NewSendID()
		link := p.links.BaseURL + "/c/" + p.keys.Mint(id)
		if err := rewrite.CheckLink(link); err != nil {
			metrics.RewriteFailures.WithLabelValues(t.ID).Inc()
			log.Warn("rendering a personal link failed; generic link instead", "err", err)
			internal = append(internal, r)
			continue
		}
		copies = append(copies, Copy{Rcpts: []string{r}, Link: link, Changed: true, Send: &store.Send{
			ID: id.String(), Tenant: t.ID, Rcpt: r, Name: names[strings.ToLower(r)],
			MessageID: env.MessageID, Sent: env.Received,
		}})
	}
	if len(internal) > 0 {
		c := Copy{Rcpts: internal, Link: p.genericLink(t), Changed: true}
		if err := rewrite.CheckLink(c.Link); err != nil {
			metrics.RewriteFailures.WithLabelValues(t.ID).Inc()
			c.Link = ""
			c.Body, _ = rewrite.ReplaceRaw(msg, t.Tag, p.genericLink(t))
		}
		copies = append(copies, c)
	}
	metrics.LinksInjected.WithLabelValues(t.ID).Add(float64(len(copies) - min(len(internal), 1)))
	log.Debug("rewritten", "personal_links", len(copies)-min(len(internal), 1), "generic_rcpts", len(internal))
	return tmpl, copies
}

// genericLink is the tenant's link that carries no person: <base>/t/<id>.
func (p *Pipeline) genericLink(t *configs.Tenant) string {
	return p.links.BaseURL + "/t/" + t.ID
}

func isTenantDomain(t *configs.Tenant, domain string) bool {
	return slices.Contains(t.Domains, domain)
}

// uniqueRcpts drops repeated recipients (case-insensitively), so that a
// candidate named twice gets one mail and one link.
func uniqueRcpts(rcpts []string) []string {
	seen := make(map[string]bool, len(rcpts))
	out := rcpts[:0:0]
	for _, r := range rcpts {
		k := strings.ToLower(r)
		if !seen[k] {
			seen[k] = true
			out = append(out, r)
		}
	}
	return out
}
