package main

// The URL paths, metrics and agency webhook sections of docs/reference.md
// against internal/web's routes, the metric registry and the webhook payload.

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/careerrelay/careerrelay/internal/metrics"
	"github.com/careerrelay/careerrelay/internal/referral"
)

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
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		want := map[reflect.Kind]string{reflect.String: "string", reflect.Bool: "bool", reflect.Int: "integer", reflect.Int64: "integer",
			reflect.Uint64: "integer", reflect.Struct: "string", reflect.Slice: "list"}[ft.Kind()] // time.Time is an RFC 3339 string
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
