package testlib

import (
	"bytes"
	"fmt"
	"image/png"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestBrowser drives a real chromium through a form without JavaScript:
// tick a box, submit, follow the 303, as the link pages need; then the
// other operations of the helper: a phone-wide viewport, an element's
// position, a form submitted without a button, a PDF.
func TestBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser: skipped with -short")
	}
	got := make(chan string, 2)
	lang := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodGet && r.URL.Path == "/form":
			select {
			case lang <- r.Header.Get("Accept-Language"):
			default:
			}
			fmt.Fprint(w, `<!doctype html><title>Form</title><form method="post" action="/submit">`+
				`<label><input type="checkbox" name="box" value="on" required> tick</label>`+
				`<button type="submit">Send</button></form>`)
		case r.Method == http.MethodPost && r.URL.Path == "/submit":
			r.ParseForm()
			got <- r.PostForm.Get("box")
			http.Redirect(w, r, "/done?x=1", http.StatusSeeOther)
		case r.URL.Path == "/done":
			fmt.Fprint(w, `<!doctype html><title>Done</title><h1 id="done">Done</h1>`+
				`<div id="wide" style="margin-top:100px;width:300px;height:40px">wide</div>`)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()

	b := NewBrowser(t, &BrowserOptions{Width: 400, Height: 300})
	b.Navigate(srv.URL + "/form")
	if title := b.Title(); title != "Form" {
		t.Fatalf("Title = %q, want Form", title)
	}
	if l := <-lang; !strings.HasPrefix(l, "ja") {
		t.Errorf("Accept-Language = %q, want ja first", l)
	}
	shot := b.Screenshot()
	if !bytes.HasPrefix(shot, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatalf("Screenshot is not a PNG: %.16q", shot)
	}
	if img, err := png.Decode(bytes.NewReader(shot)); err != nil || img.Bounds().Dx() != 400 || img.Bounds().Dy() != 300 {
		t.Errorf("Screenshot: %v, want 400x300 (%v)", img.Bounds(), err)
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
	if n := b.Count("#nothing"); n != 0 {
		t.Errorf("Count(#nothing) = %d, want 0", n)
	}
	if n := b.Count("h1, div"); n != 2 {
		t.Errorf("Count(h1, div) = %d, want 2", n)
	}

	// A phone: 390 CSS pixels wide.
	b.SetViewport(390, 844)
	img, err := png.Decode(bytes.NewReader(b.Screenshot()))
	if err != nil || img.Bounds().Dx() != 390 || img.Bounds().Dy() != 844 {
		t.Errorf("phone screenshot: %v (%v), want 390x844", img.Bounds(), err)
	}
	if r := b.Find("#wide").Rect(); r.Width != 300 || r.Height != 40 || r.Y < 100 {
		t.Errorf("Rect(#wide) = %+v, want 300x40 at least 100 px down", r)
	}
	if pdf := b.PrintPDF(); !bytes.HasPrefix(pdf, []byte("%PDF-")) {
		t.Errorf("PrintPDF: %.16q, want a PDF", pdf)
	}

	// A form submitted without its button: the box is not required then.
	b.Navigate(srv.URL + "/form")
	b.Find(`input[name="box"]`).Submit()
	select {
	case v := <-got:
		if v != "" {
			t.Errorf("the form submitted unticked posted box=%q", v)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Submit: the form was not posted")
	}
}
