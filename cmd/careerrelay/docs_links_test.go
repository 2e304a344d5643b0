package main

// README.md and docs/*.md lead nowhere outside the repository.

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

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
