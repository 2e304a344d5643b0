package main

// The reference_*_test.go files hold docs/reference.md to the code: the config
// schema (package configs), the commands and their flags (this package),
// the URL paths (the muxes of internal/web), the metrics (the registry of
// internal/metrics) and the agency webhook payload (internal/referral).
// Each list is taken from the code, never written out here, so that a key,
// flag, path or metric added, renamed or removed fails until the reference
// says the same. They also check that README.md and docs/*.md lead nowhere
// outside the repository (docs_links_test.go). This file reads the
// reference: its sections and tables.

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
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
