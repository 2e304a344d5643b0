package smtp

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"math/rand"
	"net/textproto"
	"testing"
)

// readDataV0251 is v0.25.1's dataReader.Read, unchanged but for its
// receiver, to check the faster one against (CAREERRELAY.md).
type dataReaderV0251 dataReader

func (r *dataReaderV0251) Read(b []byte) (n int, err error) {
	if r.limited {
		if r.n <= 0 {
			return 0, ErrDataTooLarge
		}
		if int64(len(b)) > r.n {
			b = b[0:r.n]
		}
	}
	const (
		stateBeginLine = iota
		stateDot
		stateDotCR
		stateCR
		stateData
		stateEOF
	)
	for n < len(b) && r.state != stateEOF {
		var c byte
		c, err = r.r.ReadByte()
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			break
		}
		switch r.state {
		case stateBeginLine:
			if c == '.' {
				r.state = stateDot
				continue
			}
			if c == '\r' {
				r.state = stateCR
				break
			}
			r.state = stateData
		case stateDot:
			if c == '\r' {
				r.state = stateDotCR
				continue
			}
			r.state = stateData
		case stateDotCR:
			if c == '\n' {
				r.state = stateEOF
				continue
			}
			r.state = stateData
		case stateCR:
			if c == '\n' {
				r.state = stateBeginLine
				break
			}
			r.state = stateData
		case stateData:
			if c == '\r' {
				r.state = stateCR
			}
		}
		b[n] = c
		n++
	}
	if err == nil && r.state == stateEOF {
		err = io.EOF
	}
	if r.limited {
		r.n -= int64(n)
	}
	return
}

// readAll reads r in reads of random sizes until an error, and returns
// what it read, the error, and what is left behind it in the stream.
func readAll(rnd *rand.Rand, r io.Reader, br *bufio.Reader) (data []byte, err error, rest []byte) {
	for {
		p := make([]byte, 1+rnd.Intn(300))
		n, e := r.Read(p)
		data = append(data, p[:n]...)
		if e != nil {
			rest, _ = io.ReadAll(br)
			return data, e, rest
		}
	}
}

// randomData is DATA made of what trips the state machine: dots at the
// start of lines, CR and LF alone and together, the end marker, and long
// runs of ordinary bytes.
func randomData(rnd *rand.Rand) []byte {
	pieces := []string{".", "..", "\r", "\n", "\r\n", ".\r\n", "\r\n.\r\n", " ", "a", "本文",
		"\x1b$B$3$s$K$A$O\x1b(B", "long line of ordinary text without any line end at all "}
	var b []byte
	for k := rnd.Intn(60); k >= 0; k-- {
		b = append(b, pieces[rnd.Intn(len(pieces))]...)
	}
	if rnd.Intn(4) > 0 {
		b = append(b, "\r\n.\r\nQUIT\r\n"...) // the end, and a pipelined command
	}
	return b
}

func TestDataReaderAsV0251(t *testing.T) {
	rnd := rand.New(rand.NewSource(1))
	for i := 0; i < 20000; i++ {
		in := randomData(rnd)
		size := 16 + rnd.Intn(64) // bufio.Reader's minimum is 16
		limit := int64(0)
		if i%3 == 0 {
			limit = int64(rnd.Intn(len(in) + 10))
		}
		seed := rnd.Int63()
		run := func(old bool) ([]byte, error, []byte) {
			br := bufio.NewReaderSize(bytes.NewReader(in), size)
			dr := &dataReader{r: br, limited: limit > 0, n: limit}
			var r io.Reader = dr
			if old {
				r = (*dataReaderV0251)(dr)
			}
			return readAll(rand.New(rand.NewSource(seed)), r, br)
		}
		got, gotErr, gotRest := run(false)
		want, wantErr, wantRest := run(true)
		if !bytes.Equal(got, want) || !errors.Is(gotErr, wantErr) || !bytes.Equal(gotRest, wantRest) {
			t.Fatalf("%q (buffer %d, limit %d):\ngot  %q, %v, rest %q\nwant %q, %v, rest %q",
				in, size, limit, got, gotErr, gotRest, want, wantErr, wantRest)
		}
	}
}

func TestDotWriterAsNetTextproto(t *testing.T) {
	rnd := rand.New(rand.NewSource(2))
	for i := 0; i < 20000; i++ {
		in := randomData(rnd)
		var cuts []int
		for c := 0; c < len(in); {
			c += 1 + rnd.Intn(len(in)/3+1)
			if c > len(in) {
				c = len(in)
			}
			cuts = append(cuts, c)
		}
		var got, want bytes.Buffer
		for _, w := range []struct {
			out *bytes.Buffer
			wc  func(*bufio.Writer) io.WriteCloser
		}{
			{&got, func(bw *bufio.Writer) io.WriteCloser { return &dotWriter{w: bw} }},
			{&want, func(bw *bufio.Writer) io.WriteCloser { return textproto.NewWriter(bw).DotWriter() }},
		} {
			bw := bufio.NewWriterSize(w.out, 16+rnd.Intn(64))
			wc := w.wc(bw)
			prev := 0
			for _, c := range cuts {
				if n, err := wc.Write(in[prev:c]); n != c-prev || err != nil {
					t.Fatalf("Write = %d, %v", n, err)
				}
				prev = c
			}
			if err := wc.Close(); err != nil {
				t.Fatal(err)
			}
		}
		if !bytes.Equal(got.Bytes(), want.Bytes()) {
			t.Fatalf("%q cut at %v:\ngot  %q\nwant %q", in, cuts, got.Bytes(), want.Bytes())
		}
	}
}

// TestDataRoundTrip: what the dot writer writes, the data reader reads
// back as it was written (CRLF line ends), and stops at the end marker.
func TestDataRoundTrip(t *testing.T) {
	rnd := rand.New(rand.NewSource(3))
	for i := 0; i < 5000; i++ {
		var in []byte
		for k := rnd.Intn(40); k >= 0; k-- {
			in = append(in, []string{".", "..", "a b", "\r\n", ".\r\n", "text"}[rnd.Intn(6)]...)
		}
		var wire bytes.Buffer
		bw := bufio.NewWriter(&wire)
		wc := &dotWriter{w: bw}
		wc.Write(in)
		wc.Close()
		wire.WriteString("QUIT\r\n")
		br := bufio.NewReaderSize(&wire, 16)
		got, err, rest := readAll(rnd, &dataReader{r: br}, br)
		want := in
		if len(want) > 0 && !bytes.HasSuffix(want, []byte("\r\n")) {
			want = append(want[:len(want):len(want)], "\r\n"...)
		}
		if err != io.EOF || !bytes.Equal(got, want) || string(rest) != "QUIT\r\n" {
			t.Fatalf("%q: read back %q, %v, rest %q", in, got, err, rest)
		}
	}
}

func BenchmarkDataReader10KB(b *testing.B) {
	body := bytes.Repeat([]byte("\x1b$B$4O\"Jg$\"$j$,$H$&$4$6$$$^$7$?\x1b(B Thank you for applying.\r\n"), 200)[:10240]
	in := append(body, "\r\n.\r\n"...)
	buf := make([]byte, 32<<10)
	b.SetBytes(int64(len(in)))
	for i := 0; i < b.N; i++ {
		br := bufio.NewReaderSize(bytes.NewReader(in), 4096)
		dr := &dataReader{r: br}
		for {
			if _, err := dr.Read(buf); err != nil {
				break
			}
		}
	}
}

func BenchmarkDotWriter10KB(b *testing.B) {
	body := bytes.Repeat([]byte("\x1b$B$4O\"Jg$\"$j$,$H$&$4$6$$$^$7$?\x1b(B Thank you for applying.\r\n"), 200)[:10240]
	bw := bufio.NewWriterSize(io.Discard, 4096)
	b.SetBytes(int64(len(body)))
	for i := 0; i < b.N; i++ {
		wc := &dotWriter{w: bw}
		wc.Write(body)
		wc.Close()
	}
}

func BenchmarkDataReaderV0251_10KB(b *testing.B) {
	body := bytes.Repeat([]byte("\x1b$B$4O\"Jg$\"$j$,$H$&$4$6$$$^$7$?\x1b(B Thank you for applying.\r\n"), 200)[:10240]
	in := append(body, "\r\n.\r\n"...)
	buf := make([]byte, 32<<10)
	b.SetBytes(int64(len(in)))
	for i := 0; i < b.N; i++ {
		br := bufio.NewReaderSize(bytes.NewReader(in), 4096)
		dr := (*dataReaderV0251)(&dataReader{r: br})
		for {
			if _, err := dr.Read(buf); err != nil {
				break
			}
		}
	}
}

func BenchmarkDotWriterNetTextproto10KB(b *testing.B) {
	body := bytes.Repeat([]byte("\x1b$B$4O\"Jg$\"$j$,$H$&$4$6$$$^$7$?\x1b(B Thank you for applying.\r\n"), 200)[:10240]
	bw := bufio.NewWriterSize(io.Discard, 4096)
	tw := textproto.NewWriter(bw)
	b.SetBytes(int64(len(body)))
	for i := 0; i < b.N; i++ {
		wc := tw.DotWriter()
		wc.Write(body)
		wc.Close()
	}
}

// lineLimitV0251 is v0.25.1's check of lineLimitReader.Read, on what one
// read returned.
func lineLimitV0251(r *lineLimitReader, b []byte) error {
	for _, chr := range b {
		if chr == '\n' {
			r.curLineLength = 0
		}
		r.curLineLength++

		if r.curLineLength > r.LineLimit {
			return ErrTooLongLine
		}
	}
	return nil
}

func TestLineLimitAsV0251(t *testing.T) {
	rnd := rand.New(rand.NewSource(5))
	for i := 0; i < 20000; i++ {
		in := randomData(rnd)
		limit := []int{-1, 1, 2, 5, 20, 80, 1000}[rnd.Intn(7)]
		got := &lineLimitReader{R: bytes.NewReader(in), LineLimit: limit}
		want := &lineLimitReader{LineLimit: limit}
		for off := 0; ; {
			p := make([]byte, 1+rnd.Intn(50))
			n, err := got.Read(p)
			var wantErr error
			if want.curLineLength > want.LineLimit && want.LineLimit > 0 {
				wantErr = ErrTooLongLine
			} else if off == len(in) {
				wantErr = io.EOF
			} else {
				k := len(p)
				if k > len(in)-off {
					k = len(in) - off
				}
				wantErr = lineLimitV0251(want, in[off:off+k])
			}
			if err != wantErr {
				t.Fatalf("%q, limit %d, at %d: error %v, v0.25.1 %v", in, limit, off, err, wantErr)
			}
			if err != nil {
				break
			}
			if !bytes.Equal(p[:n], in[off:off+n]) || got.curLineLength != want.curLineLength {
				t.Fatalf("%q, limit %d, at %d: read %q, line length %d; v0.25.1 %d", in, limit, off, p[:n], got.curLineLength, want.curLineLength)
			}
			off += n
		}
	}
}
