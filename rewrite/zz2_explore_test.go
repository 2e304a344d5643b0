package rewrite

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/emersion/go-message"
)

func TestZZExplore2(t *testing.T) {
	tags := strings.Repeat("[[career-relay]]", 30)
	bad := 0
	for pad := 0; pad < 980; pad += 13 {
		P := strings.Repeat("x", pad)
		for _, c := range []struct{ ct, cte, body string }{
			{"text/plain", "7bit", P + tags},
			{"text/plain", "7bit", P + " " + strings.Repeat("[[career-relay]] ", 30)},
			{"text/plain; format=flowed", "7bit", P + tags},
			{"text/plain; format=flowed", "7bit", P + " " + strings.Repeat("[[career-relay]] ", 30)},
			{"text/plain; format=flowed; delsp=yes", "7bit", "> " + P + tags},
			{"text/html", "7bit", "<p>" + P + tags + "</p>"},
			{"text/html", "7bit", "<a href=x>" + P + tags + "</a>"},
			{"text/html", "7bit", "<p title=\"" + P + tags + "\">x</p>"},
			{"text/html", "7bit", "<!--" + P + tags + "-->"},
		} {
			msg := "Content-Type: " + c.ct + "; charset=utf-8\r\nContent-Transfer-Encoding: " + c.cte + "\r\n\r\n" + c.body + "\r\n"
			tm, err := Prepare([]byte(msg), testTag)
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range []int{38, 60, 100, 199, 250, 333, 400} {
				link := "https://careers.example.jp/c/" + strings.Repeat("abcdefghij", 40)[:n-29]
				out, _ := tm.Render(link)
				if n := maxLineLen(out); n > maxLine {
					t.Errorf("%s %s pad %d: line of %d", c.ct, c.cte, pad, n)
					bad++
				}
				m, _ := message.Read(bytes.NewReader(out))
				d, _ := io.ReadAll(m.Body)
				k := bytes.Count(d, []byte(link))
				if k != tm.Count() && !(strings.Contains(c.ct, "html") && k == 2*tm.Count()) {
					t.Errorf("%s %s pad %d len %d: %d whole of %d", c.ct, c.cte, pad, len(link), k, tm.Count())
					bad++
				}
				if err := CheckFidelity([]byte(msg), out, testTag, link); err != nil {
					t.Errorf("%s %s %d: %v", c.ct, c.cte, len(link), err)
				}
				if bad > 20 {
					t.FailNow()
				}
			}
		}
	}
}
