package rewrite

import (
	"fmt"
	"math/rand"
	"os"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/japanese"
)

// TestRandomMessages builds messages from random parts (charset, transfer
// encoding, HTML or flowed text, tags in every spelling, redundant
// ISO-2022-JP escapes, random soft line breaks, long lines), renders them
// and checks fidelity and the number of tags found.
func TestRandomMessages(t *testing.T) {
	n := 1500
	if testing.Short() {
		n = 200
	}
	r := rand.New(rand.NewSource(randSeed()))
	for i := 0; i < n; i++ {
		msg, tags := randomMessage(r)
		tm, err := Prepare([]byte(msg), testTag)
		if err != nil {
			t.Fatalf("case %d: %v\n%q", i, err, msg)
		}
		if tm.Count() != tags {
			t.Fatalf("case %d: found %d tags, put %d\n%q", i, tm.Count(), tags, msg)
		}
		for _, link := range []string{testLink, fuzzLink} {
			out, err := tm.Render(link)
			if err != nil {
				t.Fatal(err)
			}
			if err := CheckFidelity([]byte(msg), out, testTag, link); err != nil {
				t.Fatalf("case %d: %v\n%q\n%q", i, err, msg, out)
			}
		}
	}
}

type randCharset struct {
	label string
	enc   encoding.Encoding // nil: UTF-8
}

var randCharsets = []randCharset{
	{"utf-8", nil}, {"iso-2022-jp", japanese.ISO2022JP}, {"shift_jis", japanese.ShiftJIS},
	{"euc-jp", japanese.EUCJP}, {"us-ascii", nil}, {"windows-1252", charmap.Windows1252},
}

var jaWords = []string{"選考", "結果", "誠に", "残念", "ゼミ", "ソフト", "表示", "①", "㈱", "髙橋", "ｶﾅ", "、", "。", "キャリア"}
var asciiWords = []string{"Dear", "applicant", "see", "here:", "(", ")", "x", "--", ">", "From", "a=b", "100%"}

func randomMessage(r *rand.Rand) (string, int) {
	if r.Intn(3) == 0 {
		body, tags, h := randomPart(r)
		return h + "\r\n" + body, tags
	}
	var b strings.Builder
	b.WriteString("Subject: random\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"rb\"\r\n\r\n")
	total := 0
	for k := 0; k < 1+r.Intn(3); k++ {
		body, tags, h := randomPart(r)
		total += tags
		b.WriteString("--rb\r\n" + h + "\r\n" + body + "\r\n")
	}
	b.WriteString("--rb--\r\n")
	return b.String(), total
}

// randomPart returns a body, the number of tags in it and its header.
func randomPart(r *rand.Rand) (string, int, string) {
	cs := randCharsets[r.Intn(len(randCharsets))]
	ja := cs.label != "us-ascii" && cs.label != "windows-1252"
	html := r.Intn(3) == 0
	flowed := !html && r.Intn(3) == 0
	delsp := flowed && r.Intn(2) == 0
	// Text as tokens; the tag is one token, so a flowed soft break can
	// split it only when DelSp=yes.
	var toks []string
	tags := 0
	for k := 0; k < 5+r.Intn(40); k++ {
		switch x := r.Intn(20); {
		case x < 3:
			toks = append(toks, tagSpelling(r, html))
			tags++
		case x < 5:
			toks = append(toks, "\n")
		case x < 6 && ja:
			toks = append(toks, strings.Repeat(jaWords[r.Intn(len(jaWords))], 1+r.Intn(60)))
		case x < 12 && ja:
			toks = append(toks, jaWords[r.Intn(len(jaWords))])
		case x < 13:
			toks = append(toks, strings.Repeat("w ", r.Intn(200)))
		default:
			toks = append(toks, asciiWords[r.Intn(len(asciiWords))], " ")
		}
	}
	if html {
		toks = append([]string{"<img src=\"", tagSpelling(r, true), "\">"}, toks...)
		toks = append(toks, "<a href=", tagSpelling(r, true), ">x</a>\n")
		tags += 2
	}
	text := strings.Join(toks, "")
	if flowed {
		text = randomFlow(r, text, delsp)
	}
	body := encodeText(r, cs, text)
	cte := []string{"7bit", "8bit", "quoted-printable", "base64"}[r.Intn(4)]
	switch cte {
	case "quoted-printable":
		body = randomQP(r, body)
	case "base64":
		body = base64Lines(body)
	}
	ct := "text/plain"
	if html {
		ct = "text/html"
	}
	ct += "; charset=" + cs.label
	if flowed {
		ct += "; format=flowed"
		if delsp {
			ct += "; delsp=yes"
		}
	}
	return body, tags, fmt.Sprintf("Content-Type: %s\r\nContent-Transfer-Encoding: %s\r\n", ct, cte)
}

// tagSpelling is the tag, in HTML maybe with characters as references or
// percent-encoded.
func tagSpelling(r *rand.Rand, html bool) string {
	if !html || r.Intn(2) == 0 {
		return testTag
	}
	var b strings.Builder
	for i := 0; i < len(testTag); i++ {
		c := testTag[i]
		switch r.Intn(5) {
		case 0:
			fmt.Fprintf(&b, "&#%d;", c)
		case 1:
			fmt.Fprintf(&b, "&#x%x", c)
			// No ';' only where the next character ends the number.
			if r.Intn(2) == 0 || i+1 == len(testTag) || strings.ContainsRune("0123456789abcdefABCDEF", rune(testTag[i+1])) {
				b.WriteByte(';')
			}
		case 2:
			fmt.Fprintf(&b, "%%%02x", c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// randomFlow wraps the text's lines as format=flowed with soft breaks at
// random places (anywhere with DelSp=yes, after spaces otherwise) and
// space-stuffing.
func randomFlow(r *rand.Rand, text string, delsp bool) string {
	var out strings.Builder
	for _, line := range strings.Split(text, "\n") {
		quote := ""
		if r.Intn(4) == 0 {
			quote = strings.Repeat(">", 1+r.Intn(2)) + " "
		}
		runes := []rune(line)
		var cur []rune
		flush := func(soft bool) {
			s := string(cur)
			if quote == "" && (strings.HasPrefix(s, " ") || strings.HasPrefix(s, ">") || strings.HasPrefix(s, "From ")) {
				s = " " + s
			}
			out.WriteString(quote + s)
			if soft && delsp {
				out.WriteString(" ")
			}
			out.WriteString("\n")
			cur = cur[:0]
		}
		for i, c := range runes {
			cur = append(cur, c)
			if i+1 < len(runes) && r.Intn(12) == 0 && (delsp || c == ' ') {
				flush(true)
			}
		}
		if strings.HasSuffix(string(cur), " ") {
			cur = append(cur[:len(cur)-1:len(cur)-1], '.') // no accidental soft break
		}
		flush(false)
	}
	return strings.TrimSuffix(out.String(), "\n")
}

// encodeText encodes in the charset with CRLF line breaks; ISO-2022-JP
// gets redundant escape sequences between ASCII characters now and then.
func encodeText(r *rand.Rand, cs randCharset, text string) string {
	text = crlf(text)
	if cs.enc == nil {
		if cs.label == "us-ascii" {
			return text
		}
		return text
	}
	if cs.enc == charmap.Windows1252 {
		return encodeWith(cs.enc, text)
	}
	var b strings.Builder
	for _, piece := range strings.SplitAfter(text, "r") {
		b.WriteString(encodeWith(cs.enc, piece))
		if cs.enc == japanese.ISO2022JP && r.Intn(4) == 0 {
			b.WriteString([]string{"\x1b(B", "\x1b(J", "\x1b(B\x1b(B"}[r.Intn(3)])
		}
	}
	return b.String()
}

// randomQP quoted-printable encodes with soft breaks at random places
// (never inside =XX) and printable characters sometimes escaped.
func randomQP(r *rand.Rand, s string) string {
	var b strings.Builder
	col := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\r' && i+1 < len(s) && s[i+1] == '\n' {
			b.WriteString("\r\n")
			col = 0
			i++
			continue
		}
		var tok string
		switch {
		case c == '=' || c < ' ' || c > '~' || (c == ' ' && (i+1 == len(s) || s[i+1] == '\r')):
			tok = fmt.Sprintf("=%02X", c)
		case r.Intn(10) == 0:
			tok = fmt.Sprintf("=%02X", c)
		default:
			tok = string(c)
		}
		if col+len(tok) > 75 || (col > 0 && r.Intn(15) == 0) {
			b.WriteString("=\r\n")
			col = 0
		}
		b.WriteString(tok)
		col += len(tok)
	}
	return b.String()
}

// randSeed is 7, or RANDMSG_SEED for longer explorations.
func randSeed() int64 {
	if s := os.Getenv("RANDMSG_SEED"); s != "" {
		n, _ := strconv.ParseInt(s, 10, 64)
		return n
	}
	return 7
}
