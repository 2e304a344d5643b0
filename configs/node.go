package configs

import (
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// doc is the parsed YAML node tree of a config file. It turns key paths
// (tenants[0].domains[1]) into line numbers and tells which keys the file
// sets, so that defaults apply only to keys that are absent.
type doc struct {
	root *yaml.Node // the top-level mapping; nil for an empty file
	all  []entry    // entries(), once computed
}

// seg is one step of a key path: a mapping key or a sequence index.
type seg struct {
	name  string
	index int // used when name is ""
}

var plainKey = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// join appends a mapping key to a key path. Keys that are not plain words
// (mx_overrides domains) are written as ["quoted"] so that paths stay
// unambiguous.
func join(path, key string) string {
	if !plainKey.MatchString(key) {
		return path + "[" + strconv.Quote(key) + "]"
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

// index appends a sequence index to a key path.
func index(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}

// splitPath parses a key path written by join and index.
func splitPath(path string) []seg {
	var segs []seg
	for len(path) > 0 {
		switch path[0] {
		case '.':
			path = path[1:]
		case '[':
			end := strings.IndexByte(path, ']')
			if len(path) > 1 && path[1] == '"' {
				// A quoted key may itself hold ']'; find the closing quote.
				q, err := strconv.QuotedPrefix(path[1:])
				if err != nil {
					return segs
				}
				name, _ := strconv.Unquote(q)
				segs = append(segs, seg{name: name})
				path = strings.TrimPrefix(path[1+len(q):], "]")
				continue
			}
			if end < 0 {
				return segs
			}
			i, err := strconv.Atoi(path[1:end])
			if err != nil {
				return segs
			}
			segs = append(segs, seg{index: i})
			path = path[end+1:]
		default:
			end := strings.IndexAny(path, ".[")
			if end < 0 {
				end = len(path)
			}
			segs = append(segs, seg{name: path[:end]})
			path = path[end:]
		}
	}
	return segs
}

// resolve follows aliases.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	return n
}

// child finds key in mapping m, looking through merge keys (<<) as yaml
// does. It returns the key and value nodes.
func child(m *yaml.Node, key string, depth int) (k, v *yaml.Node) {
	m = resolve(m)
	if m == nil || m.Kind != yaml.MappingNode || depth > 10 {
		return nil, nil
	}
	var merges []*yaml.Node
	for i := 0; i+1 < len(m.Content); i += 2 {
		kn, vn := m.Content[i], m.Content[i+1]
		if kn.Value == key && kn.Tag != "!!merge" {
			return kn, vn
		}
		if kn.Tag == "!!merge" {
			merges = append(merges, vn)
		}
	}
	for _, mv := range merges {
		mv = resolve(mv)
		if mv != nil && mv.Kind == yaml.SequenceNode {
			for _, item := range mv.Content {
				if k, v := child(item, key, depth+1); k != nil {
					return k, v
				}
			}
			continue
		}
		if k, v := child(mv, key, depth+1); k != nil {
			return k, v
		}
	}
	return nil, nil
}

// find walks path from the root. It returns the value node at path (nil
// when absent) and the line of the deepest part of the path the file has:
// the key's own line, or for a missing key the line of its parent.
func (d *doc) find(path string) (*yaml.Node, int) {
	if d == nil || d.root == nil {
		return nil, 1
	}
	cur, line := d.root, d.root.Line
	for _, s := range splitPath(path) {
		if s.name != "" {
			k, v := child(cur, s.name, 0)
			if k == nil {
				return nil, line
			}
			cur, line = v, k.Line
			continue
		}
		c := resolve(cur)
		if c == nil || c.Kind != yaml.SequenceNode || s.index < 0 || s.index >= len(c.Content) {
			return nil, line
		}
		cur = c.Content[s.index]
		line = cur.Line
	}
	return cur, line
}

// commentedOut returns the comment that took the place of the value at
// path: "color: #0055aa" sets color to null with a comment "#0055aa".
func (d *doc) commentedOut(path string) string {
	segs := splitPath(path)
	if len(segs) == 0 || segs[len(segs)-1].name == "" {
		return ""
	}
	parent, _ := d.find(strings.TrimSuffix(strings.TrimSuffix(path, segs[len(segs)-1].name), "."))
	k, v := child(parent, segs[len(segs)-1].name, 0)
	if k == nil || v.Tag != "!!null" || v.Value != "" {
		return ""
	}
	return k.LineComment
}

// line is the line a problem with path is reported on.
func (d *doc) line(path string) int {
	_, l := d.find(path)
	return l
}

// has reports whether the file sets path to something other than null.
func (d *doc) has(path string) bool {
	n, _ := d.find(path)
	n = resolve(n)
	return n != nil && n.Tag != "!!null"
}

// entry is one node of the file with its key path.
type entry struct {
	path   string
	parent string     // path of the enclosing mapping or list
	key    *yaml.Node // nil for sequence items
	val    *yaml.Node
}

// entries lists every key and item of the file in document order. Aliases
// are not followed (their targets are listed where they are defined), so
// this is linear in the size of the file.
func (d *doc) entries() []entry {
	if d == nil {
		return nil
	}
	if d.all != nil {
		return d.all
	}
	var out []entry
	var walk func(path string, n *yaml.Node)
	walk = func(path string, n *yaml.Node) {
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				p := join(path, k.Value)
				out = append(out, entry{path: p, parent: path, key: k, val: v})
				walk(p, v)
			}
		case yaml.SequenceNode:
			for i, item := range n.Content {
				p := index(path, i)
				out = append(out, entry{path: p, parent: path, val: item})
				walk(p, item)
			}
		}
	}
	if d.root != nil {
		walk("", d.root)
	}
	d.all = out
	return out
}

// typeAt returns the Go type that the value at path decodes into, or nil
// when path names no field of Config.
func typeAt(path string) reflect.Type {
	t := reflect.TypeFor[Config]()
	for _, s := range splitPath(path) {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		switch {
		case s.name == "" && t.Kind() == reflect.Slice:
			t = t.Elem()
		case s.name != "" && t.Kind() == reflect.Map:
			t = t.Elem()
		case s.name != "" && t.Kind() == reflect.Struct:
			f, ok := fieldByKey(t, s.name)
			if !ok {
				return nil
			}
			t = f.Type
		default:
			return nil
		}
	}
	return t
}

// fieldByKey finds the field of struct type t whose yaml key is key.
func fieldByKey(t reflect.Type, key string) (reflect.StructField, bool) {
	for f := range fieldsOf(t) {
		if yamlKey(f) == key {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// keysOf lists the yaml keys of struct type t.
func keysOf(t reflect.Type) []string {
	var keys []string
	for f := range fieldsOf(t) {
		keys = append(keys, yamlKey(f))
	}
	return keys
}

func fieldsOf(t reflect.Type) func(func(reflect.StructField) bool) {
	return func(yield func(reflect.StructField) bool) {
		if t == nil || t.Kind() != reflect.Struct {
			return
		}
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() || yamlKey(f) == "-" {
				continue
			}
			if !yield(f) {
				return
			}
		}
	}
}

func yamlKey(f reflect.StructField) string {
	tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if tag == "" {
		return strings.ToLower(f.Name)
	}
	return tag
}

// closest returns the candidate nearest to s, or "" when none is near
// enough to be a likely typo: the same word with other case or separators
// (dataDir, data-dir), or a couple of letters off.
func closest(s string, candidates []string) string {
	norm := func(s string) string {
		return strings.NewReplacer("_", "", "-", "").Replace(strings.ToLower(s))
	}
	best, bestD := "", 0
	for _, c := range candidates {
		d := editDistance(norm(s), norm(c))
		if d <= 2 && d*3 <= len(c) && (best == "" || d < bestD) {
			best, bestD = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
