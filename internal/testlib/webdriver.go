package testlib

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

// A real browser for tests: Debian's chromium, headless, driven through
// chromedriver's W3C WebDriver HTTP API with net/http (no Go module and no
// JavaScript of ours in the page). Debian: apt-get install chromium
// chromium-driver (and fonts-ipafont-gothic for Japanese in screenshots).

// browserNames and driverNames are the executables looked up in PATH.
var (
	browserNames = []string{"chromium", "chromium-browser", "google-chrome"}
	driverNames  = []string{"chromedriver"}
)

// browserStartTimeout bounds starting chromedriver and a browser session.
const browserStartTimeout = 60 * time.Second

// webdriverTimeout bounds one WebDriver command (a navigation waits for
// the page to load).
const webdriverTimeout = 60 * time.Second

// driverPortRE finds the port in chromedriver's start-up line.
var driverPortRE = regexp.MustCompile(`started successfully on port (\d+)`)

// elementKey is the W3C name of an element reference in JSON.
const elementKey = "element-6066-11e4-a52e-4f735466cecf"

// FindBrowser returns the paths of a chromium and of chromedriver, or an
// error saying which one is missing.
func FindBrowser() (browser, driver string, err error) {
	look := func(names []string) string {
		for _, n := range names {
			if p, err := exec.LookPath(n); err == nil {
				return p
			}
		}
		return ""
	}
	browser, driver = look(browserNames), look(driverNames)
	switch {
	case browser == "" && driver == "":
		err = fmt.Errorf("neither %s nor %s is installed (Debian: apt-get install chromium chromium-driver)", browserNames[0], driverNames[0])
	case browser == "":
		err = fmt.Errorf("%s is not installed (Debian: apt-get install chromium)", browserNames[0])
	case driver == "":
		err = fmt.Errorf("%s is not installed (Debian: apt-get install chromium-driver)", driverNames[0])
	}
	return browser, driver, err
}

// NeedBrowser returns the browser's and the driver's paths. When one is
// missing it skips t, or fails it when the environment says CI=true: CI
// installs them (.ci/run), so a missing browser there is a broken setup.
func NeedBrowser(t testing.TB) (browser, driver string) {
	t.Helper()
	browser, driver, err := FindBrowser()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("testlib: CI=true and no browser: %v", err)
		}
		t.Skipf("testlib: no browser: %v", err)
	}
	return browser, driver
}

// BrowserOptions change the browser a test gets. Zero fields take the
// defaults.
type BrowserOptions struct {
	Width, Height int      // the window, 1280x2000 by default
	Lang          string   // Accept-Language and UI language, "ja" by default
	ExtraArgs     []string // more command-line switches for chromium
}

// Browser is one headless chromium session, ended with the test.
type Browser struct {
	t       testing.TB
	base    string // chromedriver's URL
	session string
	client  *http.Client
	logPath string // chromedriver's verbose log, shown when the test fails
}

// StartBrowser runs chromedriver on a port the system picks (--port=0;
// chromedriver prints the port it got) and opens a new headless
// chromium session with its own profile folder. Both end in t's cleanup;
// when t failed, the end of chromedriver's log is logged. It skips or fails
// t like NeedBrowser when no browser is installed.
func StartBrowser(t testing.TB, opts *BrowserOptions) *Browser {
	t.Helper()
	browserPath, driverPath := NeedBrowser(t)
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
	b := &Browser{
		t:       t,
		client:  &http.Client{Timeout: webdriverTimeout},
		logPath: filepath.Join(dir, "chromedriver.log"),
	}
	cmd := exec.Command(driverPath, "--port=0", "--log-path="+b.logPath, "--verbose")
	setDriverProcAttr(cmd)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("testlib: %v", err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("testlib: starting %s: %v", driverPath, err)
	}
	// "ChromeDriver was started successfully on port 41245." on standard
	// output tells the port; the rest of the output is dropped.
	var out bytes.Buffer // the output up to the port line, for a failure
	portc := make(chan string, 1)
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := driverPortRE.FindStringSubmatch(sc.Text()); m != nil {
				portc <- m[1]
				break
			}
			if out.Len() < 4096 {
				fmt.Fprintln(&out, sc.Text())
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	exited := make(chan struct{})
	go func() { <-scanned; cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		// Quit the browser, then chromedriver; kill whatever is left of
		// the process group.
		if b.session != "" {
			b.do(http.MethodDelete, "/session/"+b.session, nil, nil)
		}
		b.do(http.MethodGet, "/shutdown", nil, nil)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
		}
		killDriver(cmd)
		<-exited
		if t.Failed() {
			t.Logf("testlib: chromedriver log %s (last part):\n%s", b.logPath, tail(b.logPath, 6000))
		}
	})
	select {
	case port := <-portc:
		b.base = "http://127.0.0.1:" + port
	case <-exited:
		t.Fatalf("testlib: chromedriver exited at start; output:\n%s\nlog:\n%s", out.String(), tail(b.logPath, 6000))
	case <-time.After(browserStartTimeout):
		t.Fatalf("testlib: chromedriver did not print its port after %v; log:\n%s", browserStartTimeout, tail(b.logPath, 6000))
	}
	ready := Poll(browserStartTimeout, func() bool {
		select {
		case <-exited:
			return true
		default:
		}
		var st struct {
			Ready bool `json:"ready"`
		}
		return b.do(http.MethodGet, "/status", nil, &st) == nil && st.Ready
	})
	select {
	case <-exited:
		t.Fatalf("testlib: chromedriver exited at start; log:\n%s", tail(b.logPath, 6000))
	default:
	}
	if !ready {
		t.Fatalf("testlib: chromedriver not ready after %v", browserStartTimeout)
	}

	args := []string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--disable-quic", "--no-first-run", "--no-default-browser-check",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-extensions", "--no-proxy-server", "--hide-scrollbars",
		"--user-data-dir=" + filepath.Join(dir, "profile"),
		fmt.Sprintf("--window-size=%d,%d", w, h),
		"--lang=" + lang,
	}
	args = append(args, opts.ExtraArgs...)
	caps := map[string]any{"capabilities": map[string]any{"alwaysMatch": map[string]any{
		"browserName":      "chrome",
		"pageLoadStrategy": "normal",
		"goog:chromeOptions": map[string]any{
			"binary": browserPath,
			"args":   args,
			"prefs":  map[string]any{"intl.accept_languages": lang},
		},
	}}}
	var sess struct {
		SessionID string `json:"sessionId"`
	}
	if err := b.do(http.MethodPost, "/session", caps, &sess); err != nil {
		t.Fatalf("testlib: new browser session (%s): %v", browserPath, err)
	}
	b.session = sess.SessionID
	return b
}

// Element is an element of the page, found by Find.
type Element struct {
	b   *Browser
	id  string
	css string
}

// Navigate opens url and returns when the page has loaded.
func (b *Browser) Navigate(url string) {
	b.t.Helper()
	b.must("navigate to "+url, http.MethodPost, "/url", map[string]string{"url": url}, nil)
}

// URL returns the address of the current page.
func (b *Browser) URL() string {
	b.t.Helper()
	var u string
	b.must("get the current URL", http.MethodGet, "/url", nil, &u)
	return u
}

// Title returns the current page's title.
func (b *Browser) Title() string {
	b.t.Helper()
	var s string
	b.must("get the title", http.MethodGet, "/title", nil, &s)
	return s
}

// Source returns the current page's DOM, serialised.
func (b *Browser) Source() string {
	b.t.Helper()
	var s string
	b.must("get the page source", http.MethodGet, "/source", nil, &s)
	return s
}

// Screenshot returns a PNG of the window.
func (b *Browser) Screenshot() []byte {
	b.t.Helper()
	var s string
	b.must("take a screenshot", http.MethodGet, "/screenshot", nil, &s)
	png, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		b.t.Fatalf("testlib: screenshot is not base64: %v", err)
	}
	return png
}

// Find returns the first element matching the CSS selector, and fails the
// test when there is none.
func (b *Browser) Find(css string) Element {
	b.t.Helper()
	var ref map[string]string
	b.must("find "+css, http.MethodPost, "/element", map[string]string{"using": "css selector", "value": css}, &ref)
	id := ref[elementKey]
	if id == "" {
		b.t.Fatalf("testlib: find %s: no element reference in %v", css, ref)
	}
	return Element{b: b, id: id, css: css}
}

// Click clicks the element, as a person would (it must be visible and not
// covered).
func (e Element) Click() {
	e.b.t.Helper()
	e.b.must("click "+e.css, http.MethodPost, "/element/"+e.id+"/click", map[string]any{}, nil)
}

// Selected tells whether a checkbox, radio button or option is selected.
func (e Element) Selected() bool {
	e.b.t.Helper()
	var v bool
	e.b.must("read whether "+e.css+" is selected", http.MethodGet, "/element/"+e.id+"/selected", nil, &v)
	return v
}

// Text returns the element's rendered text.
func (e Element) Text() string {
	e.b.t.Helper()
	var s string
	e.b.must("read the text of "+e.css, http.MethodGet, "/element/"+e.id+"/text", nil, &s)
	return s
}

// must runs a command of the session and fails the test on an error.
func (b *Browser) must(what, method, path string, in, out any) {
	b.t.Helper()
	if err := b.do(method, "/session/"+b.session+path, in, out); err != nil {
		b.t.Fatalf("testlib: browser: %s: %v", what, err)
	}
}

// WebDriverError is an error answer of the driver.
type WebDriverError struct {
	Status  int
	Code    string // the W3C error code, e.g. "no such element"
	Message string
}

func (e *WebDriverError) Error() string {
	return fmt.Sprintf("webdriver: HTTP %d: %s: %s", e.Status, e.Code, e.Message)
}

// do sends one WebDriver command and decodes the "value" of its answer
// into out.
func (b *Browser) do(method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		data, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, b.base+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
	}
	resp, err := b.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	var answer struct {
		Value json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(data, &answer); err != nil {
		return fmt.Errorf("webdriver: HTTP %d, not JSON: %.200q", resp.StatusCode, data)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error   string `json:"error"`
			Message string `json:"message"`
		}
		json.Unmarshal(answer.Value, &e)
		return &WebDriverError{Status: resp.StatusCode, Code: e.Error, Message: e.Message}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(answer.Value, out); err != nil {
		return fmt.Errorf("webdriver: decoding %.200q: %w", answer.Value, err)
	}
	return nil
}

// tail returns the last n bytes of the file at path.
func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	if len(data) > n {
		data = data[len(data)-n:]
	}
	return string(data)
}
