package testlib

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestBrowser drives a real chromium through a form without JavaScript:
// tick a box, submit, follow the 303, as the link pages need.
func TestBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser: skipped with -short")
	}
	got := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodGet && r.URL.Path == "/form":
			fmt.Fprint(w, `<!doctype html><title>Form</title><form method="post" action="/submit">`+
				`<label><input type="checkbox" name="box" value="on" required> tick</label>`+
				`<button type="submit">Send</button></form>`)
		case r.Method == http.MethodPost && r.URL.Path == "/submit":
			r.ParseForm()
			got <- r.PostForm.Get("box")
			http.Redirect(w, r, "/done?x=1", http.StatusSeeOther)
		case r.URL.Path == "/done":
			fmt.Fprint(w, `<!doctype html><title>Done</title><h1 id="done">Done</h1>`)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()

	b := StartBrowser(t, &BrowserOptions{Width: 400, Height: 300})
	b.Navigate(srv.URL + "/form")
	if title := b.Title(); title != "Form" {
		t.Fatalf("Title = %q, want Form", title)
	}
	if png := b.Screenshot(); !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) {
		t.Errorf("Screenshot is not a PNG: %.16q", png)
	}
	box := b.Find(`input[name="box"]`)
	if box.Selected() {
		t.Fatal("the box is ticked before the click")
	}
	box.Click()
	if !box.Selected() {
		t.Fatal("the box is not ticked after the click")
	}
	b.Find(`button[type="submit"]`).Click()
	select {
	case v := <-got:
		if v != "on" {
			t.Errorf("the form posted box=%q, want on", v)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the form was not posted")
	}
	WaitFor(t, 30*time.Second, "the browser to reach /done", func() bool {
		return strings.HasSuffix(b.URL(), "/done?x=1")
	})
	if h := b.Find("#done").Text(); h != "Done" {
		t.Errorf("h1 = %q, want Done", h)
	}

	err := b.do(http.MethodPost, "/session/"+b.session+"/element", map[string]string{"using": "css selector", "value": "#nothing"}, nil)
	if we, ok := err.(*WebDriverError); !ok || we.Code != "no such element" {
		t.Errorf("finding a missing element: %v, want a WebDriverError no such element", err)
	}
}
