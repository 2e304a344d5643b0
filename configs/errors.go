package configs

import (
	"slices"
	"strconv"
	"strings"
)

// Problem is one thing wrong with a configuration file.
type Problem struct {
	// Line is the 1-based line of the file the problem is on. For a missing
	// key it is the line of the mapping the key belongs in; 0 when unknown.
	Line int
	// Key is the dotted path of the offending key, e.g.
	// "tenants[0].domains[1]" or `delivery.mx_overrides["example.jp"]`;
	// "" when the problem is with the file as a whole.
	Key string
	// Msg says what is wrong.
	Msg string
	// Hint tells the operator what to do about it.
	Hint string
}

// String formats the problem without its file name:
// "<line>: <key>: <msg> (hint: <hint>)".
func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(strconv.Itoa(p.Line))
	b.WriteString(": ")
	if p.Key != "" {
		b.WriteString(p.Key)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	if p.Hint != "" {
		b.WriteString(" (hint: ")
		b.WriteString(p.Hint)
		b.WriteString(")")
	}
	return b.String()
}

// Errors is every problem found in one configuration file. Load returns it
// (as error) whenever the file could be read but is not a valid config.
type Errors struct {
	// File is the path of the config file, as given to Load.
	File string
	// Problems are ordered by line.
	Problems []Problem
}

// Error prints one problem per line as
// "<file>:<line>: <key>: <msg> (hint: <hint>)".
func (e *Errors) Error() string {
	var b strings.Builder
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.File)
		b.WriteByte(':')
		b.WriteString(p.String())
	}
	return b.String()
}

// problems collects Problems while a file is checked; doc turns key paths
// into line numbers.
type problems struct {
	doc *doc
	// decoded are the problems yaml found while decoding.
	decoded []Problem
	// checked are the problems validation found.
	checked []Problem
	// shadowed are keys yaml could not decode. Validation problems at or
	// under them are follow-on noise (the zero value left behind) and are
	// dropped; all of them when the whole file was not decoded.
	shadowed    []string
	shadowedAll bool
}

// add records a validation problem with key, located by looking key up in
// the file.
func (ps *problems) add(key, msg, hint string) {
	ps.checked = append(ps.checked, Problem{Line: ps.doc.line(key), Key: key, Msg: msg, Hint: hint})
}

// addDecode records a problem yaml found while decoding, and the key whose
// value yaml left undecoded because of it ("" for the whole file, nil for
// none).
func (ps *problems) addDecode(p Problem, undecoded *string) {
	ps.decoded = append(ps.decoded, p)
	switch {
	case undecoded == nil:
	case *undecoded == "":
		ps.shadowedAll = true
	default:
		ps.shadowed = append(ps.shadowed, *undecoded)
	}
}

// result orders the problems by line and returns them as *Errors, or nil
// when there are none.
func (ps *problems) result(file string) error {
	out := slices.Clone(ps.decoded)
	for _, p := range ps.checked {
		if !ps.isShadowed(p.Key) {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		return nil
	}
	slices.SortStableFunc(out, func(a, b Problem) int { return a.Line - b.Line })
	return &Errors{File: file, Problems: out}
}

func (ps *problems) isShadowed(key string) bool {
	if ps.shadowedAll {
		return true
	}
	for _, k := range ps.shadowed {
		if key == k || strings.HasPrefix(key, k+".") || strings.HasPrefix(key, k+"[") {
			return true
		}
	}
	return false
}
