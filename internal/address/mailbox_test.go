package address

import (
	"errors"
	"testing"
)

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		in   string
		utf8 bool
		want string // "" when refused
		err  error
	}{
		{"taro@example.jp", false, "taro@example.jp", nil},
		{"Taro.Yamada+jobs@Mail.Example.JP", false, "Taro.Yamada+jobs@Mail.Example.JP", nil},
		{"a b@example.jp", false, `"a b"@example.jp`, nil},       // was quoted
		{`a"b\c@example.jp`, false, `"a\"b\\c"@example.jp`, nil}, // quoted pairs
		{"a..b@example.jp", false, `"a..b"@example.jp`, nil},     // only as a quoted string
		{"root@[127.0.0.1]", false, "root@[127.0.0.1]", nil},     // a literal is syntax; Deliverable refuses it
		{"root@[IPv6:::1]", false, "root@[IPv6:::1]", nil},       //
		{"root@[300.0.0.1]", false, "", ErrSyntax},               //
		{"root@[tag:x]", false, "", ErrSyntax},                   //
		{"\xff\xfe@x.test", false, "", ErrSyntax},                // never U+FFFD
		{"\xff\xfe@x.test", true, "", ErrSyntax},                 //
		{"a\x00b@x.test", true, "", ErrSyntax},                   // NUL
		{"a\x01b@x.test", false, "", ErrSyntax},                  //
		{"a\x7fb@x.test", false, "", ErrSyntax},                  //
		{"a\u0085b@x.test", true, "", ErrSyntax},                 // C1 control
		{"cand@例え.jp", false, "", ErrNeedsUTF8},                  //
		{"候補者@example.jp", false, "", ErrNeedsUTF8},              //
		{"cand@例え.jp", true, "cand@例え.jp", nil},                  // kept as it came
		{"候補者@例え.jp", true, "候補者@例え.jp", nil},                    //
		{"x@-bad-.test", false, "", ErrSyntax},                   //
		{"x@bad_label.test", false, "", ErrSyntax},               //
		{"x@example.jp.", false, "", ErrSyntax},                  //
		{"x@a..jp", false, "", ErrSyntax},                        //
		{"@example.jp", false, "", ErrSyntax},                    //
		{"x@", false, "", ErrSyntax},                             //
		{"x@xn--zz.jp", false, "", ErrSyntax},                    // bad punycode
		{"x@" + rep("a", 64) + ".jp", false, "", ErrSyntax},      // label over 63
		{rep("a", 65) + "@example.jp", false, "", ErrSyntax},     // local part over 64
		{rep("a", 64) + "@example.jp", false, rep("a", 64) + "@example.jp", nil},
		{"a@" + rep(rep("a", 60)+".", 5) + "jp", false, "", ErrSyntax}, // over 254
	} {
		got, err := Check(tc.in, tc.utf8)
		if got != tc.want || !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
			t.Errorf("Check(%q, %v) = %q, %v; want %q, %v", tc.in, tc.utf8, got, err, tc.want, tc.err)
		}
	}
}

func TestDeliverable(t *testing.T) {
	for in, want := range map[string]error{
		"example.jp":     nil,
		"例え.jp":          nil,
		"gmail":          ErrUndeliverable,
		"localhost":      ErrUndeliverable,
		"LocalHost":      ErrUndeliverable,
		"mx.localhost":   ErrUndeliverable,
		"ｌｏｃａｌｈｏｓｔ":      ErrUndeliverable, // full-width maps to localhost
		"[127.0.0.1]":    ErrUndeliverable,
		"[IPv6:::1]":     ErrUndeliverable,
		"-bad-.test":     ErrSyntax,
		"xn--r8jz45g.jp": nil,
		"under_score.jp": ErrSyntax,
	} {
		if err := Deliverable(in); !errors.Is(err, want) || (want == nil) != (err == nil) {
			t.Errorf("Deliverable(%q) = %v, want %v", in, err, want)
		}
	}
}

func TestASCIIDomain(t *testing.T) {
	if a, err := ASCIIDomain("例え.JP"); err != nil || a != "xn--r8jz45g.jp" {
		t.Errorf("ASCIIDomain(例え.JP) = %q, %v", a, err)
	}
}

func rep(s string, n int) string {
	out := ""
	for range n {
		out += s
	}
	return out
}
