package referral

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// exportEnv is ledgerEnv with a note that needs escaping in CSV, JSON and
// the canonical encoding.
func exportEnv(t *testing.T) *env {
	e := ledgerEnv(t)
	if _, err := e.s.Adjust(context.Background(), "acme", 1, `採用 "A", <&> \ 😀`); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) export(tenant, format string) []byte {
	e.t.Helper()
	var b bytes.Buffer
	if err := e.s.Export(&b, tenant, format); err != nil {
		e.t.Fatal(err)
	}
	return b.Bytes()
}

func parse(t *testing.T, b []byte, format string) []Entry {
	t.Helper()
	entries, err := ParseExport(bytes.NewReader(b), format)
	if err != nil {
		t.Fatal(err)
	}
	return entries
}

func TestExportRoundTrip(t *testing.T) {
	e := exportEnv(t)
	ledger := e.ledger()
	for _, format := range []string{"csv", "json"} {
		full := parse(t, e.export("", format), format)
		if !reflect.DeepEqual(full, ledger) {
			t.Errorf("%s: read back differs from the ledger", format)
		}
		if err := Verify(full); err != nil {
			t.Errorf("%s: %v", format, err)
		}
		beta := parse(t, e.export("beta", format), format)
		if len(beta) != 6 {
			t.Errorf("%s: beta's export has %d entries", format, len(beta))
		}
		if err := VerifyPartial(beta); err != nil {
			t.Errorf("%s beta: %v", format, err)
		}
		if err := VerifySubset(beta, full); err != nil {
			t.Errorf("%s beta against full: %v", format, err)
		}
	}

	// An export edited by hand fails at the edited entry.
	csv := e.export("", "csv")
	edited := bytes.Replace(csv, []byte(",hire 1,"), []byte(",hire 2,"), 1)
	if bytes.Equal(edited, csv) {
		t.Fatal("nothing to edit")
	}
	wantVerifyError(t, Verify(parse(t, edited, "csv")), 17, "changed")

	var b bytes.Buffer
	if err := e.s.Export(&b, "", "xml"); err == nil {
		t.Error("export as xml")
	}
	wantErr(t, e.s.Export(&b, "nope", "csv"), ErrUnknownTenant)
	for _, bad := range []struct{ format, text string }{
		{"csv", "seq,when\n1,2\n"},
		{"csv", strings.Join(csvHeader, ",") + "\nx,2026-11-24T09:00:00Z,acme,referral,,0,,,h\n"},
		{"json", `[{"seq":1,"extra":true}]`},
		{"yaml", ""},
	} {
		if _, err := ParseExport(strings.NewReader(bad.text), bad.format); err == nil {
			t.Errorf("ParseExport(%q, %s) accepted", bad.text, bad.format)
		}
	}
}

// pythonRecipe is the verifier in the package comment, as written there.
func pythonRecipe(t *testing.T) string {
	src, err := os.ReadFile("referral.go")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(src), "//\timport hashlib, json\n")
	end := strings.Index(rest, "//\t    prev = h\n")
	if !ok || end < 0 {
		t.Fatal("no Python verifier in the package comment")
	}
	lines := strings.Split("//\timport hashlib, json\n"+rest[:end]+"//\t    prev = h", "\n")
	for i, l := range lines {
		lines[i] = strings.TrimPrefix(l, "//\t")
	}
	return strings.Join(lines, "\n") + "\nprint('verified', n)\n"
}

// pythonCSV verifies a CSV export as the package comment describes it.
const pythonCSV = `import csv, hashlib, json
prev = ""
for n, row in enumerate(csv.DictReader(open("ledger.csv", newline="", encoding="utf-8")), 1):
    h = row.pop("hash")
    e = {k: v for k, v in row.items() if v != "" or k not in ("referral_id", "note")}
    e["seq"], e["amount"] = int(e["seq"]), int(e["amount"])
    assert e["seq"] == n and e["prev"] == prev, n
    c = json.dumps(e, sort_keys=True, separators=(",", ":"))
    assert hashlib.sha256((prev + "\n" + c).encode()).hexdigest() == h, n
    prev = h
print('verified', n)
`

// The documented recipe verifies an export independently of this package,
// and catches an edit.
func TestPythonVerifiesExport(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	e := exportEnv(t)
	dir := t.TempDir()
	run := func(script, file string, data []byte) (string, error) {
		if err := os.WriteFile(filepath.Join(dir, file), data, 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(py, "-c", script)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	for _, c := range []struct{ format, file, script string }{
		{"json", "ledger.json", pythonRecipe(t)},
		{"csv", "ledger.csv", pythonCSV},
	} {
		data := e.export("", c.format)
		out, err := run(c.script, c.file, data)
		if err != nil || !strings.Contains(out, "verified 19") {
			t.Errorf("%s: python says %v\n%s", c.format, err, out)
		}
		edited := bytes.Replace(data, []byte("hire 1"), []byte("hire 2"), 1)
		if out, err := run(c.script, c.file, edited); err == nil || !strings.Contains(out, "AssertionError: 17") {
			t.Errorf("%s: python passed an edited export: %v\n%s", c.format, err, out)
		}
	}
}

// TestCSVNoteNotAFormula: a note a spreadsheet would run as a formula is
// written as text, and reads back exactly, so the ledger still verifies.
func TestCSVNoteNotAFormula(t *testing.T) {
	entries := []Entry{{Seq: 1, Tenant: "acme", Kind: KindRedeem, Amount: 1, Note: `=HYPERLINK("http://evil.example","hire")`}}
	var b strings.Builder
	if err := WriteCSV(&b, entries); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), `"'=HYPERLINK(`) {
		t.Errorf("the note is written as a formula:\n%s", b.String())
	}
	back, err := ParseExport(strings.NewReader(b.String()), "csv")
	if err != nil || len(back) != 1 || back[0].Note != entries[0].Note {
		t.Errorf("read back %+v, %v", back, err)
	}
}
