package address

import "testing"

func TestIdentity(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"dup@gmail.test", "dup@gmail.test"},
		{"Dup@Gmail.Test.", "dup@gmail.test"},
		{"dup+1@gmail.test", "dup@gmail.test"},
		{" dup+jobs+x@gmail.test ", "dup@gmail.test"},
		{"d.up@gmail.com", "dup@gmail.com"},
		{"D.U.P+career@GoogleMail.com", "dup@gmail.com"},
		{"d.up@example.jp", "d.up@example.jp"}, // dots count elsewhere
		{"+tag@example.jp", "+tag@example.jp"}, // nothing before the '+'
		{`"d.up+x"@gmail.com`, `"d.up+x"@gmail.com`},
		{"taro@例え.jp", "taro@xn--r8jz45g.jp"},
		{"taro@XN--R8JZ45G.jp", "taro@xn--r8jz45g.jp"},
		{"no-at-sign", "no-at-sign"},
	} {
		if got := Identity(c.in); got != c.want {
			t.Errorf("Identity(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
