package web

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/careerrelay/careerrelay/configs"
)

func testCSRFKeys(t testing.TB, secrets ...string) csrfKeys {
	t.Helper()
	var lk []configs.LinkKey
	for i, s := range secrets {
		lk = append(lk, configs.LinkKey{ID: string(rune('a' + i)), Secret: []byte(s)})
	}
	k, err := newCSRFKeys(lk)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestCSRFRotation(t *testing.T) {
	oldKey, newKey := strings.Repeat("o", 32), strings.Repeat("n", 32)
	before := testCSRFKeys(t, oldKey)
	after := testCSRFKeys(t, newKey, oldKey) // new key signs, old still verifies
	tok := before.mint(tokValid, testNow)
	if err := after.check(tok, tokValid, testNow.Add(time.Hour)); err != nil {
		t.Errorf("a form from before the rotation: %v", err)
	}
	if err := testCSRFKeys(t, newKey).check(tok, tokValid, testNow); err == nil {
		t.Error("a retired key's form still verifies")
	}
	fresh := after.mint(tokValid, testNow)
	if err := after.check(fresh, tokValid, testNow.Add(csrfMaxAge)); err != nil {
		t.Errorf("at the end of its age: %v", err)
	}
	if err := after.check(fresh, tokValid, testNow.Add(csrfMaxAge+time.Second)); err == nil {
		t.Error("past its age it verifies")
	}
	// The form key is not the link key itself.
	if bytes.Equal(before[0], []byte(oldKey)) {
		t.Error("the form key is the link secret")
	}
	if _, err := newCSRFKeys(nil); err == nil {
		t.Error("no keys accepted")
	}
	if _, err := newCSRFKeys([]configs.LinkKey{{ID: "k"}}); err == nil {
		t.Error("an empty secret accepted")
	}
}

// FuzzCSRFCheck: no input panics, and only the token minted for a link
// verifies for it.
func FuzzCSRFCheck(f *testing.F) {
	k := testCSRFKeys(f, strings.Repeat("s", 32))
	good := k.mint(tokValid, testNow)
	for _, s := range []string{good, "", ".", "1.", ".AAAA", "-1.AAAAAAAAAAAAAAAAAAAAAA", good + "=", "0" + good, "+" + good, strings.ToUpper(good)} {
		f.Add(s, tokValid)
	}
	f.Fuzz(func(t *testing.T, token, link string) {
		err := k.check(token, link, testNow)
		if err == nil && (token != good || link != tokValid) {
			t.Errorf("%q verifies for link %q", token, link)
		}
	})
}
