package address

import "testing"

func TestDomain(t *testing.T) {
	for in, want := range map[string]string{
		"hr@Example.JP":        "example.jp",
		"hr@example.jp.":       "example.jp",
		"a@b@Mail.Example.COM": "mail.example.com",
		"no-at-sign":           "",
		"":                     "",
		"trailing@":            "",
		"root@.":               "",
		"@example.jp":          "example.jp",
	} {
		if got := Domain(in); got != want {
			t.Errorf("Domain(%q) = %q, want %q", in, got, want)
		}
	}
}
