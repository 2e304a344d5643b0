package configs

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad feeds arbitrary files to the loader: it must never panic, and
// every failure must be an *Errors whose problems all have a message and a
// hint. The seeds are the bad-config suite and the shipped configs.
func FuzzLoad(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/bad/*.yaml")
	seeds = append(seeds, "dev.yaml", "careerrelay.example.yaml")
	for _, s := range seeds {
		data, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	dir := f.TempDir()
	old := hostname
	hostname = func() (string, error) { return "relay.fuzz.example", nil }
	f.Cleanup(func() { hostname = old })
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := load("fuzz.yaml", filepath.Join(dir, "fuzz.yaml"), data)
		if err == nil {
			if cfg == nil {
				t.Fatal("no config and no error")
			}
			return
		}
		var errs *Errors
		if !errors.As(err, &errs) || len(errs.Problems) == 0 {
			t.Fatalf("error %T without problems: %v", err, err)
		}
		for _, p := range errs.Problems {
			if p.Msg == "" || p.Hint == "" || p.Line < 0 {
				t.Errorf("incomplete problem %+v", p)
			}
		}
	})
}
