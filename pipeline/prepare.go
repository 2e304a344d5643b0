package pipeline

import (
	"slices"
	"strings"

	"github.com/careerrelay/careerrelay/configs"
	"github.com/careerrelay/careerrelay/metrics"
	"github.com/careerrelay/careerrelay/rewrite"
	"github.com/careerrelay/careerrelay/store"
	"github.com/emersion/go-message/textproto"
)

// Copy is one message to be queued: a body, the recipients it goes to, and
// the send record of its personal link when it carries one.
type Copy struct {
	Rcpts   []string
	Body    []byte
	Send    *store.Send // nil unless the copy carries a personal link
	Changed bool        // the body differs from what the client sent
}

// prepare runs the stages of the package comment. Mail of unknown senders
// is relayed untouched and unsigned.
func (p *Pipeline) prepare(env Envelope, msg []byte) ([]Copy, error) {
	rcpts := uniqueRcpts(env.Rcpts)
	t := env.Tenant
	if t == nil {
		return []Copy{{Rcpts: rcpts, Body: msg}}, nil
	}
	h := header(msg) // rewriting changes no header field: parsed once
	copies := p.rewrite(env, t, rcpts, msg, h)
	from := fromDomain(h)
	for i := range copies {
		if err := p.sign(t, &copies[i], from); err != nil {
			return nil, err
		}
	}
	return copies, nil
}

// rewrite splits the recipients and replaces the tenant's tag: each
// candidate (outside the tenant's domains) gets a copy with a personal link,
// the tenant's own addresses (an HR archive Bcc) share one copy with the
// generic link, which never counts. Untagged mail is one unchanged copy.
func (p *Pipeline) rewrite(env Envelope, t *configs.Tenant, rcpts []string, msg []byte, h textproto.Header) []Copy {
	log := p.log.With("tx", env.SessionID, "tenant", t.ID)
	tmpl, err := rewrite.Prepare(msg, t.Tag)
	if err != nil {
		// Never dropped: a raw, visible tag becomes the generic link.
		metrics.RewriteFailures.WithLabelValues(t.ID).Inc()
		body, n := rewrite.ReplaceRaw(msg, t.Tag, p.genericLink(t))
		log.Warn("message not parseable for rewriting; relayed with raw tags replaced by the generic link", "err", err, "raw_tags", n)
		return []Copy{{Rcpts: rcpts, Body: body, Changed: n > 0}}
	}
	if n := tmpl.Skipped(); n > 0 {
		// A text part shows the raw tag but cannot be rewritten safely
		// (unsupported charset, broken transfer encoding): it goes out as it
		// came, and the operator hears of it.
		metrics.RewriteFailures.WithLabelValues(t.ID).Inc()
		log.Warn("text parts with the tag left unrewritten (unsupported charset or broken encoding)", "parts", n)
	}
	if !tmpl.Tagged() {
		return []Copy{{Rcpts: rcpts, Body: msg}}
	}

	names := displayNames(h)
	var copies []Copy
	var internal []string
	for _, r := range rcpts {
		if isTenantDomain(t, domainOf(r)) {
			internal = append(internal, r)
			continue
		}
		id := rewrite.NewSendID()
		body, err := tmpl.Render(p.links.BaseURL + "/c/" + p.keys.Mint(id))
		if err != nil {
			metrics.RewriteFailures.WithLabelValues(t.ID).Inc()
			log.Warn("rendering a personal link failed; generic link instead", "err", err)
			internal = append(internal, r)
			continue
		}
		copies = append(copies, Copy{Rcpts: []string{r}, Body: body, Changed: true, Send: &store.Send{
			ID: id.String(), Tenant: t.ID, Rcpt: r, Name: names[strings.ToLower(r)],
			MessageID: env.MessageID, Sent: env.Received,
		}})
	}
	if len(internal) > 0 {
		body, err := tmpl.Render(p.genericLink(t))
		if err != nil {
			metrics.RewriteFailures.WithLabelValues(t.ID).Inc()
			body, _ = rewrite.ReplaceRaw(msg, t.Tag, p.genericLink(t))
		}
		copies = append(copies, Copy{Rcpts: internal, Body: body, Changed: true})
	}
	metrics.LinksInjected.WithLabelValues(t.ID).Add(float64(len(copies) - min(len(internal), 1)))
	log.Debug("rewritten", "personal_links", len(copies)-min(len(internal), 1), "generic_rcpts", len(internal))
	return copies
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
