package testlib

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// A real browser for tests: Debian's chromium, headless, driven with
// github.com/chromedp/chromedp over the DevTools protocol (a pipe to the
// browser; no driver binary and no JavaScript of ours in the pages).
// Debian: apt-get install chromium (and fonts-ipafont-gothic for Japanese
// in screenshots).

// chromiumNames are the executables looked up in PATH.
var chromiumNames = []string{"chromium", "chromium-browser", "google-chrome"}

const (
	// browserStartTimeout bounds starting chromium and opening its tab.
	browserStartTimeout = 60 * time.Second
	// browserTimeout bounds one operation (a navigation waits for the page
	// to load; a print to PDF renders it).
	browserTimeout = 60 * time.Second
	// elementTimeout bounds waiting for an element to be in the page.
	elementTimeout = 20 * time.Second
	// browserStopTimeout bounds closing the browser in the cleanup.
	browserStopTimeout = 20 * time.Second
)

// FindChromium returns the path of a chromium, or an error saying how to
// install one.
func FindChromium() (string, error) {
	for _, n := range chromiumNames {
		if p, err := exec.LookPath(n); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s is not installed (Debian: apt-get install chromium)", chromiumNames[0])
}

// NeedChromium returns the path of a chromium. When there is none it skips
// t, or fails it when the environment says CI=true: CI installs it
// (.ci/run), so a missing browser there is a broken setup.
func NeedChromium(t testing.TB) string {
	t.Helper()
	path, err := FindChromium()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("testlib: CI=true and no browser: %v", err)
		}
		t.Skipf("testlib: no browser: %v", err)
	}
	return path
}

// BrowserOptions change the browser a test gets. Zero fields take the
// defaults.
type BrowserOptions struct {
	Width, Height int    // the viewport in CSS pixels, 1280x2000 by default
	Lang          string // Accept-Language and UI language, "ja" by default
}

// PersonUA is the User-Agent the test browser sends: desktop Chrome on
// Linux, as a person's browser would.
const PersonUA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"

// Browser is one headless chromium with one tab, ended with the test.
type Browser struct {
	t   testing.TB
	ctx context.Context // the tab's chromedp context
	log *lockedBuffer   // chromedp's and chromium's messages
}

// NewBrowser starts a headless chromium with its own profile folder and
// opens a tab with the viewport of opts (nil for the defaults). The browser
// ends in t's cleanup; when t failed, the end of the browser's log is
// logged. It skips or fails t like NeedChromium when no chromium is
// installed.
func NewBrowser(t testing.TB, opts *BrowserOptions) *Browser {
	t.Helper()
	path := NeedChromium(t)
	if opts == nil {
		opts = &BrowserOptions{}
	}
	w, h, lang := opts.Width, opts.Height, opts.Lang
	if w == 0 {
		w = 1280
	}
	if h == 0 {
		h = 2000
	}
	if lang == "" {
		lang = "ja"
	}
	dir := TempDir(t)
	log := &lockedBuffer{}
	allocOpts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.UserDataDir(filepath.Join(dir, "profile")),
		chromedp.WindowSize(w, h),
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("no-proxy-server", true),
		chromedp.Flag("lang", lang),
		chromedp.Flag("accept-lang", lang),
		// A person's Chrome: headless Chromium names itself
		// "HeadlessChrome", which careerrelay (rightly) treats as a script
		// whose consent does not count.
		chromedp.UserAgent(PersonUA),
		chromedp.CombinedOutput(log),
	)
	if os.Geteuid() == 0 {
		allocOpts = append(allocOpts, chromedp.NoSandbox) // chromium refuses to run as root otherwise
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), allocOpts...)
	logf := func(format string, args ...any) { fmt.Fprintf(log, format+"\n", args...) }
	ctx, cancel := chromedp.NewContext(allocCtx, chromedp.WithLogf(logf), chromedp.WithErrorf(logf))
	b := &Browser{t: t, ctx: ctx, log: log}
	t.Cleanup(func() {
		// Close the tab and the browser, then wait for chromium to exit
		// (the allocator kills it when the context ends).
		stopped := make(chan struct{})
		go func() {
			cancel()
			cancelAlloc()
			close(stopped)
		}()
		select {
		case <-stopped:
		case <-time.After(browserStopTimeout):
			t.Errorf("testlib: chromium did not stop within %v", browserStopTimeout)
		}
		if t.Failed() {
			t.Logf("testlib: browser log (last part):\n%s", log.tail(6000))
		}
	})

	// The first action starts chromium. Its context must not have a
	// deadline (the browser would end with it), so the start is bounded
	// here instead.
	started := make(chan error, 1)
	go func() {
		started <- chromedp.Do(ctx, chromedp.EmulateViewport(int64(w), int64(h)))
	}()
	select {
	case err := <-started:
		if err != nil {
			t.Fatalf("testlib: starting %s: %v\n%s", path, err, log.tail(6000))
		}
	case <-time.After(browserStartTimeout):
		cancel()
		t.Fatalf("testlib: %s did not start within %v\n%s", path, browserStartTimeout, log.tail(6000))
	}
	return b
}

// run runs one action on the tab within browserTimeout (or the timeout
// given) and fails the test on an error.
func run[T any](b *Browser, what string, timeout time.Duration, a chromedp.Action[T]) T {
	b.t.Helper()
	v, err := try(b, timeout, a)
	if err != nil {
		b.t.Fatalf("testlib: browser: %s: %v", what, err)
	}
	return v
}

// try runs one action on the tab within timeout.
func try[T any](b *Browser, timeout time.Duration, a chromedp.Action[T]) (T, error) {
	ctx, cancel := context.WithTimeout(b.ctx, timeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("no answer within %v: %w", timeout, err)
	}
	return v, err
}

// Do runs chromedp actions on the tab, for what the methods below do not
// cover, and fails the test on an error.
func (b *Browser) Do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	run(b, what, browserTimeout, chromedp.Steps(steps...))
}

// SetViewport sets the viewport to width x height CSS pixels (1 device
// pixel each), e.g. 390 wide for a phone, as a screenshot then shows.
func (b *Browser) SetViewport(width, height int) {
	b.t.Helper()
	run(b, fmt.Sprintf("set the viewport to %dx%d", width, height), browserTimeout,
		chromedp.EmulateViewport(int64(width), int64(height)))
}

// Navigate opens url and returns when the page has loaded.
func (b *Browser) Navigate(url string) {
	b.t.Helper()
	run(b, "navigate to "+url, browserTimeout, chromedp.Navigate(url))
}

// URL returns the address of the current page.
func (b *Browser) URL() string {
	b.t.Helper()
	return run(b, "get the current URL", browserTimeout, chromedp.Location())
}

// Title returns the current page's title.
func (b *Browser) Title() string {
	b.t.Helper()
	return run(b, "get the title", browserTimeout, chromedp.Title())
}

// Source returns the current page's DOM, serialised.
func (b *Browser) Source() string {
	b.t.Helper()
	return run(b, "get the page source", browserTimeout,
		chromedp.EvaluateAsDevTools[string](`document.documentElement.outerHTML`))
}

// SourceNow is Source that does not fail while a navigation has no
// document yet (a form's answer on its way): it returns "" then. Use it in
// a WaitFor condition.
func (b *Browser) SourceNow() string {
	b.t.Helper()
	return run(b, "get the page source", browserTimeout,
		chromedp.EvaluateAsDevTools[string](`document.documentElement ? document.documentElement.outerHTML : ""`))
}

// ScrollWidth is the width of the page's content in CSS pixels
// (document.documentElement.scrollWidth): above the viewport's width, the
// page scrolls sideways.
func (b *Browser) ScrollWidth() int {
	b.t.Helper()
	return run(b, "read the page's width", browserTimeout,
		chromedp.EvaluateAsDevTools[int](`document.documentElement.scrollWidth`))
}

// FullScreenshot returns a PNG of the whole page, beyond the viewport.
func (b *Browser) FullScreenshot() []byte {
	b.t.Helper()
	return run(b, "take a full-page screenshot", browserTimeout, chromedp.FullScreenshot(100))
}

// Screenshot returns a PNG of the viewport.
func (b *Browser) Screenshot() []byte {
	b.t.Helper()
	return run(b, "take a screenshot", browserTimeout, chromedp.CaptureScreenshot())
}

// PrintPDF prints the page as chromium's --print-to-pdf
// --no-pdf-header-footer does (Letter paper, backgrounds, the page's CSS
// page size, no header or footer) and returns the PDF.
func (b *Browser) PrintPDF() []byte {
	b.t.Helper()
	return run(b, "print to PDF", browserTimeout, chromedp.PrintToPDF(
		chromedp.PDFPrintBackground(), chromedp.PDFPreferCSSPageSize(),
		func(p *page.PrintToPDFParams) { p.DisplayHeaderFooter = new(false) }))
}

// Count returns how many elements match the CSS selector now, without
// waiting.
func (b *Browser) Count(css string) int {
	b.t.Helper()
	sel, _ := json.Marshal(css)
	return run(b, "count "+css, browserTimeout,
		chromedp.EvaluateAsDevTools[int](`document.querySelectorAll(`+string(sel)+`).length`))
}

// Element is an element of the page, found by Find; each method looks it up
// again by its selector.
type Element struct {
	b   *Browser
	css string
}

// Find returns the first element matching the CSS selector, waiting up to
// elementTimeout for one to be in the page, and fails the test when there
// is none.
func (b *Browser) Find(css string) Element {
	b.t.Helper()
	run(b, "find "+css, elementTimeout, chromedp.Query(chromedp.CSS(css)))
	return Element{b: b, css: css}
}

// Click clicks the middle of the element with the mouse, as a person would
// (it waits for it to be visible and scrolls it into view).
func (e Element) Click() {
	e.b.t.Helper()
	run(e.b, "click "+e.css, elementTimeout, chromedp.Click(chromedp.CSS(e.css)))
}

// Submit submits the element's form (form.submit(): no submit event, no
// validation), for a form with no button to click.
func (e Element) Submit() {
	e.b.t.Helper()
	run(e.b, "submit the form of "+e.css, elementTimeout, chromedp.Submit(chromedp.CSS(e.css)))
}

// Selected tells whether a checkbox or radio button is checked, or an
// option selected, like WebDriver's Is Element Selected.
func (e Element) Selected() bool {
	e.b.t.Helper()
	what := "read whether " + e.css + " is selected"
	switch tag := run(e.b, what, elementTimeout, chromedp.JavascriptAttribute[string](chromedp.CSS(e.css), "tagName")); tag {
	case "INPUT":
		return run(e.b, what, elementTimeout, chromedp.JavascriptAttribute[bool](chromedp.CSS(e.css), "checked"))
	case "OPTION":
		return run(e.b, what, elementTimeout, chromedp.JavascriptAttribute[bool](chromedp.CSS(e.css), "selected"))
	}
	return false
}

// Text returns the element's rendered text (innerText).
func (e Element) Text() string {
	e.b.t.Helper()
	return run(e.b, "read the text of "+e.css, elementTimeout, chromedp.Text(chromedp.CSS(e.css)))
}

// Attr returns the element's DOM property name (for href, the absolute
// URL the link goes to).
func (e Element) Attr(name string) string {
	e.b.t.Helper()
	return run(e.b, "read "+name+" of "+e.css, elementTimeout, chromedp.JavascriptAttribute[string](chromedp.CSS(e.css), name))
}

// Rect is an element's border box in CSS pixels, from the top left corner
// of the page (not of the viewport).
type Rect struct {
	X, Y, Width, Height float64
}

// Rect returns where the element is laid out.
func (e Element) Rect() Rect {
	e.b.t.Helper()
	sel, _ := json.Marshal(e.css)
	e.b.Find(e.css)
	return run(e.b, "read the position of "+e.css, elementTimeout, chromedp.EvaluateAsDevTools[Rect](
		`(r => ({X: r.left + scrollX, Y: r.top + scrollY, Width: r.width, Height: r.height}))(document.querySelector(`+string(sel)+`).getBoundingClientRect())`))
}

// lockedBuffer collects the browser's log from several goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// tail returns the last n bytes written.
func (l *lockedBuffer) tail(n int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	data := l.buf.Bytes()
	if len(data) > n {
		data = data[len(data)-n:]
	}
	return string(data)
}
