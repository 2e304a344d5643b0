package rewrite

import (
	"bytes"
	"errors"
	"strings"
	"sync"
	"testing"
)

func TestUntaggedRenderReturnsTheMessage(t *testing.T) {
	msg := []byte("Subject: [[career-relay]]\r\n\r\nno tag\r\n")
	tm, err := Prepare(msg, testTag)
	if err != nil {
		t.Fatal(err)
	}
	if tm.Tagged() || tm.Count() != 0 {
		t.Fatal("tagged by its Subject")
	}
	out, err := tm.Render(testLink)
	if err != nil || &out[0] != &msg[0] || len(out) != len(msg) {
		t.Errorf("Render of an untagged message: %q, %v", out, err)
	}
}

func TestRenderRejectsBadLinks(t *testing.T) {
	tm, err := Prepare([]byte("\r\n[[career-relay]]"), testTag)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range []string{"", "https://x.example/a b", "https://x.example/\"><script>", "https://x.example/'", "https://x.example/\r\n", strings.Repeat("a", maxLink+1), "https://x.example/é",
		"https://x.example/" + strings.Repeat("&", 80) + "x"} { // the last: 99 characters, 419 in HTML
		if _, err := tm.Render(l); !errors.Is(err, ErrLink) {
			t.Errorf("Render(%q): %v", l, err)
		}
	}
	out, err := tm.Render("https://x.example/c/a~b?x=1&y=2#f")
	if err != nil || string(out) != "\r\nhttps://x.example/c/a~b?x=1&y=2#f" {
		t.Errorf("got %q, %v", out, err)
	}
}

func TestValidTag(t *testing.T) {
	for _, tag := range []string{"[[career-relay]]", "{{x}}", "%%", "x"} {
		err := ValidTag(tag)
		if (err == nil) != (tag != "%%") {
			t.Errorf("ValidTag(%q) = %v", tag, err)
		}
	}
	for _, tag := range []string{"", "[[career relay]]", "<tag>", "a&b", "タグ", "a\"b", strings.Repeat("x", 201)} {
		if _, err := Prepare([]byte("\r\nx"), tag); !errors.Is(err, ErrTag) {
			t.Errorf("Prepare with tag %q: %v", tag, err)
		}
	}
}

func TestPrepareErrors(t *testing.T) {
	for name, msg := range map[string]string{
		"bad header":        "Subject hi\r\n\r\nbody",
		"continuation":      " x: y\r\n\r\nbody",
		"no boundary":       "Content-Type: multipart/mixed\r\n\r\n--b\r\n\r\nx\r\n--b--\r\n",
		"no closing":        "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\n[[career-relay]]\r\n",
		"no first boundary": "Content-Type: multipart/mixed; boundary=b\r\n\r\n[[career-relay]]\r\n",
		"bad part header":   "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nbad header\r\n\r\nx\r\n--b--\r\n",
		"junk after part":   "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nx\r\n--b junk\r\n--b--\r\n",
	} {
		if _, err := Prepare([]byte(msg), testTag); !errors.Is(err, ErrParse) {
			t.Errorf("%s: %v", name, err)
		}
		if _, err := goMessageLeaves([]byte(msg)); err == nil && name != "no boundary" {
			t.Errorf("%s: go-message reads what Prepare refuses", name)
		}
	}
}

// TestMultipartAgreesWithGoMessage: the parts found are go-message's, on
// the corner cases of its reader.
func TestMultipartAgreesWithGoMessage(t *testing.T) {
	for name, msg := range map[string]string{
		"lookalike boundary": "Content-Type: multipart/mixed; boundary=b\r\n\r\n--bX\r\n--b\r\n\r\na\r\n--bb\r\n--b-x\r\n\r\nc\r\n--b--\r\n",
		"empty bodies":       "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\n--b\r\nX: y\r\n\r\n\r\n--b--",
		"lwsp after":         "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b \t\r\n\r\nx\r\n--b-- \r\nepilogue",
		"lf mode":            "Content-Type: multipart/mixed; boundary=b\n\n--b\n\nx\r\n--b\n\ny\n--b--\n",
		"header only":        "Subject: x\r\n",
		"no header":          "\r\nbody",
		"final in preamble":  "Content-Type: multipart/mixed; boundary=b\r\n\r\npre\r\n--b--\r\n",
		"nested":             "Content-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\n\r\nx\r\n--b--\r\nep\r\n--a--\r\n",
		"encoded boundary":   "Content-Type: multipart/mixed; boundary=\"=?utf-8?q?x?=\"\r\n\r\n--x\r\n\r\nbody\r\n--x--\r\n",
	} {
		_, leaves, err := parseMessage([]byte(msg))
		g, gerr := goMessageLeaves([]byte(msg))
		if (err == nil) != (gerr == nil) {
			t.Errorf("%s: rewriter %v, go-message %v", name, err, gerr)
			continue
		}
		if err != nil {
			continue
		}
		if len(leaves) != len(g) {
			t.Errorf("%s: %d parts, go-message %d", name, len(leaves), len(g))
			continue
		}
		for i := range leaves {
			if b := msg[leaves[i].bodyStart:leaves[i].bodyEnd]; b != string(g[i].body) {
				t.Errorf("%s: part %d body %q, go-message %q", name, i, b, g[i].body)
			}
		}
	}
}

func TestReplaceRaw(t *testing.T) {
	msg := []byte("Subject: [[career-relay]]\r\n\r\n[[career-relay]] and [[career-\r\nrelay]]")
	out, n := ReplaceRaw(msg, testTag, "L")
	if n != 1 || string(out) != "Subject: [[career-relay]]\r\n\r\nL and [[career-\r\nrelay]]" {
		t.Errorf("got %q, %d: want the body's tag replaced and the Subject's left alone", out, n)
	}
	lf := []byte("Subject: [[career-relay]]\n\n[[career-relay]]")
	if out, n := ReplaceRaw(lf, testTag, "L"); n != 1 || string(out) != "Subject: [[career-relay]]\n\nL" {
		t.Errorf("LF message: got %q, %d", out, n)
	}
	headerOnly := []byte("Subject: [[career-relay]]\r\n")
	if out, n := ReplaceRaw(headerOnly, testTag, "L"); n != 0 || &out[0] != &headerOnly[0] {
		t.Errorf("header-only message: got %q, %d", out, n)
	}
	if out, n := ReplaceRaw(msg, "", "L"); n != 0 || &out[0] != &msg[0] {
		t.Error("empty tag")
	}
	if out, n := ReplaceRaw(msg, "nope", "L"); n != 0 || &out[0] != &msg[0] {
		t.Error("no occurrence")
	}
}

// TestReplaceRawLongLine: links that make a raw line longer than 998
// octets break it next to a link, never inside one.
func TestReplaceRawLongLine(t *testing.T) {
	link := "https://careers.example.jp/t/" + strings.Repeat("x", 71) // 100 octets
	head := "Subject: x\r\n\r\n"
	for _, body := range []string{
		strings.Repeat(testTag, 30),
		"intro " + strings.Repeat(testTag+" ", 30) + "end\r\nnext line " + testTag + "\r\n",
		strings.Repeat("y", 900) + testTag + "z\r\n",
	} {
		out, n := ReplaceRaw([]byte(head+body), testTag, link)
		if want := strings.Count(body, testTag); n != want || strings.Count(string(out), link) != want {
			t.Errorf("%.30q: %d replaced, %d whole links, want %d", body, n, strings.Count(string(out), link), want)
		}
		if m := maxLineLen(out); m > maxLine {
			t.Errorf("%.30q: line of %d octets", body, m)
		}
		plain := head + strings.ReplaceAll(body, testTag, link)
		if got := strings.ReplaceAll(string(out), "\r\n", ""); got != strings.ReplaceAll(plain, "\r\n", "") {
			t.Errorf("%.30q: more than line breaks changed:\n%q", body, out)
		}
	}
	// A short line is left as it is.
	out, _ := ReplaceRaw([]byte(head+strings.Repeat(testTag, 3)), testTag, link)
	if string(out) != head+strings.Repeat(link, 3) {
		t.Errorf("short line changed: %q", out)
	}
}

func TestConcurrentRender(t *testing.T) {
	msg, err := testdataFile("17-alternative-iso2022jp.eml")
	if err != nil {
		t.Fatal(err)
	}
	tm, err := Prepare(msg, testTag)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := tm.Render(testLink)
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 50; j++ {
				got, err := tm.Render(testLink)
				if err != nil || !bytes.Equal(got, want) {
					t.Error("concurrent Render differs")
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestAppendRenderReusesBuffer(t *testing.T) {
	msg, _ := testdataFile("13-html-utf8-qp.eml")
	tm, _ := Prepare(msg, testTag)
	buf := make([]byte, 0, 64<<10)
	out, err := tm.AppendRender(buf[:0], testLink)
	if err != nil || &out[0] != &buf[:1][0] {
		t.Errorf("AppendRender did not use the buffer: %v", err)
	}
	if tm.Count() != 2 {
		t.Errorf("Count = %d", tm.Count())
	}
}

func TestSkipped(t *testing.T) {
	for msg, want := range map[string]int{
		"Content-Type: text/plain; charset=x-unknown\r\n\r\n[[career-relay]]":                         1,
		"Content-Transfer-Encoding: quoted-printable\r\n\r\n[[career-relay]] =\x01":                   1,
		"Content-Transfer-Encoding: x-uuencode\r\n\r\n[[career-relay]]":                               1,
		"Content-Type: text/plain; charset=utf-16\r\n\r\nno tag":                                      0,
		"Content-Type: text/plain\r\nContent-Disposition: attachment\r\n\r\n[[career-relay]]":         0,
		"Content-Type: text/plain; charset=shift_jis\r\n\r\n\x83[[career-relay]]\r\n[[career-relay]]": 0,
	} {
		tm, err := Prepare([]byte(msg), testTag)
		if err != nil {
			t.Fatal(err)
		}
		if tm.Skipped() != want {
			t.Errorf("%q: Skipped = %d, want %d", msg, tm.Skipped(), want)
		}
	}
}

// TestOverlongEveryContext: a link that makes a 7bit line too long is
// broken next to it in every HTML context and in plain and flowed text.
func TestOverlongEveryContext(t *testing.T) {
	pad := strings.Repeat("x", 960)
	for _, c := range []struct{ ct, body string }{
		{"text/html", "<p>" + pad + "[[career-relay]]y</p>"},
		{"text/html", "<a href=x>" + pad + "[[career-relay]]y</a>"},
		{"text/html", "<script>" + pad + "'[[career-relay]]'</script>"},
		{"text/html", "<style>" + pad + "url([[career-relay]])</style>"},
		{"text/html", "<!--" + pad + "[[career-relay]]-->"},
		{"text/html", "<a href=\"" + pad + "[[career-relay]]\">y</a>"},
		{"text/html", "<img " + pad + " src=[[career-relay]]>"},
		{"text/plain", pad + "[[career-relay]]y"},
		{"text/plain; format=flowed", "> " + pad + "[[career-relay]]>y"},
		{"text/plain; format=flowed; delsp=yes", pad + "[[career-relay]] y"},
		{"text/plain; charset=iso-2022-jp", "\x1b$B" + strings.Repeat("$3", 470) + "\x1b(B[[career-relay]]\x1b$B$3\x1b(B"},
	} {
		msg := "Content-Type: " + c.ct + "\r\n\r\n" + c.body + "\r\n"
		tm, err := Prepare([]byte(msg), testTag)
		if err != nil || tm.Count() != 1 {
			t.Fatalf("%s: %v %d", c.body[:20], err, tm.Count())
		}
		for _, link := range []string{testLink, fuzzLink} {
			out, _ := tm.Render(link)
			if n := maxLineLen(out); n > maxLine {
				t.Errorf("%s %.20q: line of %d", c.ct, c.body, n)
			}
			if err := CheckFidelity([]byte(msg), out, testTag, link); err != nil {
				t.Errorf("%s %.20q: %v", c.ct, c.body, err)
			}
		}
	}
}
