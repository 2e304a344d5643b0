package rewrite

import (
	"strings"
	"testing"
)

func TestUnflow(t *testing.T) {
	for _, c := range []struct {
		in    string
		delsp bool
		want  string // the view after joining soft breaks
	}{
		{"a \r\nb\r\n", false, "a b\r\n"},
		{"a \r\nb\r\n", true, "ab\r\n"},
		{"> [[career- \r\n> relay]]\r\n", true, "> [[career-relay]]\r\n"},
		{"> a \r\n>> b\r\n", false, "> a \r\n>> b\r\n"},     // quote depth changes: no join
		{"-- \r\nsig\r\n", false, "-- \r\nsig\r\n"},         // signature separator
		{"> -- \r\n> sig\r\n", false, "> -- \r\n> sig\r\n"}, // quoted one too
		{" \r\nx\r\n", false, " \r\nx\r\n"},                 // a stuffed empty line is fixed
		{">  \r\n> x\r\n", false, ">  x\r\n"},               // a space after stuffing is flowed
		{"a \nb\n", false, "a b\n"},
		{"last \r\n", false, "last \r\n"},
		{"  stuffed \r\n  next\r\n", false, "  stuffed  next\r\n"},
	} {
		v := unflow(view{b: []byte(c.in)}, c.delsp)
		if string(v.b) != c.want {
			t.Errorf("unflow(%q, %v) = %q, want %q", c.in, c.delsp, v.b, c.want)
		}
		for i, ch := range v.b {
			if c.in[v.pos[i]] != ch {
				t.Errorf("unflow(%q): char %d maps to %q", c.in, i, c.in[v.pos[i]])
			}
		}
	}
}

// TestFlowedTagAcrossBreak: a tag split by a soft break is found, and
// replaced together with the break; the check's own unflowing agrees.
func TestFlowedTagAcrossBreak(t *testing.T) {
	for _, c := range []struct {
		params, body, want string
	}{
		{"; delsp=yes", "See [[career- \r\nrelay]] now.\r\n", "See " + testLink + " now.\r\n"},
		{"; delsp=yes", "> See [[career- \r\n> relay]] now.\r\n", "> See " + testLink + " now.\r\n"},
		{"", "See [[career- \r\nrelay]] now.\r\n", "See [[career- \r\nrelay]] now.\r\n"}, // "[[career- relay]]"
		{"", "> See [[career- \r\n>> relay]]\r\n", "> See [[career- \r\n>> relay]]\r\n"},
	} {
		msg := "Content-Type: text/plain; format=flowed" + c.params + "\r\n\r\n" + c.body
		tm, err := Prepare([]byte(msg), testTag)
		if err != nil {
			t.Fatal(err)
		}
		out, _ := tm.Render(testLink)
		if got := string(out[strings.Index(string(out), "\r\n\r\n")+4:]); got != c.want {
			t.Errorf("%q: got %q, want %q", c.body, got, c.want)
		}
		if err := CheckFidelity([]byte(msg), out, testTag, testLink); err != nil {
			t.Errorf("%q: %v", c.body, err)
		}
	}
}

func TestUnflowText(t *testing.T) {
	got := unflowText("> a \r\n> b\r\n>> c \r\n\r\n-- \r\nsig", true)
	if want := ">|ab\n>>|c\n|\n|-- \n|sig\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
