package main

// The tests of this file hold docs/reference.md to the code: the config
// schema (package configs), the commands and their flags (this package),
// the URL paths (the muxes of internal/web), the metrics (the registry of
// internal/metrics) and the agency webhook payload (internal/referral).
// Each list is taken from the code, never written out here, so that a key,
// flag, path or metric added, renamed or removed fails until the reference
// says the same. They also check that README.md and docs/*.md lead nowhere
// outside the repository.

import (
	"bytes"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/careerrelay/careerrelay/configs"
	"github.com/careerrelay/careerrelay/internal/metrics"
	"github.com/careerrelay/careerrelay/internal/referral"
)

// repoRoot is the repository, seen from this package's folder.
const repoRoot = "../.."

var referencePath = filepath.Join(repoRoot, "docs", "reference.md")

// ---- reading the reference ----------------------------------------------

// section is the text under one heading of the reference, up to the next
// heading of the same or a higher level.
type section struct {
	title string
	lines []string
}

// sections returns the sections of md at heading level (2 for "## ").
func sections(md string, level int) []section {
	prefix := strings.Repeat("#", level) + " "
	var out []section
	inFence := false
	for _, line := range strings.Split(md, "\n") {
		if strings.HasPrefix(line, "```") {
			inFence = !inFence
		}
		if !inFence && strings.HasPrefix(line, "#") {
			hashes := len(line) - len(strings.TrimLeft(line, "#"))
			if hashes <= level {
				if strings.HasPrefix(line, prefix) {
					out = append(out, section{title: strings.TrimPrefix(line, prefix)})
				} else if len(out) > 0 {
					out = append(out, section{title: ""}) // a higher heading ends it
				}
				continue
			}
		}
		if len(out) > 0 {
			out[len(out)-1].lines = append(out[len(out)-1].lines, line)
		}
	}
	return out
}

// readReference returns docs/reference.md.
func readReference(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(referencePath)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// topSection returns the lines of the "## title" section.
func topSection(t *testing.T, md, title string) []string {
	t.Helper()
	for _, s := range sections(md, 2) {
		if s.title == title {
			return s.lines
		}
	}
	t.Fatalf("docs/reference.md has no section %q", "## "+title)
	return nil
}

// tableRows returns the body rows of the Markdown tables in lines, each as
// its cells (trimmed; "\|" stands for "|"), header rows and separators
// left out.
func tableRows(lines []string) [][]string {
	var rows [][]string
	for i, line := range lines {
		if !strings.HasPrefix(line, "|") || isSeparator(line) {
			continue
		}
		if i+1 < len(lines) && isSeparator(lines[i+1]) {
			continue // a header
		}
		line = strings.ReplaceAll(line, `\|`, "\x00")
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for j, c := range cells {
			cells[j] = strings.ReplaceAll(strings.TrimSpace(c), "\x00", "|")
		}
		rows = append(rows, cells)
	}
	return rows
}

func isSeparator(line string) bool {
	return strings.HasPrefix(line, "| ---") || strings.HasPrefix(line, "|---")
}

var codeSpan = regexp.MustCompile("`([^`]*)`")

// firstCode returns the content of the first `code span` of cell, and
// whether the cell starts with one.
func firstCode(cell string) (string, bool) {
	m := codeSpan.FindStringSubmatch(cell)
	if m == nil || !strings.HasPrefix(cell, "`") {
		return "", false
	}
	return m[1], true
}

// ---- configuration ------------------------------------------------------

// typeWord is how the reference names the type of a key's value.
func typeWord(t reflect.Type) string {
	durationType := reflect.TypeFor[time.Duration]()
	switch {
	case t == durationType:
		return "duration"
	case t.Kind() == reflect.String:
		return "string"
	case t.Kind() == reflect.Bool:
		return "bool"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		return "integer"
	case t.Kind() == reflect.Struct:
		return "mapping"
	case t.Kind() == reflect.Map && t.Elem().Kind() == reflect.String:
		return "map of strings"
	case t.Kind() == reflect.Slice && t.Elem() == durationType:
		return "list of durations"
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.String:
		return "list of strings"
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct:
		return "list of mappings"
	}
	return "unknown type " + t.String()
}

// configRow is one key of the reference's Configuration section.
type configRow struct{ typ, def, meaning string }

func configRows(t *testing.T, md string) map[string]configRow {
	t.Helper()
	rows := map[string]configRow{}
	for _, r := range tableRows(topSection(t, md, "Configuration")) {
		key, ok := firstCode(r[0])
		if !ok {
			continue
		}
		if len(r) != 4 {
			t.Errorf("reference: key %s: want 4 cells (key, type, default, meaning), have %d", key, len(r))
			continue
		}
		if _, dup := rows[key]; dup {
			t.Errorf("reference: key %s is documented twice", key)
		}
		rows[key] = configRow{typ: r[1], def: r[2], meaning: r[3]}
	}
	return rows
}

// TestReferenceConfigKeys: every key of the schema is documented with its
// type and a meaning, and every documented key exists.
func TestReferenceConfigKeys(t *testing.T) {
	rows := configRows(t, readReference(t))
	schema := configs.Schema()
	if len(schema) < 50 {
		t.Fatalf("configs.Schema() lists %d keys; the schema has more", len(schema))
	}
	known := map[string]bool{}
	for _, k := range schema {
		known[k.Path] = true
		r, ok := rows[k.Path]
		if !ok {
			t.Errorf("reference: config key %s is not documented", k.Path)
			continue
		}
		if want := typeWord(k.Type); r.typ != want {
			t.Errorf("reference: config key %s: type %q, want %q", k.Path, r.typ, want)
		}
		// A mapping's row may leave the default empty; every key says
		// what it is for.
		if r.meaning == "" {
			t.Errorf("reference: config key %s has no meaning", k.Path)
		}
	}
	for key := range rows {
		if !known[key] {
			t.Errorf("reference: config key %s is documented but is not in the schema", key)
		}
	}
}

// minimalConfig sets the keys that have no default; every other key takes
// its default when loaded.
const minimalConfig = `data_dir: data
smtp:
  listen: "127.0.0.1:0"
  hostname: relay.test.example
  allow_networks: [127.0.0.1]
delivery:
  relay:
    address: "smtp.test.example:587"
links:
  base_url: https://careers.test.example
  keys: [{id: k1, secret_file: link.key}]
agency:
  name: Test Agency
  registration_url: https://agency.test.example/register
tenants:
  - id: acme
    name: Acme
    domains: [acme.test.example]
`

// minimalSet are the keys minimalConfig sets (and their mappings).
var minimalSet = []string{
	"data_dir", "smtp.listen", "smtp.hostname", "smtp.allow_networks",
	"delivery.relay.address", "links.base_url", "links.keys", "links.keys[].id",
	"links.keys[].secret_file", "agency.name", "agency.registration_url",
	"tenants", "tenants[].id", "tenants[].name", "tenants[].domains",
}

// valueAt follows a schema path (lists as []: their first item) in v, a
// Config.
func valueAt(v reflect.Value, path string) (reflect.Value, bool) {
	for _, part := range strings.Split(path, ".") {
		list := strings.HasSuffix(part, "[]")
		name := strings.TrimSuffix(part, "[]")
		found := false
		for i := range v.NumField() {
			f := v.Type().Field(i)
			if tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ","); tag == name {
				v, found = v.Field(i), true
				break
			}
		}
		if !found {
			return reflect.Value{}, false
		}
		if list {
			if v.Len() == 0 {
				return reflect.Value{}, false
			}
			v = v.Index(0)
		}
	}
	return v, true
}

// zeroDefaults are what the reference may write for a key whose default
// is empty, false or 0.
var zeroDefaults = []string{"none", "`\"\"`", "`false`", "`0`", "`[]`", "`{}`"}

// TestReferenceConfigDefaults loads a config that sets only what has no
// default and compares every other key's value with its documented
// default: a `literal`, a `key` whose value it takes, or "none" for an
// empty value.
func TestReferenceConfigDefaults(t *testing.T) {
	rows := configRows(t, readReference(t))
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "link.key"), []byte(strings.Repeat("k", 40)), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "careerrelay.yaml")
	if err := os.WriteFile(path, []byte(minimalConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := configs.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	root := reflect.ValueOf(cfg).Elem()
	for _, k := range configs.Schema() {
		r, ok := rows[k.Path]
		if !ok || slices.Contains(minimalSet, k.Path) || k.Type.Kind() == reflect.Struct {
			continue // missing ones fail TestReferenceConfigKeys
		}
		v, ok := valueAt(root, k.Path)
		if !ok {
			continue // a key of the items of a list the config leaves empty
		}
		lit, isLit := firstCode(r.def)
		if v.IsZero() || (v.Kind() == reflect.Slice || v.Kind() == reflect.Map) && v.Len() == 0 {
			zero := strings.HasPrefix(r.def, "required")
			for _, z := range zeroDefaults {
				zero = zero || strings.HasPrefix(r.def, z)
			}
			if !zero {
				t.Errorf("reference: %s: default %q, but a config without it has none", k.Path, r.def)
			}
			continue
		}
		if !isLit {
			t.Errorf("reference: %s: default %q, want the value %v as `code`", k.Path, r.def, v.Interface())
			continue
		}
		if other, ok := valueAt(root, lit); ok && rows[lit] != (configRow{}) {
			if !reflect.DeepEqual(v.Interface(), other.Interface()) {
				t.Errorf("reference: %s: default %s, but it is %v, not %v", k.Path, lit, v.Interface(), other.Interface())
			}
			continue
		}
		if !sameValue(v, lit) {
			t.Errorf("reference: %s: default `%s`, but a config without it has %v", k.Path, lit, v.Interface())
		}
	}
}

// sameValue tells whether the literal lit, as the reference writes it,
// is the value v.
func sameValue(v reflect.Value, lit string) bool {
	switch x := v.Interface().(type) {
	case time.Duration:
		d, err := time.ParseDuration(lit)
		return err == nil && d == x
	case []time.Duration:
		parts := strings.Split(strings.Trim(lit, "[]"), ",")
		if len(parts) != len(x) {
			return false
		}
		for i, p := range parts {
			if d, err := time.ParseDuration(strings.TrimSpace(p)); err != nil || d != x[i] {
				return false
			}
		}
		return true
	}
	switch v.Kind() {
	case reflect.String:
		if s, err := strconv.Unquote(lit); err == nil {
			lit = s
		}
		return lit == v.String()
	case reflect.Bool:
		b, err := strconv.ParseBool(lit)
		return err == nil && b == v.Bool()
	case reflect.Int, reflect.Int64:
		n, err := strconv.ParseInt(lit, 10, 64)
		return err == nil && n == v.Int()
	}
	return false
}

// ---- commands -----------------------------------------------------------

// runners are the command functions, by name; the commands and which
// function runs each come from main.go.
var runners = map[string]func([]string) int{
	"runServe":       runServe,
	"runCheckConfig": runCheckConfig,
	"runLedger":      runLedger,
	"runReport":      runReport,
	"runDKIMKeygen":  runDKIMKeygen,
	"runDKIMCheck":   runDKIMCheck,
	"runQueue":       runQueue,
	"runDemo":        runDemo,
}

// switchCases returns, for the switch on the variable tag in function fn
// of file, each case's string values and the function its body calls
// first ("" for none). A case that mentions "help" is left out.
func switchCases(t *testing.T, file, fn, tag string) map[string]string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, d := range f.Decls {
		fd, ok := d.(*ast.FuncDecl)
		if !ok || fd.Name.Name != fn {
			continue
		}
		ast.Inspect(fd.Body, func(n ast.Node) bool {
			sw, ok := n.(*ast.SwitchStmt)
			if !ok {
				return true
			}
			if id, isID := sw.Tag.(*ast.Ident); !isID || id.Name != tag {
				return true
			}
			for _, st := range sw.Body.List {
				cc := st.(*ast.CaseClause)
				var names []string
				for _, e := range cc.List {
					if lit, ok := e.(*ast.BasicLit); ok && lit.Kind == token.STRING {
						s, _ := strconv.Unquote(lit.Value)
						names = append(names, s)
					}
				}
				if slices.Contains(names, "help") {
					continue
				}
				call := ""
				ast.Inspect(cc, func(n ast.Node) bool {
					if c, ok := n.(*ast.CallExpr); ok && call == "" {
						if id, ok := c.Fun.(*ast.Ident); ok {
							call = id.Name
						}
					}
					return call == ""
				})
				for _, s := range names {
					out[s] = call
				}
			}
			return false
		})
	}
	if len(out) == 0 {
		t.Fatalf("%s: no switch on %s in %s", file, tag, fn)
	}
	return out
}

// helpOutput runs a command function with args (ending in -h) and returns
// what it wrote on standard error.
func helpOutput(t *testing.T, run func([]string) int, args ...string) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stderr
	os.Stderr = w
	done := make(chan []byte)
	go func() {
		b, _ := io.ReadAll(r)
		done <- b
	}()
	code := run(args)
	os.Stderr = saved
	w.Close()
	out := <-done
	r.Close()
	if code != 2 {
		t.Errorf("%v: exit %d, want 2 for -h", args, code)
	}
	return string(out)
}

var (
	flagLine   = regexp.MustCompile(`^  -([A-Za-z0-9_-]+)`)
	defaultsRE = regexp.MustCompile(`\(default (.+)\)$`)
)

// parseFlags reads flag.PrintDefaults output: each flag and its default
// ("" when the flag package shows none).
func parseFlags(help string) map[string]string {
	flags := map[string]string{}
	cur := ""
	for _, line := range strings.Split(help, "\n") {
		if m := flagLine.FindStringSubmatch(line); m != nil {
			cur = m[1]
			flags[cur] = ""
		}
		if m := defaultsRE.FindStringSubmatch(strings.TrimSpace(line)); m != nil && cur != "" {
			d := m[1]
			if s, err := strconv.Unquote(d); err == nil {
				d = s
			}
			flags[cur] = d
		}
	}
	return flags
}

// codeCommands returns each command's flags and defaults, and the ledger's
// subcommands, from the code.
func codeCommands(t *testing.T) (map[string]map[string]string, []string) {
	t.Helper()
	cmds := switchCases(t, "main.go", "main", "cmd")
	subs := switchCases(t, "ledger.go", "runLedger", "sub")
	var ledgerSubs []string
	for s := range subs {
		ledgerSubs = append(ledgerSubs, s)
	}
	sort.Strings(ledgerSubs)
	out := map[string]map[string]string{}
	for name, fn := range cmds {
		run, ok := runners[fn]
		if !ok {
			t.Fatalf("command %s runs %s: add it to runners in reference_test.go", name, fn)
		}
		args := []string{"-h"}
		if name == "ledger" {
			args = []string{ledgerSubs[0], "-h"}
		}
		flags := parseFlags(helpOutput(t, run, args...))
		if len(flags) == 0 {
			t.Errorf("careerrelay %s -h lists no flags", name)
		}
		out[name] = flags
	}
	return out, ledgerSubs
}

// docCommand is one command of the reference.
type docCommand struct {
	flags map[string]string // flag -> its Default cell
	subs  []string          // first cells of a Subcommand table
}

var commandHeading = regexp.MustCompile("^`careerrelay ([a-z-]+)")

func docCommands(t *testing.T, md string) map[string]docCommand {
	t.Helper()
	out := map[string]docCommand{}
	lines := topSection(t, md, "Commands")
	for _, s := range sections(strings.Join(lines, "\n"), 3) {
		m := commandHeading.FindStringSubmatch(s.title)
		if m == nil {
			t.Errorf("reference: under Commands, heading %q does not name a command as `careerrelay NAME ...`", s.title)
			continue
		}
		c := docCommand{flags: map[string]string{}}
		for _, r := range tableRows(s.lines) {
			code, ok := firstCode(r[0])
			switch {
			case !ok:
			case strings.HasPrefix(code, "-"):
				name, _, _ := strings.Cut(strings.TrimPrefix(code, "-"), " ")
				if _, dup := c.flags[name]; dup {
					t.Errorf("reference: careerrelay %s -%s is documented twice", m[1], name)
				}
				if len(r) < 3 || r[2] == "" {
					t.Errorf("reference: careerrelay %s -%s: want cells flag, default, meaning", m[1], name)
					continue
				}
				c.flags[name] = r[1]
			default:
				c.subs = append(c.subs, code)
			}
		}
		if _, dup := out[m[1]]; dup {
			t.Errorf("reference: command %s is documented twice", m[1])
		}
		out[m[1]] = c
	}
	return out
}

// TestReferenceCommands: every command and each of its flags is
// documented, with the flag's default; nothing documented is missing from
// the code.
func TestReferenceCommands(t *testing.T) {
	code, ledgerSubs := codeCommands(t)
	doc := docCommands(t, readReference(t))
	if len(code) < 8 {
		t.Fatalf("main.go dispatches %d commands; there are more", len(code))
	}
	for name, flags := range code {
		d, ok := doc[name]
		if !ok {
			t.Errorf("reference: command careerrelay %s is not documented", name)
			continue
		}
		for f, def := range flags {
			cell, ok := d.flags[f]
			if !ok {
				t.Errorf("reference: careerrelay %s -%s is not documented", name, f)
				continue
			}
			if def == "" {
				continue
			}
			lit, isLit := firstCode(cell)
			// A default the usage text gives itself, such as "(default
			// today)", is written as it is.
			same := isLit && lit == def || cell == def
			if dl, err := time.ParseDuration(lit); err == nil {
				dc, err := time.ParseDuration(def)
				same = isLit && err == nil && dl == dc
			}
			if !same {
				t.Errorf("reference: careerrelay %s -%s: default %q, the code's is `%s`", name, f, cell, def)
			}
		}
		for f := range d.flags {
			if _, ok := flags[f]; ok {
				continue
			}
			t.Errorf("reference: careerrelay %s -%s is documented but the command has no such flag", name, f)
		}
	}
	for name := range doc {
		if _, ok := code[name]; !ok {
			t.Errorf("reference: command careerrelay %s is documented but main.go has no such command", name)
		}
	}
	if got := doc["ledger"].subs; !slices.Equal(slices.Sorted(slices.Values(got)), ledgerSubs) {
		t.Errorf("reference: ledger subcommands %v, the code has %v", got, ledgerSubs)
	}
}

// ---- URL paths ----------------------------------------------------------

// route is a path served on a listener: its explicit methods, and whether
// a pattern without a method also matches it.
type route struct {
	methods map[string]bool
	any     bool
}

// normPath writes each wildcard segment ({token}, <token>, <id>.css) as *.
func normPath(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		if strings.ContainsAny(s, "{<") {
			segs[i] = "*"
		}
	}
	return strings.Join(segs, "/")
}

// codeRoutes reads the patterns given to Handle and HandleFunc in
// internal/web: those of admin*.go are on admin.listen, the others on
// http.listen. The catch-all "/" is left out.
func codeRoutes(t *testing.T) map[string]map[string]*route {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repoRoot, "internal", "web", "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]*route{"http.listen": {}, "admin.listen": {}}
	fset := token.NewFileSet()
	for _, file := range files {
		if strings.HasSuffix(file, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, file, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		listener := "http.listen"
		if strings.HasPrefix(filepath.Base(file), "admin") {
			listener = "admin.listen"
		}
		ast.Inspect(f, func(n ast.Node) bool {
			c, ok := n.(*ast.CallExpr)
			if !ok || len(c.Args) == 0 {
				return true
			}
			sel, ok := c.Fun.(*ast.SelectorExpr)
			if !ok || (sel.Sel.Name != "Handle" && sel.Sel.Name != "HandleFunc") {
				return true
			}
			lit, ok := c.Args[0].(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true // the 405 answers of admin.go, for paths registered already
			}
			pattern, _ := strconv.Unquote(lit.Value)
			method, path, hasMethod := strings.Cut(pattern, " ")
			if !hasMethod {
				method, path = "", pattern
			}
			if path == "/" {
				return true
			}
			path = normPath(path)
			r := out[listener][path]
			if r == nil {
				r = &route{methods: map[string]bool{}}
				out[listener][path] = r
			}
			if method == "" {
				r.any = true
			} else {
				r.methods[method] = true
			}
			return true
		})
	}
	return out
}

// TestReferenceURLPaths: every path the muxes of internal/web serve is
// documented under its listener with its methods, and every documented
// path and method is served.
func TestReferenceURLPaths(t *testing.T) {
	code := codeRoutes(t)
	if len(code["http.listen"]) < 6 || len(code["admin.listen"]) < 6 {
		t.Fatalf("internal/web registers too few routes: %v", code)
	}
	lines := topSection(t, readReference(t), "URL paths")
	doc := map[string]map[string]map[string]bool{} // listener -> path -> methods
	for _, s := range sections(strings.Join(lines, "\n"), 3) {
		listener, ok := strings.CutPrefix(s.title, "On ")
		listener = strings.Trim(listener, "`")
		if !ok || code[listener] == nil {
			t.Errorf("reference: under URL paths, heading %q is not On `http.listen` or On `admin.listen`", s.title)
			continue
		}
		doc[listener] = map[string]map[string]bool{}
		for _, r := range tableRows(s.lines) {
			p, ok := firstCode(r[1])
			if !ok {
				t.Errorf("reference: %s: row %v has no `path` in its second cell", listener, r)
				continue
			}
			p = normPath(p)
			if doc[listener][p] == nil {
				doc[listener][p] = map[string]bool{}
			}
			for _, m := range strings.Split(r[0], ",") {
				doc[listener][p][strings.TrimSpace(m)] = true
			}
		}
	}
	for listener, routes := range code {
		for path, r := range routes {
			methods, ok := doc[listener][path]
			if !ok {
				t.Errorf("reference: %s %s is not documented", listener, path)
				continue
			}
			for m := range r.methods {
				if !methods[m] {
					t.Errorf("reference: %s %s: method %s is not documented", listener, path, m)
				}
			}
			for m := range methods {
				served := r.methods[m] || (m == "HEAD" && r.methods["GET"]) || (len(r.methods) == 0 && r.any)
				if !served {
					t.Errorf("reference: %s %s %s is documented but not served", listener, m, path)
				}
			}
		}
		for path := range doc[listener] {
			if routes[path] == nil {
				t.Errorf("reference: %s %s is documented but internal/web does not serve it", listener, path)
			}
		}
	}
}

// ---- metrics ------------------------------------------------------------

// TestReferenceMetrics: every careerrelay_* metric of the registry is
// documented with its type and labels, and every careerrelay_* name of the
// reference is a registered metric (or a histogram's series).
func TestReferenceMetrics(t *testing.T) {
	mfs, err := metrics.NewRegistry([]string{"reference-test"}).Gather()
	if err != nil {
		t.Fatal(err)
	}
	type metric struct{ typ, labels string }
	code := map[string]metric{}
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), "careerrelay_") {
			continue
		}
		var labels []string
		if len(mf.GetMetric()) > 0 {
			for _, l := range mf.GetMetric()[0].GetLabel() {
				labels = append(labels, l.GetName())
			}
		}
		sort.Strings(labels)
		code[mf.GetName()] = metric{strings.ToLower(mf.GetType().String()), strings.Join(labels, ",")}
	}
	if len(code) < 11 {
		t.Fatalf("the registry has %d careerrelay_* metrics, want 11 or more", len(code))
	}
	md := readReference(t)
	doc := map[string]metric{}
	for _, r := range tableRows(topSection(t, md, "Metrics")) {
		name, ok := firstCode(r[0])
		if !ok || len(r) != 4 {
			t.Errorf("reference: metrics row %v: want `name`, type, labels, meaning", r)
			continue
		}
		var labels []string
		for _, m := range codeSpan.FindAllStringSubmatch(r[2], -1) {
			labels = append(labels, m[1])
		}
		sort.Strings(labels)
		doc[name] = metric{r[1], strings.Join(labels, ",")}
	}
	for name, m := range code {
		d, ok := doc[name]
		switch {
		case !ok:
			t.Errorf("reference: metric %s is not documented", name)
		case d != m:
			t.Errorf("reference: metric %s: %s with labels [%s], the registry has %s with [%s]", name, d.typ, d.labels, m.typ, m.labels)
		}
	}
	for _, name := range regexp.MustCompile(`\bcareerrelay_[a-z0-9_]+`).FindAllString(md, -1) {
		base := name
		for _, suf := range []string{"_bucket", "_sum", "_count"} {
			if b, ok := strings.CutSuffix(name, suf); ok && code[b].typ == "histogram" {
				base = b
			}
		}
		if _, ok := code[base]; !ok {
			t.Errorf("reference: %s is not a registered metric", name)
		}
	}
}

// ---- agency webhook -----------------------------------------------------

// TestReferenceWebhook: the payload's fields, the signature header and the
// event name are those of package referral.
func TestReferenceWebhook(t *testing.T) {
	md := readReference(t)
	lines := topSection(t, md, "Agency webhook")
	doc := map[string]string{}
	for _, r := range tableRows(lines) {
		if f, ok := firstCode(r[0]); ok && len(r) == 3 {
			doc[f] = r[1]
		}
	}
	pt := reflect.TypeFor[referral.WebhookPayload]()
	code := map[string]bool{}
	for i := range pt.NumField() {
		f := pt.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		code[name] = true
		want := map[reflect.Kind]string{reflect.String: "string", reflect.Bool: "bool", reflect.Int: "integer",
			reflect.Uint64: "integer", reflect.Struct: "string"}[f.Type.Kind()] // time.Time is an RFC 3339 string
		switch typ, ok := doc[name]; {
		case !ok:
			t.Errorf("reference: webhook field %s is not documented", name)
		case typ != want:
			t.Errorf("reference: webhook field %s: type %q, want %q", name, typ, want)
		}
	}
	for f := range doc {
		if !code[f] {
			t.Errorf("reference: webhook field %s is documented but not sent", f)
		}
	}
	text := strings.Join(lines, "\n")
	for _, s := range []string{referral.SignatureHeader, referral.EventReferral, "sha256="} {
		if !strings.Contains(text, s) {
			t.Errorf("reference: the Agency webhook section does not mention %s", s)
		}
	}
}

// ---- links --------------------------------------------------------------

var mdLinkTarget = regexp.MustCompile(`\]\(([^)\s]+)\)|href="([^"]+)"`)

// withoutFences returns md without its fenced code blocks and code spans,
// whose text is an example, not a link.
func withoutFences(md string) string {
	var out []string
	inFence := false
	for _, line := range strings.Split(md, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			inFence = !inFence
			continue
		}
		if !inFence {
			out = append(out, line)
		}
	}
	return codeSpan.ReplaceAllString(strings.Join(out, "\n"), "")
}

// TestDocsStayInRepository: README.md and the Markdown files of docs/ and
// configs/ link only to files of the repository (or to absolute URLs) and
// name no file of the team's workspace; README.md links to the reference.
func TestDocsStayInRepository(t *testing.T) {
	root, err := filepath.Abs(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	files := []string{filepath.Join(root, "README.md")}
	for _, g := range []string{"docs/*.md", "configs/*/README.md"} {
		m, err := filepath.Glob(filepath.Join(root, g))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) < 10 {
		t.Fatalf("found %d Markdown files: %v", len(files), files)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, f)
		for _, bad := range []string{"shared/", "SPEC.md", "SPEC §"} {
			if bytes.Contains(b, []byte(bad)) {
				t.Errorf("%s mentions %q, a file outside the repository", rel, bad)
			}
		}
		for _, m := range mdLinkTarget.FindAllStringSubmatch(withoutFences(string(b)), -1) {
			target := m[1] + m[2]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") || strings.HasPrefix(target, "#") {
				continue
			}
			target, _, _ = strings.Cut(target, "#")
			path := filepath.Join(filepath.Dir(f), target)
			if r, err := filepath.Rel(root, path); err != nil || r == ".." || strings.HasPrefix(r, ".."+string(filepath.Separator)) {
				t.Errorf("%s: link %s leads outside the repository", rel, m[0])
				continue
			}
			if _, err := os.Stat(path); err != nil {
				t.Errorf("%s: link %s: %v", rel, m[0], err)
			}
		}
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(readme, []byte("](docs/reference.md")) {
		t.Error("README.md does not link to docs/reference.md")
	}
}
