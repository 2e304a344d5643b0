package rewrite

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var dump = flag.Bool("dump", false, "print the decoded text parts of each golden case before and after, to review .want files")

// TestDump prints, for review, the decoded text of every eligible part of
// each golden input and of its .want that differs.
func TestDump(t *testing.T) {
	if !*dump {
		t.Skip("run with -dump to print the golden cases")
	}
	ins, _ := filepath.Glob(filepath.Join("testdata", "*.eml"))
	for _, in := range ins {
		msg, _ := os.ReadFile(in)
		want, _ := os.ReadFile(strings.TrimSuffix(in, ".eml") + ".want")
		a, _ := goMessageLeaves(msg)
		b, err := goMessageLeaves(want)
		fmt.Printf("=== %s (%d parts)\n", filepath.Base(in), len(a))
		if err != nil || len(a) != len(b) {
			fmt.Println("   unreadable", err)
			continue
		}
		for i := range a {
			pi, ok := leafInfo(a[i].hdr)
			ta, ok1 := decodeText(a[i].hdr, a[i].body, pi)
			tb, ok2 := decodeText(b[i].hdr, b[i].body, pi)
			if !ok || !ok1 || !ok2 || ta == tb {
				fmt.Printf("--- part %d: %s unchanged\n", i, a[i].hdr.Get("Content-Type"))
				continue
			}
			fmt.Printf("--- part %d: %s\n<<<\n%s\n>>>\n%s\n", i, a[i].hdr.Get("Content-Type"), ta, tb)
		}
	}
}
