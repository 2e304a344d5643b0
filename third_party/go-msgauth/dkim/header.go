package dkim

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/textproto"
	"sort"
	"strings"
	"unicode"
)

const crlf = "\r\n"

type header []string

func readHeader(r *bufio.Reader) (header, error) {
	tr := textproto.NewReader(r)

	var h header
	// field is the field being read: its continuation lines are appended
	// to it, and it joins h when the next field or the end comes. (Appending
	// them to h's last string with += copied the field for each line, a
	// cost quadratic in the lines of a folded field.)
	var field strings.Builder
	for {
		l, err := tr.ReadLine()
		if err != nil {
			if field.Len() > 0 {
				h = append(h, field.String())
			}
			return h, fmt.Errorf("failed to read header: %v", err)
		}

		if len(l) == 0 {
			break
		} else if field.Len() > 0 && (l[0] == ' ' || l[0] == '\t') {
			// This is a continuation line
			field.WriteString(l)
			field.WriteString(crlf)
		} else {
			if field.Len() > 0 {
				h = append(h, field.String())
			}
			field = strings.Builder{}
			field.WriteString(l)
			field.WriteString(crlf)
		}
	}
	if field.Len() > 0 {
		h = append(h, field.String())
	}

	return h, nil
}

func writeHeader(w io.Writer, h header) error {
	for _, kv := range h {
		if _, err := w.Write([]byte(kv)); err != nil {
			return err
		}
	}
	_, err := w.Write([]byte(crlf))
	return err
}

// careerrelay: foldHeaderField writes the 75-octet pieces of kv into one
// builder (it read them out of a copy of kv through a bytes.Buffer);
// formatHeaderParams builds the field in one builder (it concatenated
// strings, and fmt.Sprintf'd each tag). Their results are v0.7.0's
// (format_careerrelay_test.go).
func foldHeaderField(kv string) string {
	var fold strings.Builder
	fold.Grow(len(kv) + len(kv)/75*3 + len(crlf))
	for i := 0; i < len(kv); i += 75 {
		if i > 0 {
			fold.WriteString("\r\n ")
		}
		end := i + 75
		if end > len(kv) {
			end = len(kv)
		}
		fold.WriteString(kv[i:end])
	}
	fold.WriteString(crlf)
	return fold.String()
}

func parseHeaderField(s string) (string, string) {
	key, value, _ := strings.Cut(s, ":")
	return strings.TrimSpace(key), strings.TrimSpace(value)
}

func parseHeaderParams(s string) (map[string]string, error) {
	pairs := strings.Split(s, ";")
	params := make(map[string]string)
	for _, s := range pairs {
		key, value, ok := strings.Cut(s, "=")
		if !ok {
			if strings.TrimSpace(s) == "" {
				continue
			}
			return params, errors.New("dkim: malformed header params")
		}

		trimmedKey := strings.TrimSpace(key)
		_, present := params[trimmedKey]
		if present {
			return params, errors.New("dkim: duplicate tag name")
		}
		params[trimmedKey] = strings.TrimSpace(value)
	}
	return params, nil
}

func formatHeaderParams(headerFieldName string, params map[string]string) string {
	keys, bvalue, bfound := sortParams(params)

	n := len(headerFieldName) + 1
	for _, k := range keys {
		n += len(k) + len(params[k]) + 3 + len(crlf)
	}
	var s strings.Builder
	s.Grow(n)
	s.WriteString(headerFieldName)
	s.WriteString(":")
	line := 0 // the length of the line written since the last CRLF

	for _, k := range keys {
		v := params[k]
		nextLength := 3 + line + len(v) + len(k)
		if nextLength > 75 {
			s.WriteString(crlf)
			line = 0
		}
		s.WriteString(" ")
		s.WriteString(k)
		s.WriteString("=")
		s.WriteString(v)
		s.WriteString(";")
		line += 3 + len(k) + len(v)
	}

	if bfound {
		s.WriteString(crlf)
		s.WriteString(foldHeaderField(" b=" + bvalue))
	}

	return s.String()
}

func sortParams(params map[string]string) ([]string, string, bool) {
	keys := make([]string, 0, len(params))
	bfound := false
	var bvalue string
	for k := range params {
		if k == "b" {
			bvalue = params["b"]
			bfound = true
		} else {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys, bvalue, bfound
}

type headerPicker struct {
	h      header
	picked map[string]int
	// byName lists, for each name folded by foldName, the indices in h of
	// the fields of that name, the bottom one first; made on the first Pick.
	// (Scanning h for each Pick cost the number of fields times the number
	// of names in h=, quadratic in the header's size.)
	byName map[string][]int
}

// indexAbove is the number of fields above which Pick indexes the header
// by name instead of scanning it (careerrelay).
const indexAbove = 32

func newHeaderPicker(h header) *headerPicker {
	return &headerPicker{
		h:      h,
		picked: make(map[string]int),
	}
}

// Pick returns the field of name key (compared as strings.EqualFold does)
// that the next h= listing of key signs: the bottom one on the first Pick of
// key, the one above it on the second, and "" once there is none left.
func (p *headerPicker) Pick(key string) string {
	key = strings.ToLower(key)

	if len(p.h) <= indexAbove {
		// careerrelay: a header of a few fields is scanned as v0.7.0 did,
		// which allocates nothing; the index pays off on long ones.
		at := p.picked[key]
		for i := len(p.h) - 1; i >= 0; i-- {
			k, _ := parseHeaderField(p.h[i])
			if !strings.EqualFold(k, key) {
				continue
			}
			if at == 0 {
				p.picked[key]++
				return p.h[i]
			}
			at--
		}
		return ""
	}

	if p.byName == nil {
		p.byName = make(map[string][]int)
		for i := len(p.h) - 1; i >= 0; i-- {
			k, _ := parseHeaderField(p.h[i])
			name := foldName(k)
			p.byName[name] = append(p.byName[name], i)
		}
	}

	at := p.picked[key]
	if fields := p.byName[foldName(key)]; at < len(fields) {
		p.picked[key]++
		return p.h[fields[at]]
	}

	return ""
}

// foldName returns s with each rune replaced by the least rune of its case
// folding orbit (unicode.SimpleFold), and invalid UTF-8 by U+FFFD, so that
// foldName(a) == foldName(b) exactly when strings.EqualFold(a, b).
func foldName(s string) string {
	if isASCII(s) {
		// The least rune of an ASCII letter's orbit is its upper case
		// (the other members of K's and S's are the Kelvin sign and long s).
		return strings.ToUpper(s)
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		least := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			if f < least {
				least = f
			}
		}
		b.WriteRune(least)
	}
	return b.String()
}
