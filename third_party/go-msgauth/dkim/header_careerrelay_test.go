package dkim

// Tests of careerrelay's changes to header.go (see ../CAREERRELAY.md).

import (
	"bufio"
	"fmt"
	"math/rand"
	"net/textproto"
	"runtime"
	"strings"
	"testing"
	"unicode"
)

// readHeaderV070 is readHeader as go-msgauth v0.7.0 has it, the reference
// the fixed one must agree with.
func readHeaderV070(r *bufio.Reader) (header, error) {
	tr := textproto.NewReader(r)
	var h header
	for {
		l, err := tr.ReadLine()
		if err != nil {
			return h, fmt.Errorf("failed to read header: %v", err)
		}
		if len(l) == 0 {
			break
		} else if len(h) > 0 && (l[0] == ' ' || l[0] == '\t') {
			h[len(h)-1] += l + crlf
		} else {
			h = append(h, l+crlf)
		}
	}
	return h, nil
}

// pickV070 is headerPicker.Pick as go-msgauth v0.7.0 has it.
func pickV070(h header, picked map[string]int, key string) string {
	key = strings.ToLower(key)
	at := picked[key]
	for i := len(h) - 1; i >= 0; i-- {
		kv := h[i]
		k, _ := parseHeaderField(kv)
		if !strings.EqualFold(k, key) {
			continue
		}
		if at == 0 {
			picked[key]++
			return kv
		}
		at--
	}
	return ""
}

func TestReadHeaderAsV070(t *testing.T) {
	for _, in := range []string{
		"",
		"\r\n",
		"From: a\r\n\r\nbody",
		"From: a\r\n b\r\n\tc\r\nTo: d\r\n\r\n",
		" leading continuation\r\n more\r\nFrom: a\r\n\r\n",
		"From: a\r\n b\r\n",      // no end of header
		"From: a\n b\nTo: c\n\n", // bare LF
		"From: a\r\n \r\n\t\r\nTo:\r\n\r\nx",
		"A: 1\r\nB: 2\r\n" + strings.Repeat(" x\r\n", 1000) + "C: 3\r\n\r\n",
	} {
		want, wantErr := readHeaderV070(bufio.NewReader(strings.NewReader(in)))
		got, gotErr := readHeader(bufio.NewReader(strings.NewReader(in)))
		if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) || strings.Join(got, "|") != strings.Join(want, "|") || len(got) != len(want) {
			t.Errorf("readHeader(%q) = %q, %v; v0.7.0 gave %q, %v", in, got, gotErr, want, wantErr)
		}
	}
}

// foldedHeader is a header with a field of lines continuation lines.
func foldedHeader(lines int) string {
	var b strings.Builder
	b.WriteString("From: a@example.com\r\nX-Folded: start\r\n")
	for i := 0; i < lines; i++ {
		fmt.Fprintf(&b, "\tf%06d\r\n", i)
	}
	b.WriteString("Subject: s\r\n\r\nbody\r\n")
	return b.String()
}

// allocatedBytes is how many bytes f allocates (deterministic, unlike its
// time on a loaded machine).
func allocatedBytes(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestReadHeaderFoldedLinear: reading a header of 40,000 folded lines
// (400 KB) allocates a small multiple of its size; v0.7.0 allocated about
// 8 GB, a copy of the field per line.
func TestReadHeaderFoldedLinear(t *testing.T) {
	for _, lines := range []int{10000, 40000} {
		in := foldedHeader(lines)
		var h header
		n := allocatedBytes(func() {
			var err error
			h, err = readHeader(bufio.NewReader(strings.NewReader(in)))
			if err != nil {
				t.Fatal(err)
			}
		})
		if len(h) != 3 || len(h[1]) != len("X-Folded: start\r\n")+10*lines {
			t.Fatalf("%d lines: read %d fields, the folded one of %d bytes", lines, len(h), len(h[1]))
		}
		if limit := uint64(8 * len(in)); n > limit {
			t.Errorf("%d lines: reading a %d byte header allocated %d bytes, want at most %d", lines, len(in), n, limit)
		}
	}
}

// names are field names that strings.EqualFold and strings.ToLower treat
// in ways an index must reproduce: the Kelvin sign and long s fold to k
// and s, U+0130 lowers to i but folds to nothing else, invalid UTF-8 folds
// with U+FFFD.
var names = []string{"From", "from", "FROM", "To", "to", "sKip", "skip", "\u212Aey", "key", "\u017Fubject",
	"Subject", "\u0130d", "id", "ID", "\xffx", "\ufffdx", "X-\xfe", "Message-ID", "message-id", ""}

func TestHeaderPickerAsV070(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for round := 0; round < 600; round++ {
		var h header
		// Short headers are scanned, long ones (over indexAbove fields)
		// indexed: both are checked.
		for i := rng.Intn(3 * indexAbove); i >= 0; i-- {
			sp := []string{"", " ", "\t"}[rng.Intn(3)]
			h = append(h, fmt.Sprintf("%s%s: v%d\r\n", names[rng.Intn(len(names))], sp, i))
		}
		p := newHeaderPicker(h)
		picked := map[string]int{}
		for i := rng.Intn(60); i >= 0; i-- {
			key := names[rng.Intn(len(names))]
			if got, want := p.Pick(key), pickV070(h, picked, key); got != want {
				t.Fatalf("header %q: Pick(%q) = %q, v0.7.0 gave %q", h, key, got, want)
			}
		}
	}
}

// TestFoldNameIsEqualFold: foldName(a) == foldName(b) exactly when
// strings.EqualFold(a, b), for every rune and the members of its orbit,
// and for the names above.
func TestFoldNameIsEqualFold(t *testing.T) {
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if r >= 0xD800 && r <= 0xDFFF {
			continue
		}
		s := string(r)
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			if foldName(s) != foldName(string(f)) {
				t.Fatalf("foldName(%q) != foldName(%q), but they fold together", s, string(f))
			}
		}
		if r < 0x3000 { // every pair among these would take too long
			for _, o := range []rune{'a', 'k', 's', 'i', 'z', 0xFFFD, 0x212A, 0x017F, r + 1, r - 1} {
				if got, want := foldName(s) == foldName(string(o)), strings.EqualFold(s, string(o)); got != want {
					t.Fatalf("foldName(%q) == foldName(%q) is %v, EqualFold %v", s, string(o), got, want)
				}
			}
		}
	}
	for _, a := range names {
		for _, b := range names {
			if got, want := foldName(a) == foldName(b), strings.EqualFold(a, b); got != want {
				t.Errorf("foldName(%q) == foldName(%q) is %v, EqualFold %v", a, b, got, want)
			}
		}
	}
}

// BenchmarkPickManyFields picks a listing per field of a header of 20,000
// To fields, as verifying a signature with such an h= does; v0.7.0 scanned
// every field for every listing.
func BenchmarkPickManyFields(b *testing.B) {
	h := make(header, 20000)
	for i := range h {
		h[i] = fmt.Sprintf("To: r%d@example.com\r\n", i)
	}
	b.ReportAllocs()
	for b.Loop() {
		p := newHeaderPicker(h)
		for range h {
			if p.Pick("to") == "" {
				b.Fatal("no field")
			}
		}
	}
}

func BenchmarkReadHeaderFolded10000(b *testing.B) {
	in := foldedHeader(10000)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := readHeader(bufio.NewReader(strings.NewReader(in))); err != nil {
			b.Fatal(err)
		}
	}
}
