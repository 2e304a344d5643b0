package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestREADMEPackageTable: the README's architecture table names every Go
// package of the repository (every folder with a .go file, as go list
// ./... lists them) and no package that does not exist.
func TestREADMEPackageTable(t *testing.T) {
	root := filepath.Join("..", "..")
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	cell := regexp.MustCompile("`([^`]+)`")
	_, table, found := strings.Cut(string(readme), "| package | responsibility |\n")
	if !found {
		t.Fatal("README.md has no table headed | package | responsibility |")
	}
	table, _, _ = strings.Cut(table, "\n\n")
	for _, line := range strings.Split(table, "\n") {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		first := strings.SplitN(line[1:], "|", 2)[0]
		for _, m := range cell.FindAllStringSubmatch(first, -1) {
			documented[m[1]] = true
		}
	}
	var pkgs []string
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() && path != root && (name == "testdata" || name == "bin" || name == "var" || strings.HasPrefix(name, ".")) {
			return filepath.SkipDir
		}
		if d.IsDir() && path != root && fileExists(filepath.Join(path, "go.mod")) {
			return filepath.SkipDir // another module (third_party/): not in go list ./...
		}
		if !d.IsDir() && strings.HasSuffix(name, ".go") {
			rel, _ := filepath.Rel(root, filepath.Dir(path))
			if !slices.Contains(pkgs, filepath.ToSlash(rel)) {
				pkgs = append(pkgs, filepath.ToSlash(rel))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(pkgs) < 10 {
		t.Fatalf("found only %d packages under %s: %v", len(pkgs), root, pkgs)
	}
	for _, p := range pkgs {
		if !documented[p] {
			t.Errorf("package %s is not in README.md's architecture table", p)
		}
		delete(documented, p)
	}
	for p := range documented {
		t.Errorf("README.md's architecture table names %s, which is no package", p)
	}
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
