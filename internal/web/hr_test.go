package web

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/careerrelay/careerrelay/configs"
	"github.com/careerrelay/careerrelay/store"
	"golang.org/x/crypto/bcrypt"
)

// hrEnv is the real environment with an HR account for acme and one for
// beta.
func hrEnv(t *testing.T) (*realEnv, *testPublic) {
	t.Helper()
	hash, _ := bcrypt.GenerateFromPassword([]byte("pw-acme"), bcrypt.MinCost)
	hashB, _ := bcrypt.GenerateFromPassword([]byte("pw-beta"), bcrypt.MinCost)
	cfg := testConfig()
	cfg.Tenants[0].HRUsers = []configs.HRUser{{Name: "acme-hr", PasswordHash: string(hash)}}
	cfg.Tenants = append(cfg.Tenants, configs.Tenant{ID: "beta", Name: "株式会社ベータ", Domains: []string{"beta.example"},
		ReferralsPerCredit: 10, HRUsers: []configs.HRUser{{Name: "beta-hr", PasswordHash: string(hashB)}}})
	e := newRealEnvConfig(t, cfg, filepath.Join(t.TempDir(), "careerrelay.db"), store.Options{})
	return e, &testPublic{Public: e.pub}
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// hrLogin logs in and returns the cookies of the session.
func hrLogin(t *testing.T, tp *testPublic, name, password string) []*http.Cookie {
	t.Helper()
	page := tp.get("/hr/login")
	m := csrfRE.FindStringSubmatch(page.Body.String())
	if m == nil {
		t.Fatalf("login page: %d %s", page.Code, page.Body)
	}
	req := httptest.NewRequest(http.MethodPost, "/hr/login", strings.NewReader(url.Values{"csrf": {m[1]}, "name": {name}, "password": {password}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, c := range page.Result().Cookies() {
		req.AddCookie(c)
	}
	rec := tp.do(req)
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("login %s: %d %s", name, rec.Code, rec.Body)
	}
	var session []*http.Cookie
	for _, c := range rec.Result().Cookies() {
		if c.Name == hrCookie {
			if !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteStrictMode || c.Path != "/hr/" {
				t.Errorf("session cookie %+v: want HttpOnly, Secure, SameSite=Strict, Path /hr/", c)
			}
			session = append(session, c)
		}
	}
	return session
}

func hrGet(tp *testPublic, path string, cookies []*http.Cookie) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, path, nil)
	for _, c := range cookies {
		req.AddCookie(c)
	}
	return tp.do(req)
}

func hrPost(tp *testPublic, path string, form url.Values, cookies []*http.Cookie) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, c := range cookies {
		req.AddCookie(c)
	}
	return tp.do(req)
}

// TestHRSessionIsTheTenants: each account sees its own tenant only; the
// links form needs the session's CSRF token; logout ends the session.
func TestHRSessionIsTheTenants(t *testing.T) {
	e, tp := hrEnv(t)
	if rec := hrGet(tp, "/hr/", nil); rec.Code != http.StatusSeeOther || !strings.HasSuffix(rec.Header().Get("Location"), "/hr/login") {
		t.Fatalf("without a session: %d %s", rec.Code, rec.Header().Get("Location"))
	}
	beta := hrLogin(t, tp, "beta-hr", "pw-beta")
	home := hrGet(tp, "/hr/", beta)
	if home.Code != 200 || !strings.Contains(home.Body.String(), "株式会社ベータ") || strings.Contains(home.Body.String(), "株式会社アクメ") {
		t.Fatalf("beta's home: %d", home.Code)
	}
	csrf := csrfRE.FindStringSubmatch(home.Body.String())[1]
	if rec := hrPost(tp, "/hr/links", url.Values{"list": {"a@cand.example"}}, beta); rec.Code != http.StatusForbidden {
		t.Errorf("links without the CSRF token: %d", rec.Code)
	}
	if n := sendCount(t, e); n != 0 {
		t.Fatalf("%d send records after a refused form", n)
	}
	rec := hrPost(tp, "/hr/links", url.Values{"csrf": {csrf}, "list": {"a@cand.example,候補 一郎\nb@cand.example\tB"}}, beta)
	if rec.Code != 200 || strings.Count(rec.Body.String(), `<td class="url">`) != 2 {
		t.Fatalf("links: %d %s", rec.Code, rec.Body)
	}
	var tenants []string
	e.svc.Sends(func(s *store.Send) error { tenants = append(tenants, s.Tenant+":"+s.Name); return nil })
	if len(tenants) != 2 || !strings.HasPrefix(tenants[0], "beta:") || !strings.HasPrefix(tenants[1], "beta:") {
		t.Errorf("send records %v, want two of beta", tenants)
	}
	if rec := hrPost(tp, "/hr/links", url.Values{"csrf": {csrf}, "list": {"ok@cand.example\nnot-an-address"}}, beta); rec.Code != 400 || !strings.Contains(rec.Body.String(), "2件目") {
		t.Errorf("a bad line: %d", rec.Code)
	}
	if rec := hrGet(tp, "/hr/report?format=csv", beta); rec.Code != 200 || !strings.HasPrefix(rec.Body.String(), "tenant,from,to,month") || !strings.Contains(rec.Body.String(), "beta,") {
		t.Errorf("report CSV: %d %.60s", rec.Code, rec.Body)
	}
	hrPost(tp, "/hr/logout", url.Values{"csrf": {csrf}}, beta)
	if rec := hrGet(tp, "/hr/", beta); rec.Code != http.StatusSeeOther {
		t.Errorf("after logout: %d", rec.Code)
	}
}

// TestHRLoginCSRF: a login post without the form's token is refused.
func TestHRLoginCSRF(t *testing.T) {
	_, tp := hrEnv(t)
	rec := hrPost(tp, "/hr/login", url.Values{"name": {"acme-hr"}, "password": {"pw-acme"}}, nil)
	if rec.Code != http.StatusForbidden {
		t.Errorf("login without the token: %d", rec.Code)
	}
}
