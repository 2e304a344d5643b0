package rewrite

import (
	"bytes"
	"math/rand"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/encoding/japanese"
)

// projection is the decoded text as a view: ASCII runes as themselves,
// any other rune as one 0x80.
func projection(s []byte) []byte {
	var out []byte
	for len(s) > 0 {
		r, n := utf8.DecodeRune(s)
		s = s[n:]
		if r < utf8.RuneSelf {
			out = append(out, byte(r))
		} else {
			out = append(out, 0x80)
		}
	}
	return out
}

func checkISOView(t *testing.T, d []byte) {
	t.Helper()
	dec, err := japanese.ISO2022JP.NewDecoder().Bytes(d)
	if err != nil {
		t.Fatal(err)
	}
	cv := isoCompactView(d)
	if want := projection(dec); !bytes.Equal(cv.b, want) {
		t.Fatalf("ISO-2022-JP view of %q:\n got %q\nwant %q", d, cv.b, want)
	}
	for i, c := range cv.b {
		if c < 0x80 && d[cv.pos[i]] != c {
			t.Fatalf("view char %q at %d maps to byte %q", c, cv.pos[i], d[cv.pos[i]])
		}
	}
	// The view with the body's offsets, when isoView gives one, has the
	// same ASCII characters in the same runs.
	v := isoView(d)
	if v.pos != nil {
		if !bytes.Equal(v.b, cv.b) {
			t.Fatalf("compacted views differ for %q", d)
		}
		return
	}
	collapse := func(b []byte) []byte {
		var out []byte
		for _, c := range b {
			if c < 0x80 || len(out) == 0 || out[len(out)-1] < 0x80 {
				out = append(out, min(c, 0x80))
			}
		}
		return out
	}
	if !bytes.Equal(collapse(v.b), collapse(cv.b)) {
		t.Fatalf("view of %q: %q, compacted %q", d, v.b, cv.b)
	}
	for i, c := range v.b {
		if c < 0x80 && d[i] != c {
			t.Fatalf("view char %q at %d is byte %q", c, i, d[i])
		}
	}
}

func checkSJISView(t *testing.T, d []byte) {
	t.Helper()
	dec := func(b []byte) []byte {
		out, err := japanese.ShiftJIS.NewDecoder().Bytes(b)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	whole := dec(d)
	v := sjisView(d)
	if len(v) != len(d) {
		t.Fatal("Shift_JIS view changed length")
	}
	var ascii []byte
	for _, c := range projection(whole) {
		if c < 0x80 {
			ascii = append(ascii, c)
		}
	}
	var viewASCII []byte
	for i, c := range v {
		if c >= 0x80 {
			continue
		}
		viewASCII = append(viewASCII, c)
		// A character boundary: decoding both halves apart changes nothing.
		if got := append(dec(d[:i]), dec(d[i:])...); !bytes.Equal(got, whole) {
			t.Fatalf("Shift_JIS view says %d of %q is a character, the decoder does not", i, d)
		}
	}
	if !bytes.Equal(ascii, viewASCII) {
		t.Fatalf("Shift_JIS view of %q: ASCII %q, decoder %q", d, viewASCII, ascii)
	}
}

func TestISOView(t *testing.T) {
	for _, s := range []string{
		"", "abc", "\x1b$B$3$s\x1b(B[[x]]", "\x1b(J[[x]]~\\\x1b(B",
		"\x1b$B$3\n[[x]]", "\x1b$B$3\r\n[[x]]", "\x1b(I12\n3\x1b(B4", "\x1b$(D!!\x1b(B.",
		"\x1b$A[[", "\x1b", "\x1b(", "\x1b$(", "\x1b$B!", "\xff[[\x1b$B\x80\x80", "[[car\x1b$B\x1b(Beer",
	} {
		checkISOView(t, []byte(s))
	}
	// The tag across a redundant escape sequence is one tag.
	v := isoView([]byte("\x1b(B[[car\x1b$B\x1b(Jeer]]"))
	if string(v.b) != "[[career]]" {
		t.Errorf("view %q", v.b)
	}
}

func TestSJISView(t *testing.T) {
	for _, s := range []string{
		"", "abc", "\x83\x5b[[x]]", "\x83[[x]]", "\x83\x7f[", "\x83\x3f[", "\xa1[", "\x80[", "\xfd[",
		"\x81\x60", "\xfb\xfc[[x]]", "\x83", "\xe0\x40]", "\xfc\xfc]",
	} {
		checkSJISView(t, []byte(s))
	}
	// ゼ (0x83 0x5B) followed by "[career-relay]]" holds the bytes of the
	// tag, not the tag.
	d := []byte("\x83\x5b[career-relay]]")
	if bytes.Contains(sjisView(d), []byte(testTag)) {
		t.Error("trail byte taken for '['")
	}
}

func TestViewsRandom(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	alphabet := []byte("[]ab\x1b$B(J@I\n\r\x83\x5b\x81\xe0\xfc\x7f\x40\xa1\x80D")
	for n := 0; n < 20000; n++ {
		d := make([]byte, r.Intn(24))
		for i := range d {
			d[i] = alphabet[r.Intn(len(alphabet))]
		}
		checkISOView(t, d)
		checkSJISView(t, d)
	}
}

func FuzzViews(f *testing.F) {
	f.Add([]byte("\x1b$B$3$s\x1b(B[[x]]\x83\x5b["))
	f.Fuzz(func(t *testing.T, d []byte) {
		if len(d) > 512 {
			return
		}
		checkISOView(t, d)
		checkSJISView(t, d)
	})
}

func TestCharsetKind(t *testing.T) {
	for _, c := range []struct {
		label string
		has   bool
		body  string
		want  csKind
	}{
		{"", false, "plain", csASCII},
		{"us-ascii", true, "\x1b$B$3\x1b(B", csISO2022JP},
		{"", false, "\x1b$B$3\x1b(B", csISO2022JP},
		{"UTF-8", true, "", csASCII},
		{"utf8", true, "", csASCII},
		{"iso-8859-1", true, "", csASCII},
		{"windows-1252", true, "", csASCII},
		{"EUC-JP", true, "", csASCII},
		{"Shift_JIS", true, "", csSJIS},
		{"windows-31j", true, "", csSJIS},
		{"cp932", true, "", csSJIS},
		{"ISO-2022-JP", true, "", csISO2022JP},
		{"csISO2022JP", true, "", csISO2022JP},
		{"CP50220", true, "", csISO2022JP},
		{"utf-16", true, "", csUnsupported},
		{"ibm037", true, "", csUnsupported},
		{"gb2312", true, "", csUnsupported},
		{"x-unknown", true, "", csUnsupported},
		{"", true, "", csUnsupported},
	} {
		if got := charsetKind(c.label, c.has, []byte(c.body)); got != c.want {
			t.Errorf("charsetKind(%q, %v) = %d, want %d", c.label, c.has, got, c.want)
		}
	}
}

// TestISOEscapesAroundLink: a link with '~' in JIS-Roman text is written in
// ASCII, and the text goes on in the state it was in.
func TestISOEscapesAroundLink(t *testing.T) {
	msg := "Content-Type: text/plain; charset=iso-2022-jp\r\n\r\n\x1b(J[[career-relay]]\\\x1b(B\r\n\x1b(J[[career\x1b(B-relay]]~\r\n"
	tm, err := Prepare([]byte(msg), testTag)
	if err != nil {
		t.Fatal(err)
	}
	const link = "https://x.example/~u/c/T"
	out, err := tm.Render(link)
	if err != nil {
		t.Fatal(err)
	}
	want := "Content-Type: text/plain; charset=iso-2022-jp\r\n\r\n\x1b(J\x1b(B" + link + "\x1b(J\\\x1b(B\r\n\x1b(J\x1b(B" + link + "~\r\n"
	if string(out) != want {
		t.Errorf("got  %q\nwant %q", out, want)
	}
	if err := CheckFidelity([]byte(msg), out, testTag, link); err != nil {
		t.Error(err)
	}
}
