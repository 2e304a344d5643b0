package csvcell

import "testing"

func TestEscapeRoundTrip(t *testing.T) {
	for _, c := range []struct{ in, out string }{
		{"", ""},
		{"hire 2026-12", "hire 2026-12"},
		{"=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"},
		{"+1", "'+1"},
		{"-cmd|' /C calc'!A0", "'-cmd|' /C calc'!A0"},
		{"@SUM(A1)", "'@SUM(A1)"},
		{"\tx", "'\tx"},
		{"'quoted", "''quoted"},
		{"'", "''"},
		{"山田 '太郎'", "山田 '太郎'"},
	} {
		if got := Escape(c.in); got != c.out {
			t.Errorf("Escape(%q) = %q, want %q", c.in, got, c.out)
		}
		if back := Unescape(Escape(c.in)); back != c.in {
			t.Errorf("Unescape(Escape(%q)) = %q", c.in, back)
		}
	}
}
