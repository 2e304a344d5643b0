package configs

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/careerrelay/careerrelay/internal/testlib"
)

// TestBadConfigs loads each testdata/bad/NN-name.yaml (copied next to the
// fixture secrets and keys) and checks that it fails with exactly one
// problem whose text matches the regular expression in NN-name.err. The
// error text is written to NN-name.got in a temp dir for inspection (kept,
// and its path logged, when the test fails).
func TestBadConfigs(t *testing.T) {
	cases, err := filepath.Glob("testdata/bad/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) < 10 {
		t.Fatalf("only %d bad cases", len(cases))
	}
	fixtures := fixtureDir(t)
	gotDir := testlib.TempDir(t)
	for _, c := range cases {
		name := strings.TrimSuffix(filepath.Base(c), ".yaml")
		t.Run(name, func(t *testing.T) {
			want, err := os.ReadFile(strings.TrimSuffix(c, ".yaml") + ".err")
			if err != nil {
				t.Fatal(err)
			}
			re, err := regexp.Compile(strings.TrimSpace(string(want)))
			if err != nil {
				t.Fatalf("bad regexp in .err: %v", err)
			}

			path := copyInto(t, c, fixtures)
			cfg, err := Load(path)
			got := ""
			if err != nil {
				got = strings.ReplaceAll(err.Error(), fixtures+string(filepath.Separator), "testdata/bad/")
			}
			gotPath := filepath.Join(gotDir, name+".got")
			if werr := os.WriteFile(gotPath, []byte(got+"\n"), 0o644); werr != nil {
				t.Logf("cannot write .got: %v", werr)
			}
			if err == nil {
				t.Fatalf("loaded without error: %+v", cfg)
			}
			if cfg != nil {
				t.Errorf("Load returned a config with the error")
			}
			var errs *Errors
			if !errors.As(err, &errs) {
				t.Fatalf("error is %T, not *Errors: %v", err, err)
			}
			if len(errs.Problems) != 1 {
				t.Errorf("want exactly 1 problem, got %d:\n%s", len(errs.Problems), got)
			}
			for _, p := range errs.Problems {
				if p.Hint == "" {
					t.Errorf("problem without a hint: %v", p)
				}
				if p.Line < 1 {
					t.Errorf("problem without a line: %v", p)
				}
			}
			if !re.MatchString(got) {
				t.Errorf("error does not match %q (of %s.err):\n%s\n(the text is in %s)", re, strings.TrimSuffix(c, ".yaml"), got, gotPath)
			}
		})
	}
}
