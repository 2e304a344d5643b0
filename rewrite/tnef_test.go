package rewrite

import (
	"bytes"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/careerrelay/careerrelay/internal/testlib"
)

// The [MS-OXRTFCP] example of compressed RTF (section 3.1.1.2): literals
// and dictionary references.
func TestLZFuSpecExample(t *testing.T) {
	data, err := hex.DecodeString("03000A007263706731323542320AF32068656C090020627705B06C647D0A800FA0")
	if err != nil {
		t.Fatal(err)
	}
	if got := string(lzfuDecompress(data, 0x2B)); got != "{\\rtf1\\ansi\\ansicpg1252\\pard hello world}\r\n" {
		t.Errorf("decompressed %q", got)
	}
}

func tnefFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "tnef", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// tnefMail is a mail as Exchange sends a rich-text one: an empty text
// part and the body as winmail.dat, or (only) the TNEF stream itself.
func tnefMail(dat []byte, only bool) []byte {
	if only {
		return []byte(hdr(top, "Subject: result", "Content-Type: application/ms-tnef; name=\"winmail.dat\"",
			"Content-Transfer-Encoding: base64") + base64Lines(string(dat)))
	}
	return []byte(hdr(top, "Subject: result", `Content-Type: multipart/mixed; boundary="b"`) +
		"--b\r\n" + hdr("Content-Type: text/plain; charset=us-ascii") + "\r\n" +
		"\r\n--b\r\n" + hdr(`Content-Type: application/ms-tnef; name="winmail.dat"`, "Content-Transfer-Encoding: base64",
		`Content-Disposition: attachment; filename="winmail.dat"`) + base64Lines(string(dat)) +
		"\r\n--b--\r\n")
}

// TestTNEFBodyWithTagIsReported: a TNEF body holding the tag (as
// compressed RTF only, or as text) is reported with ReasonTNEF and the mail
// goes out unchanged; a tag in a TNEF attachment is not the body.
func TestTNEFBodyWithTagIsReported(t *testing.T) {
	for _, c := range []struct {
		file string
		want []string
	}{
		{"rtf-tag.dat", []string{ReasonTNEF}},
		{"body-tag.dat", []string{ReasonTNEF}},
		{"attachment-tag.dat", nil},
	} {
		for _, only := range []bool{false, true} {
			msg := tnefMail(tnefFixture(t, c.file), only)
			tm, err := Prepare(msg, testTag)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(tm.Failures(), c.want) || tm.Tagged() {
				t.Errorf("%s (TNEF only %v): failures %v tagged %v, want %v", c.file, only, tm.Failures(), tm.Tagged(), c.want)
			}
			out, _ := tm.Render(testLink)
			if !bytes.Equal(out, msg) {
				t.Errorf("%s: the mail changed", c.file)
			}
		}
	}
	// A stream cut short (before the attribute that holds the RTF ends)
	// reports nothing and goes out unchanged.
	dat := tnefFixture(t, "rtf-tag.dat")
	for _, cut := range []int{3, 10, 40, len(dat) - 30} {
		msg := tnefMail(dat[:cut], false)
		tm, err := Prepare(msg, testTag)
		if err != nil {
			t.Fatal(err)
		}
		out, _ := tm.Render(testLink)
		if len(tm.Failures()) != 0 || !bytes.Equal(out, msg) {
			t.Errorf("cut at %d: failures %v, changed %v", cut, tm.Failures(), !bytes.Equal(out, msg))
		}
	}
}

// TestTNEFFixturesAreRealTNEF: Debian's tnef(1) reads the fixtures, finds
// the tag in their bodies (decompressing the RTF) and the attachment in the
// third; and the committed files are what make_winmail.py writes.
func TestTNEFFixturesAreRealTNEF(t *testing.T) {
	tnef := testlib.NeedCommand(t, "tnef", "tnef")
	for _, c := range []struct{ file, pref, want string }{
		{"rtf-tag.dat", "R", "[[career-relay]]"},
		{"body-tag.dat", "T", "[[career-relay]]"},
	} {
		dir := t.TempDir()
		out, err := exec.Command(tnef, "--save-body", "--body-pref="+c.pref, "-C", dir, "-f", filepath.Join("testdata", "tnef", c.file)).CombinedOutput()
		if err != nil {
			t.Fatalf("tnef %s: %v\n%s", c.file, err, out)
		}
		files, _ := filepath.Glob(filepath.Join(dir, "message.*"))
		if len(files) != 1 {
			t.Fatalf("tnef %s saved %v", c.file, files)
		}
		body, _ := os.ReadFile(files[0])
		if !strings.Contains(string(body), c.want) {
			t.Errorf("tnef %s: the body it saved has no tag:\n%s", c.file, body)
		}
	}
	out, err := exec.Command(tnef, "-t", "-f", filepath.Join("testdata", "tnef", "attachment-tag.dat")).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "template.txt") {
		t.Errorf("tnef -t: %v\n%s", err, out)
	}

	py := testlib.NeedCommand(t, "python3", "python3")
	dir := t.TempDir()
	script, _ := filepath.Abs(filepath.Join("testdata", "tnef", "make_winmail.py"))
	cmd := exec.Command(py, script)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make_winmail.py: %v\n%s", err, out)
	}
	for _, f := range []string{"rtf-tag.dat", "body-tag.dat", "attachment-tag.dat"} {
		made, _ := os.ReadFile(filepath.Join(dir, f))
		if !bytes.Equal(made, tnefFixture(t, f)) {
			t.Errorf("testdata/tnef/%s is not what make_winmail.py writes", f)
		}
	}
}

// TestSignedContentWithTagIsReported: a tag inside multipart/signed is
// left alone (a change would break the signature) and reported.
func TestSignedContentWithTagIsReported(t *testing.T) {
	msg, err := os.ReadFile(filepath.Join("testdata", "32-multipart-signed.eml"))
	if err != nil {
		t.Fatal(err)
	}
	tm, err := Prepare(msg, testTag)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(tm.Failures(), []string{ReasonSigned}) {
		t.Errorf("failures %v, want [signed]", tm.Failures())
	}
}

// FuzzTNEF: any stream, however broken, is read without a panic and
// within its bounds.
func FuzzTNEF(f *testing.F) {
	for _, name := range []string{"rtf-tag.dat", "body-tag.dat", "attachment-tag.dat"} {
		b, err := os.ReadFile(filepath.Join("testdata", "tnef", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		tnefHasTag(b, testTag)
		if out := lzfuDecompress(b, 4*len(b)); len(out) > 4*len(b) {
			t.Errorf("decompressed %d octets, more than the %d asked", len(out), 4*len(b))
		}
	})
}
