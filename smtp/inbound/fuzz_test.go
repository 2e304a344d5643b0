package inbound

import (
	"bytes"
	"testing"
)

// crlfRef is the whole-buffer model of crlfWriter: CRLF stays, every other
// CR and LF becomes CRLF.
func crlfRef(in []byte) []byte {
	out := make([]byte, 0, len(in)+len(in)/8)
	for i := 0; i < len(in); i++ {
		switch c := in[i]; c {
		case '\r':
			out = append(out, '\r', '\n')
			if i+1 < len(in) && in[i+1] == '\n' {
				i++
			}
		case '\n':
			out = append(out, '\r', '\n')
		default:
			out = append(out, c)
		}
	}
	return out
}

// crlfChunked passes in through a crlfWriter in writes whose sizes are
// taken in turn from cuts (a zero size is an empty Write); the last write
// takes the rest.
func crlfChunked(t *testing.T, in, cuts []byte) []byte {
	var out bytes.Buffer
	w := &crlfWriter{w: &out}
	write := func(p []byte) {
		if n, err := w.Write(p); n != len(p) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", p, n, err)
		}
	}
	for _, c := range cuts {
		n := min(int(c%16), len(in))
		write(in[:n])
		in = in[n:]
	}
	write(in)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// hasBareCRorLF reports a CR not followed by LF or an LF not after a CR.
func hasBareCRorLF(b []byte) bool {
	for i, c := range b {
		if c == '\r' && (i+1 == len(b) || b[i+1] != '\n') {
			return true
		}
		if c == '\n' && (i == 0 || b[i-1] != '\r') {
			return true
		}
	}
	return false
}

// lineEndsToLF maps every line end (CRLF, then lone CR, then lone LF) to LF.
func lineEndsToLF(b []byte) []byte {
	b = bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n"))
	return bytes.ReplaceAll(b, []byte("\r"), []byte("\n"))
}

// FuzzCRLFWriter checks the DATA normaliser against a whole-buffer model,
// written in one piece and in pieces cut anywhere (a CRLF split between two
// writes included): the output has only CRLF line ends, strict CRLF input
// passes unchanged, normalising twice is normalising once, and nothing but
// the line ends changes.
func FuzzCRLFWriter(f *testing.F) {
	f.Add([]byte("Subject: x\r\n\r\nbody\r\n"), []byte{})
	f.Add([]byte("a\nb\rc\r\nd\n\re\r\r\nf"), []byte{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1})
	f.Add([]byte("a\r\nb\r\n"), []byte{1, 0, 2, 0})
	f.Add([]byte("\r"), []byte{0})
	f.Add([]byte("\r\r\r\n\n\n"), []byte{3, 1})
	f.Add([]byte("x\n.\r\nMAIL FROM:<x@y>\r\n"), []byte{2, 3})
	f.Fuzz(func(t *testing.T, in, cuts []byte) {
		want := crlfRef(in)
		whole := crlfChunked(t, in, nil)
		if !bytes.Equal(whole, want) {
			t.Fatalf("normalised %q to %q, want %q", in, whole, want)
		}
		if got := crlfChunked(t, in, cuts); !bytes.Equal(got, whole) {
			t.Fatalf("normalised %q in writes of %v to %q, in one write to %q", in, cuts, got, whole)
		}
		if hasBareCRorLF(whole) {
			t.Fatalf("output %q has a bare CR or LF", whole)
		}
		if !hasBareCRorLF(in) && !bytes.Equal(whole, in) {
			t.Fatalf("strict CRLF input %q changed to %q", in, whole)
		}
		if twice := crlfChunked(t, whole, cuts); !bytes.Equal(twice, whole) {
			t.Fatalf("normalising twice gave %q, once %q", twice, whole)
		}
		if a, b := lineEndsToLF(in), lineEndsToLF(whole); !bytes.Equal(a, b) {
			t.Fatalf("content changed: %q became %q", a, b)
		}
	})
}
