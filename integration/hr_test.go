package integration

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/careerrelay/careerrelay/internal/report/reporttest"
	"github.com/careerrelay/careerrelay/internal/testlib"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"golang.org/x/crypto/bcrypt"
)

const (
	hrUser     = "acme-saiyo"
	hrPassword = "correct horse battery staple"
)

// withHRUser gives the tenant an HR page account.
func withHRUser(t *testing.T) func(string, *Config) {
	hash, err := bcrypt.GenerateFromPassword([]byte(hrPassword), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return func(_ string, c *Config) {
		c.Tenants[0].HRUsers = []HRUser{{Name: hrUser, PasswordHash: string(hash)}}
	}
}

// TestHRPageInBrowser: HR logs in to /hr/ in headless Chromium, sees the
// tenant's figures of the scripted history (at desktop and phone width,
// kept in artifacts/), downloads the report as CSV with the session, and
// makes links for three pasted addresses, which open the landing page.
func TestHRPageInBrowser(t *testing.T) {
	t.Parallel()
	sink := newSink(t, nil)
	r := NewRelay(t, sink.Addr, withLocalLinks, withHRUser(t), func(_ string, c *Config) {
		c.Tenants[0].ReferralsPerCredit = reporttest.PerCredit
	})
	playReportScenario(t, r)
	r.Start()
	base := r.Config.Links.BaseURL

	b := testlib.NewBrowser(t, nil)
	b.SetViewport(1280, 900)
	b.Navigate(base + "/hr/")
	if !strings.HasSuffix(b.URL(), "/hr/login") {
		t.Fatalf("without a session /hr/ went to %s", b.URL())
	}
	keepArtifact(t, t.Name()+"-login-390.png", shotAt(t, b, 390))
	b.SetViewport(1280, 900)
	b.Do("log in",
		chromedp.SendKeys(chromedp.CSS(`input[name="name"]`), hrUser),
		chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), hrPassword),
		chromedp.Submit(chromedp.CSS(`form.panel`)),
	)
	testlib.WaitFor(t, 20*time.Second, "the HR page after login", func() bool { return strings.HasSuffix(b.URL(), "/hr/") })
	b.Navigate(base + "/hr/?from=" + reporttest.From + "&to=" + reporttest.To)
	figures := b.Find("dl.figures").Text()
	w := reporttest.Want.Total
	for _, want := range []string{itoa(w.Sent) + "名", itoa(w.Clicked) + "名", itoa(w.Referrals) + "名"} {
		if !strings.Contains(figures, want) {
			t.Errorf("figures %q lack %q", figures, want)
		}
	}
	if n := b.Count("iframe.report"); n != 1 {
		t.Errorf("%d embedded reports", n)
	}

	keepArtifact(t, t.Name()+"-home-1280.png", b.FullScreenshot())
	keepArtifact(t, t.Name()+"-home-390.png", shotAt(t, b, 390))

	// The CSV, with the browser's session.
	client := sessionClient(t, b, base)
	resp, err := client.Get(base + "/hr/report?format=csv&from=" + reporttest.From + "&to=" + reporttest.To)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(string(body), "tenant,from,to,month,links_sent") || !strings.Contains(resp.Header.Get("Content-Disposition"), ".csv") {
		t.Errorf("CSV download: %d %q %.80s", resp.StatusCode, resp.Header.Get("Content-Disposition"), body)
	}

	// The printable report in Japanese, and in English for a head office
	// abroad, from the page's links, with the browser's session.
	for sel, want := range map[string]string{`a[href*="lang=ja"]`: "キャリア相談 実績レポート", `a[hreflang="en"]`: "Career consultation impact report"} {
		href := b.Find(sel).Attr("href") // resolved by the browser
		resp, err := client.Get(href)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), want) {
			t.Errorf("report link %s (%s): %d, no %q", sel, href, resp.StatusCode, want)
		}
	}

	// Links for three pasted addresses.
	b.SetViewport(1280, 900)
	b.Navigate(base + "/hr/links")
	b.Do("paste three addresses",
		chromedp.SetValue(chromedp.CSS(`textarea[name="list"]`), "taro@cand1.example,山田 太郎\nhanako@cand2.example\tSato Hanako\njiro@cand3.example\n"),
		chromedp.Submit(chromedp.CSS(`form.panel`)),
	)
	testlib.WaitFor(t, 20*time.Second, "the links", func() bool { return b.Count("td.url") == 3 })
	keepArtifact(t, t.Name()+"-links-390.png", shotAt(t, b, 390))
	links := regexp.MustCompile(regexp.QuoteMeta(base)+`/c/[A-Za-z0-9._-]+`).FindAllString(b.Find("tbody").Text(), -1)
	if len(links) != 3 {
		t.Fatalf("links %v", links)
	}
	for _, l := range links {
		resp, err := http.Get(l)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("%s: %d", l, resp.StatusCode)
		}
	}
}

// TestHRLoginLockout: ten wrong passwords lock the account (429), even
// for the right password, and refuse nothing else.
func TestHRLoginLockout(t *testing.T) {
	t.Parallel()
	sink := newSink(t, nil)
	r := StartRelay(t, sink.Addr, withLocalLinks, withHRUser(t))
	base := r.Config.Links.BaseURL
	login := func(password string) int {
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := c.Get(base + "/hr/login")
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindSubmatch(page)
		if m == nil {
			t.Fatalf("no CSRF field in the login page")
		}
		resp, err = c.PostForm(base+"/hr/login", url.Values{"csrf": {string(m[1])}, "name": {hrUser}, "password": {password}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for i := range 10 {
		if code := login("wrong " + itoa(i)); code != http.StatusUnauthorized {
			t.Fatalf("wrong password %d: %d", i+1, code)
		}
	}
	if code := login(hrPassword); code != http.StatusTooManyRequests {
		t.Errorf("the right password after 10 wrong ones: %d, want 429", code)
	}
}

// shotAt is a full-page screenshot at width CSS pixels.
func shotAt(t *testing.T, b *testlib.Browser, width int) []byte {
	t.Helper()
	b.SetViewport(width, 844)
	return b.FullScreenshot()
}

// sessionClient is an HTTP client with the browser's cookies for base.
func sessionClient(t *testing.T, b *testlib.Browser, base string) *http.Client {
	t.Helper()
	var cookies []*http.Cookie
	b.Do("read the cookies", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		cs, err := networkCookies(ctx, base)
		cookies = cs
		return err
	}))
	jar, _ := cookiejar.New(nil)
	u, _ := url.Parse(base + "/hr/")
	jar.SetCookies(u, cookies)
	return &http.Client{Jar: jar}
}

func itoa(n int) string { return strconv.Itoa(n) }

// networkCookies are the browser's cookies for base.
func networkCookies(ctx context.Context, base string) ([]*http.Cookie, error) {
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{base + "/hr/"}})
	if err != nil {
		return nil, err
	}
	var out []*http.Cookie
	for _, c := range res.Cookies {
		out = append(out, &http.Cookie{Name: c.Name, Value: c.Value, Path: c.Path})
	}
	return out, nil
}
