package rewrite

import (
	"bytes"
	"io"
	"math/rand"
	"mime/quotedprintable"
	"testing"
)

// stdQP decodes with mime/quotedprintable, the decoder go-message uses.
func stdQP(b []byte) ([]byte, bool) {
	d, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(b)))
	return d, err == nil
}

func checkQPDecode(t *testing.T, raw []byte) {
	t.Helper()
	want, wok := stdQP(raw)
	got, lines, ok := qpDecode(raw)
	if ok != wok {
		t.Fatalf("qpDecode(%q) ok=%v, mime/quotedprintable ok=%v", raw, ok, wok)
	}
	if !ok {
		return
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("qpDecode(%q) = %q, want %q", raw, got, want)
	}
	// Each line decodes on its own to its share.
	for _, l := range lines {
		d, _, ok := qpDecode(raw[l.encStart:l.encEnd])
		if !ok && l.encEnd == len(raw) {
			continue // a final "=" is only valid at the real end
		}
		if !bytes.Equal(d, got[l.decStart:l.decEnd]) {
			t.Fatalf("line %q decodes to %q, its share is %q", raw[l.encStart:l.encEnd], d, got[l.decStart:l.decEnd])
		}
	}
}

func TestQPDecode(t *testing.T) {
	for _, s := range []string{
		"", "abc", "a=\r\nb", "a=\nb", "a= \t\r\nb", "a=", "=", "a==", "a==\r\n", "=4", "=4\r\n", "=ZZ",
		"=4Z", "==41", "a  \r\nb", "a\tb\r\n", "a\rb", "\x80\xff", "\x01", "\x7f", "=\r\n=\r\n", "abc=\r\r\n",
		"=e3=81=82 x", "trailing=20\r\n", "[[car=\r\neer-relay]]", "a=\r\n", "a \r", "a=\rb\n",
	} {
		checkQPDecode(t, []byte(s))
	}
	long := bytes.Repeat([]byte("a"), 5000)
	checkQPDecode(t, long)
	checkQPDecode(t, append(long[:4095:4095], '\n'))
	checkQPDecode(t, append(long[:4096:4096], '\n'))
}

func TestQPDecodeRandom(t *testing.T) {
	r := rand.New(rand.NewSource(2))
	alphabet := []byte("=\r\n \tA3fZ\x80\x01[]")
	for n := 0; n < 20000; n++ {
		d := make([]byte, r.Intn(16))
		for i := range d {
			d[i] = alphabet[r.Intn(len(alphabet))]
		}
		checkQPDecode(t, d)
	}
}

func FuzzQPDecode(f *testing.F) {
	f.Add([]byte("a=\r\nb =3D=e3 \r\n"))
	f.Fuzz(func(t *testing.T, raw []byte) { checkQPDecode(t, raw) })
}

// checkQPEncode encodes d as a window (with a link unit in the middle) and
// checks the standard decoder gets d back within 76 columns.
func checkQPEncode(t *testing.T, d []byte, soft bool) {
	t.Helper()
	const link = "https://careers.example.jp/c/a=b&c~"
	e := qpEncoder{nl: "\r\n"}
	half := len(d) / 2
	e.text(d[:half], true)
	e.unit(link)
	e.text(d[half:], soft)
	if soft {
		e.out = append(e.out, "=\r\n"...)
	}
	want := append(append(append([]byte{}, d[:half]...), link...), d[half:]...)
	got, ok := stdQP(e.out)
	if !ok || !bytes.Equal(got, want) {
		t.Fatalf("encoded %q as %q, which decodes to %q (ok %v)", want, e.out, got, ok)
	}
	if n := maxLineLen(e.out); n > 76 {
		t.Fatalf("line of %d columns in %q", n, e.out)
	}
	if !bytes.Contains(bytes.ReplaceAll(e.out, []byte("=3D"), []byte("=")), []byte(link)) {
		t.Fatalf("link broken in %q", e.out)
	}
}

func TestQPEncode(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	alphabet := []byte("ab =\t\r\n\x1b\x80\xff.")
	for n := 0; n < 5000; n++ {
		d := make([]byte, r.Intn(200))
		for i := range d {
			d[i] = alphabet[r.Intn(len(alphabet))]
		}
		checkQPEncode(t, d, n%2 == 0)
	}
}

// TestQPLinkPlacement: a link that fits stays on one encoded line; one
// longer than a line is split by soft breaks only.
func TestQPLinkPlacement(t *testing.T) {
	e := qpEncoder{nl: "\r\n"}
	e.text(bytes.Repeat([]byte("x"), 60), true)
	e.unit("https://careers.example.jp/c/TESTTOKEN")
	if want := string(bytes.Repeat([]byte("x"), 60)) + "=\r\nhttps://careers.example.jp/c/TESTTOKEN"; string(e.out) != want {
		t.Errorf("got %q", e.out)
	}
	long := "https://careers.example.jp/c/" + string(bytes.Repeat([]byte("T"), 100))
	e = qpEncoder{nl: "\r\n"}
	e.unit(long)
	got, _ := stdQP(e.out)
	if string(got) != long || maxLineLen(e.out) > 76 {
		t.Errorf("long link encoded as %q", e.out)
	}
}
