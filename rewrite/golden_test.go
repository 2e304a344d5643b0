package rewrite

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/careerrelay/careerrelay/internal/testlib"
)

var update = flag.Bool("update", false, "write the .want files of the golden tests")

const (
	testTag  = "[[career-relay]]"
	testLink = "https://careers.example.jp/c/TESTTOKEN"
)

// TestGolden renders each testdata/NN-name.eml with testLink, writes the
// result to NN-name.got in a temp dir (kept, and its path logged, when the
// test fails) and compares it with NN-name.want; every result must also
// pass CheckFidelity. With -update the result is written to NN-name.want.
func TestGolden(t *testing.T) {
	ins, err := filepath.Glob(filepath.Join("testdata", "*.eml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(ins) < 25 {
		t.Fatalf("only %d golden cases", len(ins))
	}
	gotDir := testlib.TempDir(t)
	for _, in := range ins {
		name := strings.TrimSuffix(filepath.Base(in), ".eml")
		t.Run(name, func(t *testing.T) {
			msg, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			tm, err := Prepare(msg, testTag)
			if err != nil {
				t.Fatalf("Prepare: %v", err)
			}
			got, err := tm.Render(testLink)
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			wantPath := strings.TrimSuffix(in, ".eml") + ".want"
			gotPath := filepath.Join(gotDir, name+".got")
			if err := os.WriteFile(gotPath, got, 0o644); err != nil {
				t.Fatal(err)
			}
			if *update {
				if err := os.WriteFile(wantPath, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(wantPath)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("the result differs from %s; compare: diff %s %s", wantPath, wantPath, gotPath)
			}
			var streamed bytes.Buffer
			if n, err := tm.WriteRender(&streamed, testLink); err != nil || n != int64(streamed.Len()) || !bytes.Equal(streamed.Bytes(), got) {
				t.Errorf("WriteRender wrote %d octets (said %d, %v), not what Render gives", streamed.Len(), n, err)
			}
			if !tm.Tagged() && !bytes.Equal(got, msg) {
				t.Errorf("untagged message changed")
			}
			if err := CheckFidelity(msg, got, testTag, testLink); err != nil {
				t.Errorf("fidelity: %v", err)
			}
		})
	}
}

func testdataFile(name string) ([]byte, error) {
	return os.ReadFile(filepath.Join("testdata", name))
}
