package pipeline

import (
	"fmt"
	"slices"
	"strings"

	"github.com/careerrelay/careerrelay/configs"
	"github.com/careerrelay/careerrelay/internal/address"
	"github.com/careerrelay/careerrelay/internal/bufpool"
	"github.com/careerrelay/careerrelay/internal/linktoken"
	"github.com/careerrelay/careerrelay/internal/metrics"
	"github.com/careerrelay/careerrelay/rewrite"
	"github.com/careerrelay/careerrelay/smtp/dkim"
	"github.com/careerrelay/careerrelay/store"
)

// Copy is one copy to be queued: the recipients it goes to, the link that
// replaces its group's tag when it is delivered, and the send record of its
// personal link when it carries one.
type Copy struct {
	Rcpts []string
	Link  string      // "" when the copy is its group's body as stored
	Send  *store.Send // nil unless the copy carries a personal link
}

// group is copies made from one stored body.
type group struct {
	body   []byte // stored once for all the copies
	tag    string // replaced by each copy's Link at delivery; "" when none is (or body already holds it: renderNow)
	copies []Copy
}

// plan is the split of one message into copies (stages 1 and 2 of the
// package comment). Nothing is rendered or signed yet: that happens when
// each copy is delivered (Render).
type plan struct {
	tenant   *configs.Tenant // nil: relayed untouched, unsigned
	from     string          // the domain of the header's From, when the message could be parsed
	groups   []group
	failures []failure // tags left as they were, told once the copies are queued
	bufs     []*[]byte // from renderBufs, given back by release
}

// renderBufs recycles the buffers renderNow renders into: a rendered copy
// is only needed until the commit that stores it. Up to 64 of up to
// 64 KiB are kept, across garbage collections.
var renderBufs = bufpool.New(64, 16<<10, 64<<10)

// release gives the plan's buffers back; nothing of the plan may be used
// afterwards.
func (pl *plan) release() {
	for _, b := range pl.bufs {
		renderBufs.Put(b)
	}
	pl.bufs = nil
}

// failure is a place where the tenant's tag was not rewritten: its reason
// (metrics.RewriteReasons) and what the operator's log says of it.
type failure struct {
	reason string
	msg    string
	err    error
}

// copies counts the copies of every group.
func (pl *plan) copies() int {
	n := 0
	for _, g := range pl.groups {
		n += len(g.copies)
	}
	return n
}

// split runs stages 1 and 2 up to rendering. Mail of unknown senders is
// relayed untouched and unsigned.
func (p *Pipeline) split(env Envelope, msg []byte) *plan {
	rcpts := uniqueRcpts(env.Rcpts)
	t := env.Tenant
	if t == nil {
		return &plan{groups: []group{{body: msg, copies: []Copy{{Rcpts: rcpts}}}}}
	}
	pl := &plan{tenant: t}
	pl.groups = p.rewrite(env, t, rcpts, msg, pl)
	return pl
}

// failureMessages are the log messages of Template.Failures' reasons.
var failureMessages = map[string]string{
	rewrite.ReasonCharset:  "a text part with the tag is in a charset careerrelay does not write; it went out with the tag",
	rewrite.ReasonEncoding: "a text part with the tag has a broken transfer encoding; it went out with the tag",
	rewrite.ReasonTNEF:     "the body is TNEF (winmail.dat) and holds the tag; it went out with the tag (turn TNEF off: docs/ats-template-guide.md)",
	rewrite.ReasonSigned:   "signed content holds the tag; it went out with the tag (rewriting would break the signature)",
}

// rewrite splits the recipients and finds the tenant's tag: each candidate
// (outside the tenant's domains) gets a copy with a personal link, the
// tenant's own addresses (an HR archive Bcc) share one copy with the
// generic link, which never counts. Untagged mail is one unchanged copy.
// A changed message is stored without the signatures its client made,
// which would fail on every copy ("body hash did not verify").
func (p *Pipeline) rewrite(env Envelope, t *configs.Tenant, rcpts []string, msg []byte, pl *plan) []group {
	log := p.log.With("tx", env.SessionID, "tenant", t.ID)
	failures := &pl.failures
	tmpl, err := rewrite.Prepare(msg, t.Tag)
	if err != nil {
		// Never dropped: a raw, visible tag becomes the generic link.
		body, n := rewrite.ReplaceRaw(msg, t.Tag, p.genericLink(t))
		*failures = append(*failures, failure{"unparsable", fmt.Sprintf("message not parseable for rewriting; relayed with %d raw tags replaced by the generic link", n), err})
		if n > 0 {
			body = dkim.StripSignatures(body)
		}
		return []group{{body: body, copies: []Copy{{Rcpts: rcpts}}}}
	}
	// A part shows the raw tag but cannot be rewritten (an unsupported
	// charset, a broken transfer encoding, TNEF, signed content): it goes
	// out as it came, and the operator hears of it.
	for _, r := range tmpl.Failures() {
		*failures = append(*failures, failure{reason: r, msg: failureMessages[r]})
	}
	pl.from = fromDomain(tmpl.Header())
	if !tmpl.Tagged() {
		return []group{{body: msg, copies: []Copy{{Rcpts: rcpts}}}}
	}

	names := displayNames(tmpl.Header())
	g := group{body: dkim.StripSignatures(msg), tag: t.Tag}
	var internal []string
	for _, r := range rcpts {
		if isTenantDomain(t, address.Domain(r)) {
			internal = append(internal, r)
			continue
		}
		id := linktoken.NewSendID()
		link := p.cfg.LinkBase(t) + "/c/" + p.keys.Mint(id)
		if err := rewrite.CheckLink(link); err != nil {
			*failures = append(*failures, failure{"link", "a personal link could not be written; the copy got the generic link", err})
			internal = append(internal, r)
			continue
		}
		g.copies = append(g.copies, Copy{Rcpts: []string{r}, Link: link, Send: &store.Send{
			ID: id.String(), Tenant: t.ID, Rcpt: r, Name: names[strings.ToLower(r)],
			MessageID: env.MessageID, Sent: env.Received, Delivery: store.SendQueued,
		}})
	}
	personal := len(g.copies)
	groups := []group{g}
	if len(internal) > 0 {
		generic := p.genericLink(t)
		if rewrite.CheckLink(generic) == nil {
			groups[0].copies = append(groups[0].copies, Copy{Rcpts: internal, Link: generic})
		} else {
			*failures = append(*failures, failure{"link", "the generic link cannot be written in HTML; raw tags replaced in the tenant's own copy", nil})
			body, _ := rewrite.ReplaceRaw(msg, t.Tag, generic)
			groups = append(groups, group{body: dkim.StripSignatures(body), copies: []Copy{{Rcpts: internal}}})
		}
	}
	if len(groups[0].copies) == 0 {
		groups = groups[1:]
	} else if len(msg) <= spoolAbove && len(groups[0].copies) == 1 {
		renderNow(&groups[0], tmpl, pl)
	}
	metrics.LinksInjected.WithLabelValues(t.ID).Add(float64(personal))
	log.Debug("rewritten", "personal_links", personal, "generic_rcpts", len(internal))
	return groups
}

// renderNow renders the one copy of group g from tmpl, the template made
// when the message was received, and stores that copy instead of the body
// with its tag: its delivery then only signs it, without parsing the
// message a second time. This is the common case, a rejection to one
// candidate. A group of several copies (a mass rejection in Bcc) keeps one
// body and renders each copy when it is delivered, so that memory and disk
// grow with the message and not with its recipients; so does a large
// message, which is spooled and rendered into a file. If the link cannot
// be rendered the group is left as it was, and delivery tries again.
func renderNow(g *group, tmpl *rewrite.Template, pl *plan) {
	buf := renderBufs.Get()
	out, err := tmpl.AppendRender((*buf)[:0], g.copies[0].Link)
	if err != nil {
		renderBufs.Put(buf)
		return
	}
	*buf = out
	pl.bufs = append(pl.bufs, buf)
	// Rendering changes no header field: stripping the client's
	// signatures from the copy is stripping them from the body.
	g.body, g.tag = dkim.StripSignatures(out), ""
}

// genericLink is the tenant's link that carries no person: <base>/t/<id>.
func (p *Pipeline) genericLink(t *configs.Tenant) string {
	return p.cfg.LinkBase(t) + "/t/" + t.ID
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
