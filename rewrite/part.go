package rewrite

import (
	"bytes"
	"encoding/base64"
	"io"
	"sort"
	"strings"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/textproto"
)

// Transfer encodings of a text part.
const (
	cteIdentity uint8 = iota // 7bit, 8bit, binary or none
	cteQP
	cteBase64
	cteUnknown // one go-message cannot decode: the part is left alone
)

// partInfo is what a leaf's header says about rewriting it.
type partInfo struct {
	html, flowed, delsp bool
	cte                 uint8
	charset             string
	hasCharset          bool
}

// leafInfo reports whether a leaf is an eligible text part: text/plain or
// text/html, not an attachment. Its transfer encoding may still be one that
// go-message cannot read (cteUnknown).
// Attached messages and signed or encrypted content never get here: they
// are leaves of another type.
func leafInfo(h textproto.Header) (pi partInfo, ok bool) {
	mh := message.Header{Header: h}
	mt, params, err := mh.ContentType()
	if err != nil {
		return pi, false
	}
	switch mt {
	case "text/plain":
	case "text/html":
		pi.html = true
	default:
		return pi, false
	}
	if isAttachment(h.Get("Content-Disposition")) {
		return pi, false
	}
	switch strings.ToLower(h.Get("Content-Transfer-Encoding")) {
	case "", "7bit", "8bit", "binary":
		pi.cte = cteIdentity
	case "quoted-printable":
		pi.cte = cteQP
	case "base64":
		pi.cte = cteBase64
	default:
		pi.cte = cteUnknown
	}
	pi.charset, pi.hasCharset = params["charset"]
	if !pi.html && strings.EqualFold(params["format"], "flowed") {
		pi.flowed = true
		pi.delsp = strings.EqualFold(params["delsp"], "yes")
	}
	return pi, true
}

func isAttachment(disp string) bool {
	if i := strings.IndexByte(disp, ';'); i >= 0 {
		disp = disp[:i]
	}
	return strings.EqualFold(strings.TrimSpace(disp), "attachment")
}

// decodeTransfer undoes the transfer encoding as go-message does; ok is
// false where go-message's reader fails.
func decodeTransfer(raw []byte, cte uint8) (d []byte, lines []qpLine, ok bool) {
	switch cte {
	case cteQP:
		return qpDecode(raw)
	case cteBase64:
		d, err := io.ReadAll(base64.NewDecoder(base64.StdEncoding, &spaceToLF{r: bytes.NewReader(raw)}))
		return d, nil, err == nil
	case cteUnknown:
		return nil, nil, false
	}
	return raw, nil, true
}

// spaceToLF is go-message's whitespaceReplacingReader: spaces and tabs in
// base64 become line feeds, which the decoder skips.
type spaceToLF struct{ r io.Reader }

func (s *spaceToLF) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	for i := 0; i < n; i++ {
		if p[i] == ' ' || p[i] == '\t' {
			p[i] = '\n'
		}
	}
	return n, err
}

// occ is one place of the tag in a part's decoded body.
type occ struct {
	ds, de    int // the decoded bytes replaced
	kind      uint8
	ctx       uint8
	attrStart int // HTML attribute holding the tag, -1 if none
	valueEnd  int // just after that attribute's value, -1 if unknown
	// ISO-2022-JP: the states (isoASCII or isoRoman) of the first and
	// last characters replaced.
	startSt, endSt uint8
}

// textPart is an eligible part that holds the tag.
type textPart struct {
	bodyStart, bodyEnd  int
	cte                 uint8
	cs                  csKind
	html, flowed, delsp bool
	occ                 []occ
	d                   []byte   // decoded body; for cteIdentity the raw body
	lines               []qpLine // cteQP
	wins                []qpWin  // cteQP: the encoded lines re-encoded
	groups              []lineGroup
	nl                  string // cteBase64: line break
	finalNL             bool   // cteBase64: the body ends with a line break
}

// qpWin is a run of encoded lines [first, last] holding occurrences
// [o0, o1).
type qpWin struct {
	first, last int
	o0, o1      int
}

// lineGroup is one output line of an identity-encoded part that holds
// occurrences [o0, o1): base is its length without them.
type lineGroup struct {
	base   int
	o0, o1 int
}

// prepareLeaf finds the tag in a leaf. failure, when not "", is why a
// part that holds the tag is left as it is: an eligible part whose transfer
// encoding is broken (ReasonEncoding) or whose charset is not supported
// (ReasonCharset), a TNEF body (ReasonTNEF), signed content (ReasonSigned).
func prepareLeaf(msg []byte, lf *leaf, tag string) (p *textPart, failure string) {
	raw := msg[lf.bodyStart:lf.bodyEnd]
	pi, ok := leafInfo(lf.hdr)
	if !ok {
		return nil, opaqueFailure(lf.hdr, raw, tag)
	}
	d, lines, ok := decodeTransfer(raw, pi.cte)
	if !ok {
		if bytes.Contains(raw, []byte(tag)) {
			return nil, ReasonEncoding
		}
		return nil, ""
	}
	cs := charsetKind(pi.charset, pi.hasCharset, d)
	if cs == csUnsupported {
		if bytes.Contains(raw, []byte(tag)) {
			return nil, ReasonCharset
		}
		return nil, ""
	}
	if cs == csASCII && !pi.html && !pi.flowed && !bytes.Contains(d, []byte(tag)) {
		return nil, ""
	}
	occs := findOccurrences(d, cs, pi, tag)
	if len(occs) == 0 {
		return nil, ""
	}
	p = &textPart{
		bodyStart: lf.bodyStart, bodyEnd: lf.bodyEnd,
		cte: pi.cte, cs: cs, html: pi.html, flowed: pi.flowed, delsp: pi.delsp,
		occ: occs, d: d, lines: lines,
	}
	switch pi.cte {
	case cteQP:
		p.wins = qpWindows(lines, occs)
	case cteBase64:
		p.nl = "\r\n"
		if !bytes.Contains(raw, crlfBytes) && bytes.IndexByte(raw, '\n') >= 0 {
			p.nl = "\n"
		}
		p.finalNL = len(raw) > 0 && raw[len(raw)-1] == '\n'
	default:
		p.groups = lineGroups(d, occs)
	}
	return p, ""
}

// opaqueFailure says why a part that is not rewritten at all holds the
// tag: a TNEF body that shows it (ReasonTNEF), or signed content, which
// rewriting would break (ReasonSigned); "" otherwise (an attachment, an
// image, a part without the tag).
func opaqueFailure(h textproto.Header, raw []byte, tag string) string {
	mh := message.Header{Header: h}
	mt, params, _ := mh.ContentType()
	switch {
	case isTNEF(mt, params, h.Get("Content-Disposition")):
		cte := cteIdentity
		if strings.EqualFold(h.Get("Content-Transfer-Encoding"), "base64") {
			cte = cteBase64
		} else if strings.EqualFold(h.Get("Content-Transfer-Encoding"), "quoted-printable") {
			cte = cteQP
		}
		if d, _, ok := decodeTransfer(raw, cte); ok && tnefHasTag(d, tag) {
			return ReasonTNEF
		}
	case mt == "multipart/signed":
		if bytes.Contains(raw, []byte(tag)) {
			return ReasonSigned
		}
	}
	return ""
}

// findOccurrences finds the tag in a decoded body.
func findOccurrences(d []byte, cs csKind, pi partInfo, tag string) []occ {
	v := makeView(d, cs)
	defer v.release()
	var occs []occ
	if pi.html {
		for _, h := range findHTML(v.b, tag) {
			o := occ{ds: v.off(h.vs), de: v.endOff(h.ve), kind: h.kind, ctx: h.ctx, attrStart: -1, valueEnd: -1}
			if h.attrStart >= 0 {
				o.attrStart = v.off(h.attrStart)
			}
			if h.valueEnd > 0 {
				o.valueEnd = v.endOff(h.valueEnd)
			}
			occs = append(occs, o)
		}
	} else {
		sv := v
		if pi.flowed {
			sv = unflow(v, pi.delsp)
		}
		t := []byte(tag)
		for i := 0; ; {
			j := bytes.Index(sv.b[i:], t)
			if j < 0 {
				break
			}
			i += j
			occs = append(occs, occ{ds: sv.off(i), de: sv.endOff(i + len(t)), kind: kindURLRaw, ctx: ctxText, attrStart: -1, valueEnd: -1})
			i += len(t)
		}
	}
	if cs == csISO2022JP && len(occs) > 0 {
		offs := make([]int, 0, 2*len(occs))
		for _, o := range occs {
			offs = append(offs, o.ds, o.de-1)
		}
		st := isoStatesAt(d, offs)
		for k := range occs {
			occs[k].startSt, occs[k].endSt = st[2*k], st[2*k+1]
		}
	}
	return occs
}

// qpWindows groups the occurrences by the encoded lines they touch.
func qpWindows(lines []qpLine, occs []occ) []qpWin {
	lineOf := func(x int) int {
		return sort.Search(len(lines), func(i int) bool { return lines[i].decEnd > x })
	}
	var wins []qpWin
	for k, o := range occs {
		a, b := lineOf(o.ds), lineOf(o.de-1)
		if n := len(wins); n > 0 && a <= wins[n-1].last {
			wins[n-1].last = max(wins[n-1].last, b)
			wins[n-1].o1 = k + 1
			continue
		}
		wins = append(wins, qpWin{first: a, last: b, o0: k, o1: k + 1})
	}
	return wins
}

// lineGroups finds the lines of an identity-encoded body that hold
// occurrences, so that Render can tell cheaply whether a link would make
// one longer than 998 octets.
func lineGroups(d []byte, occs []occ) []lineGroup {
	var gs []lineGroup
	for k := 0; k < len(occs); {
		start := bytes.LastIndexByte(d[:occs[k].ds], '\n') + 1
		g := lineGroup{o0: k}
		removed := 0
		end := -1 // the end of the line holding the last occurrence
		for {
			o := occs[k]
			removed += o.de - o.ds
			if end < o.de {
				end = len(d)
				if i := bytes.IndexByte(d[o.de:], '\n'); i >= 0 {
					end = o.de + i
				}
			}
			k++
			if k == len(occs) || occs[k].ds >= end {
				break
			}
		}
		if end > occs[k-1].de && end < len(d) && d[end-1] == '\r' {
			end--
		}
		g.o1 = k
		g.base = end - start - removed
		gs = append(gs, g)
	}
	return gs
}
