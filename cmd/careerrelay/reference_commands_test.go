package main

// The commands section of docs/reference.md against main.go's dispatch and
// each command's flags.

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// ---- commands -----------------------------------------------------------

// runners are the command functions, by name; the commands and which
// function runs each come from main.go.
var runners = map[string]func([]string) int{
	"runServe":        runServe,
	"runCheckConfig":  runCheckConfig,
	"runLedger":       runLedger,
	"runReport":       runReport,
	"runDKIMKeygen":   runDKIMKeygen,
	"runDKIMCheck":    runDKIMCheck,
	"runQueue":        runQueue,
	"runAudit":        runAudit,
	"runPrivacy":      runPrivacy,
	"runStore":        runStore,
	"runAPIKey":       runAPIKey,
	"runHashPassword": runHashPassword,
	"runLinks":        runLinks,
	"runDemo":         runDemo,
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
