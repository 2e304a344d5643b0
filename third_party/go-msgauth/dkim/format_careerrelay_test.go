package dkim

import (
	"bytes"
	"fmt"
	"io"
	"math/rand"
	"strings"
	"testing"
)

// foldHeaderFieldV070 and formatHeaderParamsV070 are v0.7.0's, unchanged
// but for their names, to check the rewrites against (CAREERRELAY.md).
func foldHeaderFieldV070(kv string) string {
	buf := bytes.NewBufferString(kv)

	line := make([]byte, 75) // 78 - len("\r\n\s")
	first := true
	var fold strings.Builder
	for len, err := buf.Read(line); err != io.EOF; len, err = buf.Read(line) {
		if first {
			first = false
		} else {
			fold.WriteString("\r\n ")
		}
		fold.Write(line[:len])
	}

	return fold.String() + crlf
}

func formatHeaderParamsV070(headerFieldName string, params map[string]string) string {
	keys, bvalue, bfound := sortParams(params)

	s := headerFieldName + ":"
	var line string

	for _, k := range keys {
		v := params[k]
		nextLength := 3 + len(line) + len(v) + len(k)
		if nextLength > 75 {
			s += line + crlf
			line = ""
		}
		line = fmt.Sprintf("%v %v=%v;", line, k, v)
	}

	if line != "" {
		s += line
	}

	if bfound {
		bfiled := foldHeaderFieldV070(" b=" + bvalue)
		s += crlf + bfiled
	}

	return s
}

func TestFormatHeaderParamsAsV070(t *testing.T) {
	rnd := rand.New(rand.NewSource(4))
	word := func(max int) string {
		b := make([]byte, rnd.Intn(max+1))
		for i := range b {
			b[i] = "abcdefghijklmnopqrstuvwxyzABCDEF0123456789+/=:. "[rnd.Intn(48)]
		}
		return string(b)
	}
	for _, kv := range []string{"", "x", strings.Repeat("y", 75), strings.Repeat("z", 76), strings.Repeat("w", 151)} {
		if got, want := foldHeaderField(kv), foldHeaderFieldV070(kv); got != want {
			t.Errorf("foldHeaderField(%q) = %q, v0.7.0 %q", kv, got, want)
		}
	}
	for i := 0; i < 20000; i++ {
		params := map[string]string{}
		for k := rnd.Intn(12); k > 0; k-- {
			params[word(3)+"k"] = word(120)
		}
		if rnd.Intn(2) == 0 {
			params["b"] = word(400)
		}
		if kv := word(300); foldHeaderField(kv) != foldHeaderFieldV070(kv) {
			t.Fatalf("foldHeaderField(%q) = %q, v0.7.0 %q", kv, foldHeaderField(kv), foldHeaderFieldV070(kv))
		}
		got, want := formatHeaderParams("DKIM-Signature", params), formatHeaderParamsV070("DKIM-Signature", params)
		if got != want {
			t.Fatalf("%v:\ngot  %q\nwant %q", params, got, want)
		}
	}
}

var signatureParams = map[string]string{
	"v": "1", "a": "rsa-sha256", "c": "relaxed/relaxed", "d": "acme.example", "s": "cr2026", "t": "1796288400",
	"bh": "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
	"h":  "from:to:subject:date:message-id:mime-version:content-type:content-transfer-encoding:from:to:subject:date:message-id:mime-version:content-type",
	"b":  strings.Repeat("AbCdEfGh", 43),
}

func BenchmarkFormatHeaderParams(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		formatHeaderParams(headerFieldName, signatureParams)
	}
}

func BenchmarkFormatHeaderParamsV070(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		formatHeaderParamsV070(headerFieldName, signatureParams)
	}
}

// canonicalizeHeaderV070 is v0.7.0's relaxed CanonicalizeHeader.
func canonicalizeHeaderV070(s string) string {
	k, v, ok := strings.Cut(s, ":")
	if !ok {
		return strings.TrimSpace(strings.ToLower(s)) + ":" + crlf
	}

	k = strings.TrimSpace(strings.ToLower(k))
	v = strings.Join(strings.FieldsFunc(v, func(r rune) bool {
		return r == ' ' || r == '\t' || r == '\n' || r == '\r'
	}), " ")
	return k + ":" + v + crlf
}

func TestRelaxedHeaderAsV070(t *testing.T) {
	rnd := rand.New(rand.NewSource(6))
	pieces := []string{"From", "TO", "x-Mixed", ":", " ", "\t", "\r\n", "\n", "\r", "\v", "a", "Z", "値",
		"\u00a0", "\u0085", "\u212a", "\xff", "\xe3\x81", "=?UTF-8?B?5YCZ?=", "<hr@acme.example>", ";", ","}
	c := new(relaxedCanonicalizer)
	for i := 0; i < 50000; i++ {
		var b strings.Builder
		for k := rnd.Intn(12); k >= 0; k-- {
			b.WriteString(pieces[rnd.Intn(len(pieces))])
		}
		s := b.String()
		if got, want := c.CanonicalizeHeader(s), canonicalizeHeaderV070(s); got != want {
			t.Fatalf("CanonicalizeHeader(%q) = %q, v0.7.0 %q", s, got, want)
		}
	}
}
