package dkim

import (
	"bytes"
	"io"
	"math/rand"
	"testing"
)

// relaxedBodyV070 is v0.7.0's relaxed body canonicalizer, unchanged but
// for its name, to check the rewrite against (CAREERRELAY.md).
type relaxedBodyV070 struct {
	w         io.Writer
	crlfBuf   []byte
	wsp       bool
	written   bool
	crlfFixer crlfFixer
}

func (c *relaxedBodyV070) Write(b []byte) (int, error) {
	written := len(b)

	b = c.crlfFixer.Fix(b)

	canonical := make([]byte, 0, len(b))
	for _, ch := range b {
		if ch == ' ' || ch == '\t' {
			c.wsp = true
		} else if ch == '\r' || ch == '\n' {
			c.wsp = false
			c.crlfBuf = append(c.crlfBuf, ch)
		} else {
			if len(c.crlfBuf) > 0 {
				canonical = append(canonical, c.crlfBuf...)
				c.crlfBuf = c.crlfBuf[:0]
			}
			if c.wsp {
				canonical = append(canonical, ' ')
				c.wsp = false
			}

			canonical = append(canonical, ch)
		}
	}

	if !c.written && len(canonical) > 0 {
		c.written = true
	}

	_, err := c.w.Write(canonical)
	return written, err
}

func (c *relaxedBodyV070) Close() error {
	if c.written {
		if _, err := c.w.Write([]byte(crlf)); err != nil {
			return err
		}
	}
	return nil
}

// canonicalize writes body to wc in the pieces that cuts gives (offsets,
// ascending) and returns what came out.
func canonicalize(t *testing.T, mk func(io.Writer) io.WriteCloser, body []byte, cuts []int) []byte {
	t.Helper()
	var out bytes.Buffer
	wc := mk(&out)
	prev := 0
	for _, c := range append(cuts, len(body)) {
		n, err := wc.Write(body[prev:c])
		if err != nil || n != c-prev {
			t.Fatalf("Write = %d, %v; want %d, nil", n, err, c-prev)
		}
		prev = c
	}
	if err := wc.Close(); err != nil {
		t.Fatal(err)
	}
	releaseBody(wc) // the next one may reuse it, as the signer's do
	return out.Bytes()
}

func TestRelaxedBodyAsV070(t *testing.T) {
	now := func(w io.Writer) io.WriteCloser { return new(relaxedCanonicalizer).CanonicalizeBody(w) }
	old := func(w io.Writer) io.WriteCloser { return &relaxedBodyV070{w: w} }
	fixed := []string{
		"", "\r\n", "\n", "\r", " ", "a", "a\r\n", "a\n", "a\r", "a \t \r\n\r\n\r\n",
		" a  b\t\tc \r\n \r\n\r\nd\n\n", "a\rb\r\r\nc\n\rd", "\r\n\r\n  \r\n",
		"line one  \r\n\tline two\t\r\n\r\n", string(bytes.Repeat([]byte("\r\n"), 100)) + "x",
		"\x1b$B$3$s$K$A$O\x1b(B [[career-relay]]\r\n",
	}
	for _, body := range fixed {
		want := canonicalize(t, old, []byte(body), nil)
		if got := canonicalize(t, now, []byte(body), nil); !bytes.Equal(got, want) {
			t.Errorf("%q: got %q, v0.7.0 %q", body, got, want)
		}
	}
	// Random bodies from an alphabet heavy in white space and line ends,
	// written in random pieces (a CR at the end of one piece and its LF at
	// the start of the next included), and long runs that fill the buffer.
	rnd := rand.New(rand.NewSource(1))
	alphabet := []byte(" \t\r\n\r\nab\x1b$\xe3")
	for i := 0; i < 20000; i++ {
		n := rnd.Intn(64)
		if i%100 == 0 {
			n = rnd.Intn(10000)
		}
		body := make([]byte, n)
		for j := range body {
			if rnd.Intn(4) == 0 {
				body[j] = alphabet[rnd.Intn(len(alphabet))]
			} else {
				body[j] = 'a' + byte(rnd.Intn(26))
			}
		}
		var cuts []int
		for c := 0; c < n; {
			c += 1 + rnd.Intn(n/3+1)
			if c < n {
				cuts = append(cuts, c)
			}
		}
		want := canonicalize(t, old, body, cuts)
		if got := canonicalize(t, now, body, cuts); !bytes.Equal(got, want) {
			t.Fatalf("%q cut at %v: got %q, v0.7.0 %q", body, cuts, got, want)
		}
	}
}

func TestRelaxedBodyAllocatesNothingPerWrite(t *testing.T) {
	body := bytes.Repeat([]byte("ご応募ありがとうございました  \t\r\n\r\n"), 300)
	allocs := testing.AllocsPerRun(100, func() {
		wc := new(relaxedCanonicalizer).CanonicalizeBody(io.Discard)
		writeIn4K(wc, body)
		wc.Close()
	})
	// The canonicalizer itself, and Close's CRLF.
	if allocs > 2 {
		t.Fatalf("%v allocations to canonicalize %d octets; want at most 2", allocs, len(body))
	}
}

func BenchmarkRelaxedBody10KB(b *testing.B) {
	body := bytes.Repeat([]byte("\x1b$B$4O\"Jg$\"$j$,$H$&$4$6$$$^$7$?\x1b(B Thank you for applying.\r\n"), 200)[:10240]
	b.SetBytes(int64(len(body)))
	for i := 0; i < b.N; i++ {
		wc := new(relaxedCanonicalizer).CanonicalizeBody(io.Discard)
		writeIn4K(wc, body)
		wc.Close()
	}
}

// writeIn4K writes body in pieces of 4096 octets, as the signer's
// bufio.Reader hands it over.
func writeIn4K(w io.Writer, body []byte) {
	for len(body) > 0 {
		n := len(body)
		if n > 4096 {
			n = 4096
		}
		w.Write(body[:n])
		body = body[n:]
	}
}

func BenchmarkRelaxedBodyV070_10KB(b *testing.B) {
	body := bytes.Repeat([]byte("\x1b$B$4O\"Jg$\"$j$,$H$&$4$6$$$^$7$?\x1b(B Thank you for applying.\r\n"), 200)[:10240]
	b.SetBytes(int64(len(body)))
	for i := 0; i < b.N; i++ {
		wc := &relaxedBodyV070{w: io.Discard}
		writeIn4K(wc, body)
		wc.Close()
	}
}
