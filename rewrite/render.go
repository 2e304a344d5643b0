package rewrite

import (
	"bytes"
	"encoding/base64"
	"sort"
	"strings"
)

const (
	maxLine    = 998 // octets per line, CRLF excluded (RFC 5322)
	anchorOpen = `<a href="`
	anchorMid  = `">`
	anchorEnd  = `</a>`
)

// link is what Render writes, prepared once per call.
type linkForms struct {
	raw, esc string // as is; with & escaped for HTML
	roman    bool   // has a character JIS-Roman spells differently
}

func newLinkForms(link string) linkForms {
	l := linkForms{raw: link, esc: link, roman: strings.ContainsAny(link, `~\`)}
	if strings.Contains(link, "&") {
		l.esc = strings.ReplaceAll(link, "&", "&amp;")
	}
	return l
}

// escapes are the ISO-2022-JP designations written around the link: ESC ( B
// before it when the text is in JIS-Roman and the link has '~' or '\', and
// after it the designation of the state the text continues in.
func (o *occ) escapes(l *linkForms) (pre, post string) {
	cur := o.startSt
	if o.kind == kindDrop {
		if cur != o.endSt {
			post = isoEscape(o.endSt)
		}
		return "", post
	}
	if cur == isoRoman && l.roman {
		pre, cur = "\x1b(B", isoASCII
	}
	if cur != o.endSt {
		post = isoEscape(o.endSt)
	}
	return pre, post
}

func (o *occ) repLen(l *linkForms) int {
	pre, post := o.escapes(l)
	n := len(pre) + len(post)
	switch o.kind {
	case kindURLRaw:
		n += len(l.raw)
	case kindURL:
		n += len(l.esc)
	case kindDrop:
	default:
		n += 2*len(l.esc) + len(anchorOpen) + len(anchorMid) + len(anchorEnd)
	}
	return n
}

func appendRep(dst []byte, o *occ, l *linkForms) []byte {
	pre, post := o.escapes(l)
	dst = append(dst, pre...)
	switch o.kind {
	case kindURLRaw:
		dst = append(dst, l.raw...)
	case kindURL:
		dst = append(dst, l.esc...)
	case kindDrop:
	default:
		dst = append(dst, anchorOpen...)
		dst = append(dst, l.esc...)
		dst = append(dst, anchorMid...)
		dst = append(dst, l.esc...)
		dst = append(dst, anchorEnd...)
	}
	return append(dst, post...)
}

// render appends the part's new body (raw is its original body).
func (p *textPart) render(dst, raw []byte, link string) []byte {
	l := newLinkForms(link)
	switch p.cte {
	case cteQP:
		return p.renderQP(dst, raw, &l)
	case cteBase64:
		return p.renderBase64(dst, &l)
	}
	for _, g := range p.groups {
		n := g.base
		for k := g.o0; k < g.o1; k++ {
			n += p.occ[k].repLen(&l)
		}
		if n > maxLine {
			return p.renderBroken(dst, &l)
		}
	}
	cur := 0
	for k := range p.occ {
		o := &p.occ[k]
		dst = append(dst, p.d[cur:o.ds]...)
		dst = appendRep(dst, o, &l)
		cur = o.de
	}
	return append(dst, p.d[cur:]...)
}

func (p *textPart) renderBase64(dst []byte, l *linkForms) []byte {
	n := len(p.d)
	for k := range p.occ {
		n += p.occ[k].repLen(l)
	}
	d := make([]byte, 0, n)
	cur := 0
	for k := range p.occ {
		o := &p.occ[k]
		d = append(d, p.d[cur:o.ds]...)
		d = appendRep(d, o, l)
		cur = o.de
	}
	d = append(d, p.d[cur:]...)
	const chunk = 57 // 76 base64 characters
	for i := 0; i < len(d); i += chunk {
		dst = base64.StdEncoding.AppendEncode(dst, d[i:min(i+chunk, len(d))])
		if i+chunk < len(d) || p.finalNL {
			dst = append(dst, p.nl...)
		}
	}
	return dst
}

func (p *textPart) renderQP(dst, raw []byte, l *linkForms) []byte {
	cur := 0
	for _, w := range p.wins {
		first, last := &p.lines[w.first], &p.lines[w.last]
		dst = append(dst, raw[cur:first.encStart]...)
		e := qpEncoder{out: dst, nl: "\r\n"}
		if !first.crlf && raw[first.encEnd-1] == '\n' {
			e.nl = "\n"
		}
		dpos := first.decStart
		for k := w.o0; k < w.o1; k++ {
			o := &p.occ[k]
			e.text(p.d[dpos:o.ds], true)
			e.rep(o, l)
			dpos = o.de
		}
		e.text(p.d[dpos:last.decEnd], last.soft)
		if last.soft {
			e.out = append(e.out, '=')
			switch {
			case last.crlf:
				e.out = append(e.out, '\r', '\n')
			case raw[last.encEnd-1] == '\n':
				e.out = append(e.out, '\n')
			}
		}
		dst = e.out
		cur = last.encEnd
	}
	return append(dst, raw[cur:]...)
}

func (e *qpEncoder) rep(o *occ, l *linkForms) {
	pre, post := o.escapes(l)
	e.ascii(pre)
	switch o.kind {
	case kindURLRaw:
		e.unit(l.raw)
	case kindURL:
		e.unit(l.esc)
	case kindDrop:
	default:
		e.ascii(anchorOpen)
		e.unit(l.esc)
		e.ascii(anchorMid)
		e.unit(l.esc)
		e.ascii(anchorEnd)
	}
	e.ascii(post)
}

func (e *qpEncoder) ascii(s string) {
	for i := 0; i < len(s); i++ {
		e.token(s[i], false)
	}
}

// A cand is a place where an overlong line of an identity-encoded part may
// be broken, and what to insert there, with its rank: breaks in front of a
// link are preferred to breaks behind one, and those to a break inside an
// attribute value (a URL parser drops it, a title would show a space).
type cand struct {
	at   int
	ins  string
	rank int
}

const (
	rankBefore = iota
	rankAfter
	rankLast
)

// renderBroken renders an identity-encoded part in which a link makes a
// line longer than 998 octets, breaking such lines next to the links (see
// the package comment).
func (p *textPart) renderBroken(dst []byte, l *linkForms) []byte {
	var v view
	var q quoteCache
	if p.flowed {
		v = makeView(p.d, p.cs)
		defer v.release()
	}
	var out []byte
	var cands []cand
	cur := 0
	for k := range p.occ {
		o := &p.occ[k]
		base := len(out)
		if p.html && o.ctx == ctxAttr && o.attrStart >= cur && o.attrStart <= o.ds {
			cands = append(cands, cand{base + o.attrStart - cur, "\r\n", rankBefore})
		}
		out = append(out, p.d[cur:o.ds]...)
		rs := len(out)
		out = appendRep(out, o, l)
		re := len(out)
		cur = o.de
		switch {
		case o.kind == kindDrop:
			// removed text: no link to break next to
		case p.html && o.kind == kindAnchor:
			pre, post := o.escapes(l)
			cands = append(cands, cand{rs + len(pre) + 3, "\r\n", rankBefore}, cand{re - len(post) - 1, "\r\n", rankAfter})
		case p.html && o.ctx == ctxAttr:
			if o.valueEnd >= o.de && (k+1 == len(p.occ) || o.valueEnd <= p.occ[k+1].ds) {
				cands = append(cands, cand{re + o.valueEnd - o.de, "\r\n", rankAfter})
			}
			pre, _ := o.escapes(l)
			cands = append(cands, cand{rs + len(pre), "\r\n", rankLast})
		case p.flowed:
			cands = append(cands, p.flowedCands(v, &q, o, rs, re)...)
		default:
			cands = append(cands, cand{rs, "\r\n", rankBefore}, cand{re, "\r\n", rankAfter})
		}
	}
	out = append(out, p.d[cur:]...)
	return append(dst, breakLines(out, cands)...)
}

// flowedCands are flowed soft breaks before and after a link: the space of
// the break is the one next to the link when there is one (DelSp=no), else
// an added space, which DelSp=yes removes again. The continuation line gets
// the quote marks of the line, and a stuffing space when it needs one.
func (p *textPart) flowedCands(v view, q *quoteCache, o *occ, rs, re int) []cand {
	// The view index of the occurrence's first character.
	vi := sort.Search(len(v.b), func(i int) bool { return v.off(i) >= o.ds })
	prefix := q.prefix(v.b, vi)
	var cs []cand
	if p.delsp || o.ds == 0 || p.d[o.ds-1] != ' ' {
		cs = append(cs, cand{rs, " \r\n" + prefix, rankBefore})
	} else {
		cs = append(cs, cand{rs, "\r\n" + prefix, rankBefore})
	}
	at, from := re, o.de
	ins := " \r\n"
	if !p.delsp && o.de < len(p.d) && p.d[o.de] == ' ' {
		at, from, ins = re+1, o.de+1, "\r\n"
	}
	ins += prefix
	// What the continuation line starts with, as a character.
	vj := sort.Search(len(v.b), func(i int) bool { return v.off(i) >= from })
	if prefix == "" && vj < len(v.b) {
		rest := v.b[vj:]
		if rest[0] == ' ' || rest[0] == '>' || strings.HasPrefix(string(rest[:min(5, len(rest))]), "From ") {
			ins += " "
		}
	}
	return append(cs, cand{at, ins, rankAfter})
}

// quoteCache remembers the quote prefix of the last line asked for, so
// that many links on one long line cost one scan.
type quoteCache struct {
	at, start int
	quote     string
	ok        bool
}

func (q *quoteCache) prefix(b []byte, i int) string {
	lo := 0
	same := q.ok && q.at <= i
	if same {
		lo = q.at
	}
	j := i
	for j > lo && b[j-1] != '\n' {
		j--
	}
	if !same || j != lo || (j > 0 && b[j-1] == '\n') {
		q.start, q.quote = j, quotePrefix(b, j)
	}
	q.at, q.ok = i, true
	return q.quote
}

// breakLines inserts line breaks at candidates into the lines of b longer
// than 998 octets: at the best ranked, then farthest candidate that lets
// the line fit, else at the first candidate; and again on the rest of the
// line while it is too long.
func breakLines(b []byte, cands []cand) []byte {
	sort.SliceStable(cands, func(i, j int) bool { return cands[i].at < cands[j].at })
	var chosen []cand
	ci := 0
	for ls := 0; ls < len(b); {
		le, next := len(b), len(b)
		if i := bytes.IndexByte(b[ls:], '\n'); i >= 0 {
			le, next = ls+i, ls+i+1
			if le > ls && b[le-1] == '\r' {
				le--
			}
		}
		for ci < len(cands) && cands[ci].at <= ls {
			ci++
		}
		s, extra := ls, 0
		for le-s+extra > maxLine {
			for ci < len(cands) && cands[ci].at <= s {
				ci++
			}
			best, first := -1, -1
			for j := ci; j < len(cands) && cands[j].at < le; j++ {
				c := cands[j]
				if first < 0 {
					first = j
				}
				head := strings.IndexByte(c.ins, '\n') - 1 // what stays on this line
				if c.at-s+extra+head > maxLine {
					break
				}
				if best < 0 || c.rank <= cands[best].rank {
					best = j
				}
			}
			if best < 0 {
				best = first
			}
			if best < 0 {
				break
			}
			c := cands[best]
			chosen = append(chosen, c)
			extra = len(c.ins) - strings.IndexByte(c.ins, '\n') - 1
			s = c.at
		}
		ls = next
	}
	if len(chosen) == 0 {
		return b
	}
	out := make([]byte, 0, len(b)+len(chosen)*8)
	cur := 0
	for _, c := range chosen {
		out = append(out, b[cur:c.at]...)
		out = append(out, c.ins...)
		cur = c.at
	}
	return append(out, b[cur:]...)
}
