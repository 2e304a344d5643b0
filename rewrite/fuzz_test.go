package rewrite

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// enmimeRoots are where Debian's golang-github-jhillyerd-enmime-dev puts
// the MIME test messages of enmime; FuzzRewrite is seeded with them when
// they are installed.
var enmimeRoots = []string{
	"/usr/share/gocode/src/github.com/jhillyerd/enmime",
	"/usr/share/gocode/src/github.com/jhillyerd/enmime/v2",
}

// enmimeSeeds returns the installed enmime test messages (none when the
// package is absent).
func enmimeSeeds() [][]byte {
	var seeds [][]byte
	for _, root := range enmimeRoots {
		filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || filepath.Base(filepath.Dir(path)) == "attach" {
				return nil
			}
			if !bytes.Contains([]byte(path), []byte("/testdata/")) {
				return nil
			}
			if info, err := d.Info(); err != nil || info.Size() > 1<<20 {
				return nil
			}
			if b, err := os.ReadFile(path); err == nil {
				seeds = append(seeds, b)
			}
			return nil
		})
	}
	return seeds
}

// withTags puts the tag at the start of every body of msg (after each
// blank line), so that the fuzzer starts from tagged messages.
func withTags(msg []byte) []byte {
	nl := "\r\n"
	if !bytes.Contains(msg, []byte("\r\n")) {
		nl = "\n"
	}
	return bytes.ReplaceAll(msg, []byte(nl+nl), []byte(nl+nl+testTag+" "))
}

// fuzzLink has the characters HTML, quoted-printable and JIS-Roman treat
// specially.
const fuzzLink = "https://careers.example.jp/c/k1.a~b?x=1&y=2"

func FuzzRewrite(f *testing.F) {
	ins, _ := filepath.Glob(filepath.Join("testdata", "*.eml"))
	for _, in := range ins {
		if b, err := os.ReadFile(in); err == nil {
			f.Add(b)
		}
	}
	for _, b := range enmimeSeeds() {
		f.Add(b)
		f.Add(withTags(b))
	}
	// Small HTML parts with tags split by inline markup, for the
	// mutator to work on quickly.
	for _, sh := range splitShapes {
		f.Add([]byte("Content-Type: text/html; charset=utf-8\r\n\r\n<p>" + sh.html + "</p>\r\n"))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		if len(msg) > 256<<10 {
			return
		}
		raw, n := ReplaceRaw(msg, testTag, testLink)
		if n != bytes.Count(msg[rawBodyStart(msg):], []byte(testTag)) || (n == 0 && !bytes.Equal(raw, msg)) ||
			!bytes.Equal(raw[:rawBodyStart(msg)], msg[:rawBodyStart(msg)]) {
			t.Fatalf("ReplaceRaw: %d replacements", n)
		}
		tm, err := Prepare(msg, testTag)
		if err != nil {
			if !errors.Is(err, ErrParse) {
				t.Fatalf("Prepare: %v", err)
			}
			return
		}
		for _, link := range []string{testLink, fuzzLink} {
			out, err := tm.Render(link)
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			if !tm.Tagged() && !bytes.Equal(out, msg) {
				t.Fatal("an untagged message changed")
			}
			if err := CheckFidelity(msg, out, testTag, link); err != nil {
				t.Fatalf("fidelity with %s: %v", link, err)
			}
		}
	})
}

func TestEnmimeSeedsPass(t *testing.T) {
	seeds := enmimeSeeds()
	if len(seeds) == 0 {
		t.Skip("golang-github-jhillyerd-enmime-dev is not installed")
	}
	parsed := 0
	for _, s := range seeds {
		for _, msg := range [][]byte{s, withTags(s)} {
			tm, err := Prepare(msg, testTag)
			if err != nil {
				continue
			}
			parsed++
			out, err := tm.Render(fuzzLink)
			if err != nil {
				t.Fatal(err)
			}
			if err := CheckFidelity(msg, out, testTag, fuzzLink); err != nil {
				t.Errorf("%.60q: %v", msg, err)
			}
		}
	}
	t.Logf("%d enmime messages, %d parsed", len(seeds), parsed)
}
