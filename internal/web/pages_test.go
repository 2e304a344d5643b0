package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/careerrelay/careerrelay/internal/address"
	"github.com/careerrelay/careerrelay/internal/referral"
)

func TestLandingGET(t *testing.T) {
	tp := newTestPublic(t)
	rec := tp.get("/c/" + tokValid)
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d, want 200:\n%s", rec.Code, rec.Body)
	}
	body := rec.Body.String()
	for _, want := range []string{
		`<html lang="ja">`,
		"株式会社アクメ", "テスト人材紹介", candName + " 様",
		"無料", "任意", "お名前とメールアドレス", "件数",
		"T•••@cand.example",
		`name="consent_version" value="` + tp.pages.rd.consentVersion + `"`,
		`<input type="checkbox" name="consent" value="on" required>`,
		`name="csrf" value="`,
		`<form method="post" class="apply">`,
		`src="https://acme.example/logo.png"`,
		`href="/static/style.css?v=`, `href="/static/tenant/acme.css?v=`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("landing page lacks %q", want)
		}
	}
	if n := strings.Count(body, "<button"); n != 1 {
		t.Errorf("%d buttons, want exactly 1", n)
	}
	if strings.Contains(body, candAddr) || strings.Contains(strings.ToLower(body), strings.ToLower(candAddr)) {
		t.Error("the page shows the whole candidate address")
	}
	if strings.Contains(body, "<script") {
		t.Error("the page has a script")
	}
	if !strings.HasPrefix(tp.pages.rd.consentVersion, "ja-") || len(tp.pages.rd.consentVersion) != 15 {
		t.Errorf("consent version %q, want ja-<12 hex>", tp.pages.rd.consentVersion)
	}
	if len(tp.refs.clicks) != 1 || tp.refs.clicks[0] != (click{"aa01", referral.Human}) {
		t.Errorf("clicks %v, want one human click on aa01", tp.refs.clicks)
	}
	if _, refs := tp.refs.counts(); refs != 0 {
		t.Errorf("GET made %d referrals", refs)
	}
}

func TestLandingEscapes(t *testing.T) {
	tp := newTestPublic(t)
	l := tp.refs.links[tokValid]
	l.Send.Name = `<script>alert(1)</script>`
	tp.pages.cfg.Agency.Name = `"><img src=x onerror=alert(1)>`
	body := tp.get("/c/" + tokValid).Body.String()
	if strings.Contains(body, "<script>alert") || strings.Contains(body, "<img src=x") {
		t.Fatalf("unescaped markup from data:\n%s", body)
	}
}

func TestTamperedOrUnknownLink(t *testing.T) {
	tp := newTestPublic(t)
	for _, path := range []string{
		"/c/" + tokValid[:len(tokValid)-1] + "A",
		"/c/garbage",
		"/c/",
		"/c/" + tokValid + "/more",
		"/nothing-here",
	} {
		for _, method := range []string{http.MethodGet, http.MethodHead, http.MethodPost} {
			req := httptest.NewRequest(method, path, strings.NewReader(url.Values{"consent": {"on"}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			rec := tp.do(req)
			if rec.Code != http.StatusNotFound {
				t.Errorf("%s %s: status %d, want 404", method, path, rec.Code)
			}
		}
	}
	if c, r := tp.refs.counts(); c != 0 || r != 0 {
		t.Errorf("bad links stored %d clicks and %d referrals", c, r)
	}
	if body := tp.get("/c/garbage").Body.String(); !strings.Contains(body, "ページが見つかりません") {
		t.Errorf("404 page:\n%s", body)
	}
}

func TestExpiredLink(t *testing.T) {
	tp := newTestPublic(t)
	rec := tp.get("/c/" + tokExpired)
	if rec.Code != http.StatusGone {
		t.Fatalf("status %d, want 410", rec.Code)
	}
	body := rec.Body.String()
	for _, want := range []string{"有効期限", "180日", `href="` + genericAcme + `"`, "株式会社アクメ"} {
		if !strings.Contains(body, want) {
			t.Errorf("expiry page lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, `name="consent"`) {
		t.Error("expiry page has the consent form")
	}
	rec = tp.post("/c/"+tokExpired, tp.consentForm(t, tokExpired))
	if rec.Code != http.StatusGone {
		t.Errorf("POST: status %d, want 410", rec.Code)
	}
	if c, r := tp.refs.counts(); c != 0 || r != 0 {
		t.Errorf("expired link stored %d clicks and %d referrals", c, r)
	}
	// An expired token whose tenant is unknown still gets the page.
	tp.refs.expired[tokOther] = nil
	delete(tp.refs.links, tokOther)
	if rec := tp.get("/c/" + tokOther); rec.Code != http.StatusGone || strings.Contains(rec.Body.String(), "/t/") {
		t.Errorf("expired without link: status %d\n%s", rec.Code, rec.Body)
	}
}

func TestResolveFailure(t *testing.T) {
	for name, c := range map[string]struct {
		link   *referral.Link
		err    error
		status int
	}{
		"store failure":    {nil, errBoom, http.StatusInternalServerError},
		"tenant removed":   {nil, fmt.Errorf("%w \"gone\"", referral.ErrUnknownTenant), http.StatusNotFound},
		"incomplete link":  {&referral.Link{}, nil, http.StatusInternalServerError},
		"nil link, no err": {nil, nil, http.StatusInternalServerError},
	} {
		tp := newTestPublic(t)
		tp.refs.resolveFn = func(string) (*referral.Link, error) { return c.link, c.err }
		for _, rec := range []*httptest.ResponseRecorder{tp.get("/c/" + tokValid), tp.post("/c/"+tokValid, tp.consentForm(t, tokValid))} {
			if rec.Code != c.status || strings.Contains(rec.Body.String(), "boom") {
				t.Errorf("%s: status %d, want %d without the error text:\n%s", name, rec.Code, c.status, rec.Body)
			}
		}
		if c, r := tp.refs.counts(); c != 0 || r != 0 {
			t.Errorf("%s: %d clicks, %d referrals", name, c, r)
		}
	}
}

func TestGenericPage(t *testing.T) {
	tp := newTestPublic(t)
	rec := tp.get("/t/acme")
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d", rec.Code)
	}
	body := rec.Body.String()
	for _, want := range []string{"株式会社アクメ", "テスト人材紹介", `href="https://agency.example/register?src=careerrelay"`} {
		if !strings.Contains(body, want) {
			t.Errorf("generic page lacks %q", want)
		}
	}
	for _, bad := range []string{"<form", `name="consent"`, "&ref=", "?ref=", candName} {
		if strings.Contains(body, bad) {
			t.Errorf("generic page has %q", bad)
		}
	}
	if rec := tp.get("/t/nobody"); rec.Code != http.StatusNotFound {
		t.Errorf("unknown tenant: status %d, want 404", rec.Code)
	}
	if rec := tp.post("/t/acme", url.Values{"consent": {"on"}}); rec.Code == http.StatusSeeOther {
		t.Error("POST /t/acme redirected")
	}
	if c, r := tp.refs.counts(); c != 0 || r != 0 {
		t.Errorf("generic page stored %d clicks and %d referrals", c, r)
	}
}

func TestHEADHasNoSideEffect(t *testing.T) {
	tp := newTestPublic(t)
	rec := tp.do(httptest.NewRequest(http.MethodHead, "/c/"+tokValid, nil))
	if rec.Code != http.StatusOK {
		t.Errorf("status %d, want 200", rec.Code)
	}
	if rec.Body.Len() != 0 {
		t.Errorf("HEAD has a body of %d bytes", rec.Body.Len())
	}
	if rec.Header().Get("Content-Security-Policy") != wantCSP {
		t.Error("HEAD lacks the CSP")
	}
	if c, r := tp.refs.counts(); c != 0 || r != 0 {
		t.Errorf("HEAD stored %d clicks and %d referrals", c, r)
	}
}

func TestClickClass(t *testing.T) {
	sent := testNow.Add(-time.Hour)
	cases := []struct {
		name string
		hdr  []string
		sent time.Time
		want string
	}{
		{"browser", nil, sent, referral.Human},
		{"browser after the window", nil, testNow.Add(-11 * time.Second), referral.Human},
		{"within the window", nil, testNow.Add(-5 * time.Second), referral.Bot},
		{"at the window's end", nil, testNow.Add(-10 * time.Second), referral.Bot},
		{"sent in the future (skew)", nil, testNow.Add(time.Minute), referral.Bot},
		{"Safe Links / BingPreview", []string{"User-Agent", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) BingPreview/1.0b"}, sent, referral.Bot},
		{"Proofpoint", []string{"User-Agent", "Mozilla/5.0 (compatible; Proofpoint URL Defense)"}, sent, referral.Bot},
		{"mimecast lower case", []string{"User-Agent", "mimecast-url-protect/2.0"}, sent, referral.Bot},
		{"Barracuda", []string{"User-Agent", "Barracuda Sentinel (EE)"}, sent, referral.Bot},
		{"Google-Safety", []string{"User-Agent", "Mozilla/5.0 (compatible; Google-Safety; +http://www.google.com/bot.html)"}, sent, referral.Bot},
		{"curl", []string{"User-Agent", "curl/8.5.0"}, sent, referral.Bot},
		{"no User-Agent", []string{"User-Agent", ""}, sent, referral.Bot},
		{"Sec-Purpose prefetch", []string{"Sec-Purpose", "prefetch"}, sent, referral.Bot},
		{"Sec-Purpose prerender", []string{"Sec-Purpose", "prefetch;prerender"}, sent, referral.Bot},
		{"Purpose prefetch", []string{"Purpose", "Prefetch"}, sent, referral.Bot},
		{"X-Moz prefetch", []string{"X-Moz", "prefetch"}, sent, referral.Bot},
		{"CUBOT phone is a person", []string{"User-Agent", "Mozilla/5.0 (Linux; Android 10; CUBOT_X30) AppleWebKit/537.36 Chrome/120 Mobile Safari/537.36"}, sent, referral.Human},
		{"LINE in-app browser is a person", []string{"User-Agent", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 Safari Line/14.3.0"}, sent, referral.Human},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tp := newTestPublic(t)
			tp.refs.links[tokValid].Send.Sent = c.sent
			if rec := tp.get("/c/"+tokValid, c.hdr...); rec.Code != http.StatusOK {
				t.Fatalf("status %d", rec.Code)
			}
			if len(tp.refs.clicks) != 1 || tp.refs.clicks[0].class != c.want {
				t.Errorf("clicks %v, want one %s", tp.refs.clicks, c.want)
			}
			if _, r := tp.refs.counts(); r != 0 {
				t.Error("a GET made a referral")
			}
		})
	}
	if got := clickClass(httptest.NewRequest(http.MethodHead, "/", nil), sent, testNow, time.Second, false); got != referral.Bot {
		t.Errorf("HEAD is %s, want bot", got)
	}
}

func TestConsentPOST(t *testing.T) {
	tp := newTestPublic(t)
	form := tp.consentForm(t, tokValid)
	form.Set("csrf", tp.formToken(t, tokValid)) // the one the page rendered
	rec := tp.post("/c/"+tokValid, form)
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("status %d, want 303:\n%s", rec.Code, rec.Body)
	}
	if ref := tp.consented(t, rec, tokValid); ref != "R1" {
		t.Errorf("the completion page offers ref %q, want R1", ref)
	}
	if len(tp.refs.consented) != 1 || tp.refs.consented[0] != tp.pages.rd.consentVersion {
		t.Errorf("consent versions %v, want [%s]", tp.refs.consented, tp.pages.rd.consentVersion)
	}
	if rec.Header().Get("Cache-Control") != "no-store" || rec.Header().Get("Referrer-Policy") != "no-referrer" {
		t.Errorf("redirect headers %v", rec.Header())
	}
	// Again: the same referral, the same target.
	rec = tp.post("/c/"+tokValid, form)
	if ref := tp.consented(t, rec, tokValid); ref != "R1" {
		t.Errorf("second POST: ref %q", ref)
	}
	if strings.Contains(strings.ToLower(tp.log.String()), strings.ToLower(candAddr)) {
		t.Errorf("the log shows the candidate address:\n%s", tp.log)
	}
	if !strings.Contains(tp.log.String(), "candidate="+address.LogHash(candAddr)) {
		t.Errorf("the referral log line lacks the address hash:\n%s", tp.log)
	}
}

func TestConsentWithoutConsent(t *testing.T) {
	tp := newTestPublic(t)
	for _, v := range []string{"", "off", "true", "ON"} {
		form := tp.consentForm(t, tokValid)
		if v == "" {
			form.Del("consent")
		} else {
			form.Set("consent", v)
		}
		rec := tp.post("/c/"+tokValid, form)
		if rec.Code != http.StatusUnprocessableEntity {
			t.Errorf("consent=%q: status %d, want 422", v, rec.Code)
		}
		body := rec.Body.String()
		if !strings.Contains(body, "チェックを入れてください") || !strings.Contains(body, `name="csrf"`) {
			t.Errorf("consent=%q: the page lacks the message or the form:\n%s", v, body)
		}
		if rec.Header().Get("Location") != "" {
			t.Error("a redirect without consent")
		}
	}
	if _, r := tp.refs.counts(); r != 0 || len(tp.refs.consented) != 0 {
		t.Errorf("%d referrals without consent", r)
	}
}

func TestConsentVersionChanged(t *testing.T) {
	tp := newTestPublic(t)
	form := tp.consentForm(t, tokValid)
	form.Set("consent_version", "ja-000000000000")
	rec := tp.post("/c/"+tokValid, form)
	if rec.Code != http.StatusUnprocessableEntity || !strings.Contains(rec.Body.String(), "更新されました") {
		t.Errorf("status %d:\n%s", rec.Code, rec.Body)
	}
	if _, r := tp.refs.counts(); r != 0 {
		t.Error("a referral for another consent text")
	}
}

func TestConsentBadCSRF(t *testing.T) {
	tp := newTestPublic(t)
	good := tp.pages.csrf.mint(tokValid, testNow)
	cases := map[string]struct {
		csrf string
		hdr  []string
	}{
		"missing":           {"", nil},
		"garbage":           {"not-a-token", nil},
		"tampered":          {good[:len(good)-2] + "AA", nil},
		"other link's":      {tp.pages.csrf.mint(tokOther, testNow), nil},
		"too old":           {tp.pages.csrf.mint(tokValid, testNow.Add(-25*time.Hour)), nil},
		"from the future":   {tp.pages.csrf.mint(tokValid, testNow.Add(time.Hour)), nil},
		"another key":       {csrfKeys{[]byte("another key, another key, 32 by")}.mint(tokValid, testNow), nil},
		"cross-site post":   {good, []string{"Sec-Fetch-Site", "cross-site"}},
		"same-site post":    {good, []string{"Sec-Fetch-Site", "same-site"}},
		"issued far future": {"99999999999999999999.AAAAAAAAAAAAAAAAAAAAAA", nil},
	}
	for name, c := range cases {
		form := tp.consentForm(t, tokValid)
		form.Set("csrf", c.csrf)
		rec := tp.post("/c/"+tokValid, form, c.hdr...)
		if rec.Code != http.StatusForbidden {
			t.Errorf("%s: status %d, want 403", name, rec.Code)
		}
		if !strings.Contains(rec.Body.String(), `href="/c/`+tokValid+`"`) {
			t.Errorf("%s: the 403 page does not offer the link again", name)
		}
	}
	if _, r := tp.refs.counts(); r != 0 {
		t.Errorf("%d referrals with a bad form token", r)
	}
	// Same-origin and old browsers without Sec-Fetch-Site pass.
	for _, hdr := range [][]string{{"Sec-Fetch-Site", "same-origin"}, {"Origin", "null"}} {
		if rec := tp.post("/c/"+tokValid, tp.consentForm(t, tokValid), hdr...); rec.Code != http.StatusSeeOther {
			t.Errorf("%v: status %d, want 303", hdr, rec.Code)
		}
	}
}

// TestRedirectTargetIsConfigured tries every request field an open
// redirect usually reads.
func TestRedirectTargetIsConfigured(t *testing.T) {
	tp := newTestPublic(t)
	evil := "https://evil.example/phish"
	form := tp.consentForm(t, tokValid)
	for _, k := range []string{"next", "redirect", "redirect_uri", "return_to", "url", "ref", "continue"} {
		form.Set(k, evil)
	}
	q := url.Values{}
	for _, k := range []string{"next", "redirect", "return_to", "url", "ref"} {
		q.Set(k, evil)
	}
	rec := tp.post("/c/"+tokValid+"?"+q.Encode(), form,
		"Host", "evil.example", "X-Forwarded-Host", "evil.example", "X-Forwarded-Proto", "http",
		"Referer", evil, "Origin", "https://evil.example", "X-Original-URL", "/evil", "Forwarded", "host=evil.example")
	if rec.Code == http.StatusSeeOther {
		if got, want := rec.Header().Get("Location"), "/c/"+tokValid; got != want {
			t.Errorf("Location %q, want %q", got, want)
		}
		if ref := refOnPage(t, tp.get("/c/"+tokValid).Body.String(), regURL); ref != "R1" {
			t.Errorf("the page's agency button has ref %q", ref)
		}
	}
	if strings.Contains(rec.Header().Get("Location"), "evil") || strings.Contains(rec.Body.String(), "evil") {
		t.Errorf("the reply carries a request-supplied target: %d %v\n%s", rec.Code, rec.Header(), rec.Body)
	}
	if rec.Code != http.StatusSeeOther {
		t.Errorf("status %d, want 303", rec.Code)
	}
}

func TestRegistrationURL(t *testing.T) {
	for reg, want := range map[string]string{
		"https://agency.example/register":                   "https://agency.example/register?ref=R%2F1+x",
		"https://agency.example/register?src=cr&ref=old":    "https://agency.example/register?src=cr&ref=R%2F1+x",
		"https://agency.example/register?b=2&a=1&%72ef=old": "https://agency.example/register?b=2&a=1&ref=R%2F1+x",
		"https://agency.example/r?x=%E6%97%A5":              "https://agency.example/r?x=%E6%97%A5&ref=R%2F1+x",
	} {
		cfg := testConfig()
		cfg.Agency.RegistrationURL = reg
		p, err := newPages(cfg, newFakeRefs(cfg, testNow), testLog())
		if err != nil {
			t.Fatal(err)
		}
		if got := p.registrationURL("R/1 x"); got != want {
			t.Errorf("%s: %s, want %s", reg, got, want)
		}
	}
}

func TestSecurityHeaders(t *testing.T) {
	tp := newTestPublic(t)
	bad := tp.consentForm(t, tokValid)
	bad.Set("csrf", "x")
	noConsent := tp.consentForm(t, tokValid)
	noConsent.Del("consent")
	cases := []struct {
		name     string
		rec      *httptest.ResponseRecorder
		status   int
		personal bool
	}{
		{"landing", tp.get("/c/" + tokValid), 200, true},
		{"head", tp.do(httptest.NewRequest(http.MethodHead, "/c/"+tokValid, nil)), 200, true},
		{"not found", tp.get("/c/nope"), 404, true},
		{"other path", tp.get("/admin"), 404, true},
		{"expired", tp.get("/c/" + tokExpired), 410, true},
		{"generic", tp.get("/t/acme"), 200, false},
		{"no consent", tp.post("/c/"+tokValid, noConsent), 422, true},
		{"bad csrf", tp.post("/c/"+tokValid, bad), 403, true},
		{"consent", tp.post("/c/"+tokValid, tp.consentForm(t, tokValid)), 303, true},
	}
	for _, c := range cases {
		h := c.rec.Header()
		if c.rec.Code != c.status {
			t.Errorf("%s: status %d, want %d", c.name, c.rec.Code, c.status)
		}
		if got := h.Get("Content-Security-Policy"); got != wantCSP {
			t.Errorf("%s: CSP %q", c.name, got)
		}
		if h.Get("Referrer-Policy") != "no-referrer" || h.Get("X-Content-Type-Options") != "nosniff" || h.Get("X-Frame-Options") != "DENY" {
			t.Errorf("%s: headers %v", c.name, h)
		}
		if cc := h.Get("Cache-Control"); c.personal && cc != "no-store" {
			t.Errorf("%s: Cache-Control %q, want no-store", c.name, cc)
		}
		if c.status != 303 && h.Get("Content-Type") != "text/html; charset=utf-8" {
			t.Errorf("%s: Content-Type %q", c.name, h.Get("Content-Type"))
		}
	}
}

func TestStaticFiles(t *testing.T) {
	tp := newTestPublic(t)
	page := tp.get("/c/" + tokValid).Body.String()
	for _, path := range []string{tp.pages.rd.style, tp.pages.rd.tenantStyle["acme"]} {
		if !strings.Contains(page, `href="`+path+`"`) {
			t.Errorf("the page does not link %s", path)
		}
		rec := tp.get(path)
		if rec.Code != 200 || rec.Header().Get("Content-Type") != "text/css; charset=utf-8" || rec.Body.Len() == 0 {
			t.Errorf("%s: %d %q", path, rec.Code, rec.Header().Get("Content-Type"))
		}
	}
	if css := tp.get("/static/tenant/acme.css").Body.String(); !strings.Contains(css, "--accent:#0055aa") {
		t.Errorf("tenant css %q", css)
	}
	for _, path := range []string{"/static/tenant/nobody.css", "/static/tenant/acme", "/static/nope.css"} {
		if rec := tp.get(path); rec.Code != http.StatusNotFound {
			t.Errorf("%s: status %d, want 404", path, rec.Code)
		}
	}
}

func TestTenantCSS(t *testing.T) {
	for color, want := range map[string]string{
		"#0055AA":                   ":root{--accent:#0055aa;--on-accent:#ffffff;--accent-text:#0055aa}\n",
		"#ffdd00":                   ":root{--accent:#ffdd00;--on-accent:#1d1d1f;--accent-text:#1d1d1f}\n", // too light as text on white
		"#2e9e4f":                   ":root{--accent:#2e9e4f;--on-accent:#ffffff;--accent-text:#1d1d1f}\n", // 3.6:1 on white: below 4.5
		"":                          ":root{--accent:" + defaultAccent + ";--on-accent:#ffffff;--accent-text:" + defaultAccent + "}\n",
		"red;}body{display:none":    ":root{--accent:" + defaultAccent + ";--on-accent:#ffffff;--accent-text:" + defaultAccent + "}\n",
		"#12345":                    ":root{--accent:" + defaultAccent + ";--on-accent:#ffffff;--accent-text:" + defaultAccent + "}\n",
		"#0055aa;background:url(x)": ":root{--accent:" + defaultAccent + ";--on-accent:#ffffff;--accent-text:" + defaultAccent + "}\n",
	} {
		if got := string(tenantCSS(color)); got != want {
			t.Errorf("%q: %q, want %q", color, got, want)
		}
	}
}

func TestMaskAddress(t *testing.T) {
	for in, want := range map[string]string{
		"taro@cand.example":  "t•••@cand.example",
		"田中@例え.jp":           "田•••@例え.jp",
		`"a@b"@cand.example`: `"•••@cand.example`,
		"nodomain":           "",
		"@cand.example":      "",
	} {
		if got := maskAddress(in); got != want {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
}

func TestMetricsAndHealth(t *testing.T) {
	tp := newTestPublic(t)
	if rec := tp.get("/healthz"); rec.Code != 200 || rec.Body.String() != "ok\n" {
		t.Errorf("/healthz: %d %q", rec.Code, rec.Body)
	}
	if rec := tp.get("/metrics"); rec.Code != 200 {
		t.Errorf("/metrics: %d", rec.Code)
	}
	cfg := testConfig()
	failed, err := NewPublic(cfg, newFakeRefs(cfg, testNow), func() error { return errors.New("store failed") }, prometheus.NewRegistry(), testLog())
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	failed.srv.Handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("/healthz of a failed store: %d %q, want 503", rec.Code, rec.Body)
	}
}

func TestReferFailure(t *testing.T) {
	tp := newTestPublic(t)
	tp.refs.referErr = errBoom
	rec := tp.post("/c/"+tokValid, tp.consentForm(t, tokValid))
	if rec.Code != http.StatusInternalServerError || rec.Header().Get("Location") != "" || strings.Contains(rec.Body.String(), "boom") {
		t.Errorf("status %d, Location %q", rec.Code, rec.Header().Get("Location"))
	}
}

func TestDevAgencyOnlyWhenConfigured(t *testing.T) {
	tp := newTestPublic(t)
	if rec := tp.get("/dev/agency?ref=R1"); rec.Code != http.StatusNotFound {
		t.Errorf("without the dev config: status %d, want 404", rec.Code)
	}
	cfg := testConfig()
	cfg.Links.BaseURL = "http://127.0.0.1:8080"
	cfg.Agency.RegistrationURL = "http://127.0.0.1:8080/dev/agency"
	p, err := NewPublic(cfg, newFakeRefs(cfg, testNow), nil, prometheus.NewRegistry(), testLog())
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	p.srv.Handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/dev/agency?ref=<b>R1", nil))
	if body := rec.Body.String(); rec.Code != 200 || !strings.Contains(body, "&lt;b&gt;R1") {
		t.Errorf("dev agency: %d\n%s", rec.Code, body)
	}
}

// TestConsentFromScriptRefused: a consent posted by a script or scanner
// (by its User-Agent, or none) records nothing and tells the person what
// to do; the same form from a browser counts.
func TestConsentFromScriptRefused(t *testing.T) {
	e := newRealEnv(t)
	tp := &testPublic{Public: e.pub}
	tok := e.mail(t, 1)[0]
	form := tp.consentForm(t, tok)
	for _, ua := range []string{"", "python-requests/2.32", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36", "curl/8.5.0"} {
		req := httptest.NewRequest(http.MethodPost, "/c/"+tok, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("User-Agent", ua)
		rec := tp.do(req)
		if rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), "ふだんお使いのブラウザ") {
			t.Errorf("User-Agent %q: %d", ua, rec.Code)
		}
	}
	if b, _ := e.svc.Balance("acme"); b.Referrals != 0 {
		t.Fatalf("%d referrals from scripts", b.Referrals)
	}
	if rec := tp.post("/c/"+tok, form); rec.Code != http.StatusSeeOther {
		t.Errorf("the same form from a browser: %d", rec.Code)
	}
}
