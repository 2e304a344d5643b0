package rewrite

// format=flowed (RFC 3676): a line ending in a space is soft-broken and
// joins the next line of the same quote depth; with DelSp=yes that space is
// not part of the text. The tag may be split across such a break, so it is
// searched for in the joined text.

// flowedLine describes one line of a view.
type flowedLine struct {
	start, end int // content, without the line break
	next       int // start of the next line
	depth      int // quote depth ('>' count)
	content    int // start of the content after quote marks and stuffing
}

// lineAt parses the view line starting at i.
func lineAt(b []byte, i int) flowedLine {
	l := flowedLine{start: i}
	j := i
	for j < len(b) && b[j] != '\n' {
		j++
	}
	l.end, l.next = j, j
	if j < len(b) {
		l.next = j + 1
	}
	if l.end > i && b[l.end-1] == '\r' {
		l.end--
	}
	k := i
	for k < l.end && b[k] == '>' {
		k++
	}
	l.depth = k - i
	if k < l.end && b[k] == ' ' {
		k++
	}
	l.content = k
	return l
}

// soft reports whether the line is soft-broken: its text (after quote
// marks and stuffing) ends in a space and is not the signature separator
// "-- ".
func (l flowedLine) soft(b []byte) bool {
	if l.end == l.content || b[l.end-1] != ' ' || l.next == l.end {
		return false
	}
	return string(b[l.content:l.end]) != "-- "
}

// unflow returns the view with each soft break between lines of equal
// quote depth removed: the break, the next line's quote marks and
// stuffing, and with delsp the trailing space. The first line of each
// paragraph keeps its quote marks (the tag never contains '>' or a space).
func unflow(v view, delsp bool) view {
	b := v.b
	out := view{b: make([]byte, 0, len(b)), pos: make([]int32, 0, len(b))}
	add := func(from, to int) {
		for i := from; i < to; i++ {
			out.b = append(out.b, b[i])
			out.pos = append(out.pos, int32(v.off(i)))
		}
	}
	l := lineAt(b, 0)
	from := l.start
	for {
		if l.next >= len(b) || !l.soft(b) {
			add(from, l.next)
			if l.next >= len(b) {
				return out
			}
			l = lineAt(b, l.next)
			from = l.start
			continue
		}
		n := lineAt(b, l.next)
		if n.depth != l.depth {
			add(from, l.next)
			l, from = n, n.start
			continue
		}
		end := l.end
		if delsp {
			end--
		}
		add(from, end)
		l, from = n, n.content
	}
}

// quotePrefix is what a continuation line of the line holding offset i of
// b needs in front: its quote marks and a stuffing space.
func quotePrefix(b []byte, i int) string {
	s := i
	for s > 0 && b[s-1] != '\n' {
		s--
	}
	k := s
	for k < len(b) && b[k] == '>' {
		k++
	}
	if k == s {
		return ""
	}
	return string(b[s:k]) + " "
}
