package web

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/careerrelay/careerrelay/configs"
	"github.com/careerrelay/careerrelay/internal/csvcell"
	"github.com/careerrelay/careerrelay/internal/referral"
	"github.com/careerrelay/careerrelay/internal/report"
	"golang.org/x/crypto/bcrypt"
)

// The HR page (/hr/ on http.listen): for the people in a company who look
// after recruiting, not the mail. They log in with an account of
// tenants[].hr_users and see the impact report of a chosen period, the
// credit balance, download the report, and make links for a pasted list of
// addresses. Server-rendered, in Japanese, without script or anything
// fetched from elsewhere; every form carries a CSRF token.
//
//	GET  /hr/         the report and balance (login page without a session)
//	GET  /hr/login    POST /hr/login    POST /hr/logout
//	GET  /hr/report   ?from=&to=&format=html|csv|json, as the tenant API's
//	GET  /hr/links    POST /hr/links    links for pasted addresses
//	GET  /hr/static/hr.css

type hrPages struct {
	cfg      *configs.Config
	svc      TenantService
	log      *slog.Logger
	sessions *hrSessions
	tmpl     *template.Template
	css      []byte
	cssPath  string
	prefix   string // base_url's path
	secure   bool   // cookies get Secure: the links are https
	dummy    []byte // a bcrypt hash to compare against for unknown names
}

func registerHR(mux *http.ServeMux, cfg *configs.Config, svc TenantService, rd *renderer, log *slog.Logger) (*hrPages, error) {
	css, err := assets.ReadFile("static/hr.css")
	if err != nil {
		return nil, err
	}
	tmpl, err := template.New("hr").Funcs(template.FuncMap{"comma": comma}).ParseFS(assets, "templates/hr.html")
	if err != nil {
		return nil, fmt.Errorf("web: hr templates: %w", err)
	}
	dummy, _ := bcrypt.GenerateFromPassword([]byte("no such account"), bcrypt.DefaultCost)
	h := &hrPages{
		cfg: cfg, svc: svc, log: log.With("component", "hr"), sessions: newHRSessions(time.Now),
		tmpl: tmpl, css: css, prefix: rd.prefix, secure: strings.HasPrefix(cfg.Links.BaseURL, "https://"),
		dummy: dummy,
	}
	h.cssPath = h.prefix + "/hr/static/hr.css?v=" + shortHash(css)
	mux.HandleFunc("GET /hr/", h.home)
	mux.HandleFunc("GET /hr/login", h.loginPage)
	mux.HandleFunc("POST /hr/login", h.login)
	mux.HandleFunc("POST /hr/logout", h.logout)
	mux.HandleFunc("GET /hr/report", h.report)
	mux.HandleFunc("GET /hr/links", h.linksPage)
	mux.HandleFunc("POST /hr/links", h.makeLinks)
	mux.HandleFunc("GET /hr/static/hr.css", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/css; charset=utf-8")
		w.Header().Set("Cache-Control", "public, max-age=86400")
		w.Write(h.css)
	})
	return h, nil
}

// comma writes n with thousands separators.
func comma(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// hrView is the data of every HR page.
type hrView struct {
	Title   string
	CSS     string
	Prefix  string
	Tenant  *configs.Tenant
	User    string
	CSRF    string
	Problem string

	// Home.
	Report     *report.Report
	Balance    *referral.Balance
	PerCredit  int // referrals per credit
	TowardNext int // referrals so far toward the next credit (now)
	Remaining  int // referrals still needed for it
	From       string
	To         string

	// Links.
	Pasted string
	Links  []hrLink
	CSV    string
}

type hrLink struct {
	Email, Name, URL string
}

// page renders template name with status, with the HR page's headers.
func (h *hrPages) page(w http.ResponseWriter, status int, name string, v *hrView) {
	v.CSS, v.Prefix = h.cssPath, h.prefix
	var buf bytes.Buffer
	if err := h.tmpl.ExecuteTemplate(&buf, name, v); err != nil {
		h.log.Error("render HR page", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	hd := w.Header()
	hd.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src https: 'self'; frame-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Cache-Control", "no-store")
	hd.Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

func (h *hrPages) cookie(name, value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: name, Value: value, Path: h.prefix + "/hr/", MaxAge: maxAge,
		HttpOnly: true, Secure: h.secure, SameSite: http.SameSiteStrictMode}
}

func (h *hrPages) redirect(w http.ResponseWriter, r *http.Request, path string) {
	http.Redirect(w, r, h.prefix+path, http.StatusSeeOther)
}

// session returns the request's session, or sends the visitor to the
// login page.
func (h *hrPages) session(w http.ResponseWriter, r *http.Request) (string, *hrSession) {
	id, ss := h.sessions.get(r)
	if ss == nil {
		h.redirect(w, r, "/hr/login")
	}
	return id, ss
}

func (h *hrPages) loginPage(w http.ResponseWriter, r *http.Request) {
	if _, ss := h.sessions.get(r); ss != nil {
		h.redirect(w, r, "/hr/")
		return
	}
	h.showLogin(w, http.StatusOK, "")
}

func (h *hrPages) showLogin(w http.ResponseWriter, status int, problem string) {
	token := randomToken()
	http.SetCookie(w, h.cookie(hrLoginCookie, token, 3600))
	h.page(w, status, "hr_login", &hrView{Title: "採用担当者さま向けページ ログイン", CSRF: token, Problem: problem})
}

// login checks the account. A name that is no account costs a bcrypt
// comparison too, and every failure counts against the name and the
// client's address: past the limit both answer 429 for a while.
func (h *hrPages) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	c, err := r.Cookie(hrLoginCookie)
	if err != nil || !sameToken(c.Value, r.PostFormValue("csrf")) {
		h.showLogin(w, http.StatusForbidden, "ページの有効期限が切れました。もう一度ログインしてください。")
		return
	}
	name := strings.TrimSpace(r.PostFormValue("name"))
	password := r.PostFormValue("password")
	keys := []string{"user:" + name}
	if addr, ok := clientKey(r.RemoteAddr); ok {
		keys = append(keys, "addr:"+addr)
	}
	if h.sessions.locked(keys...) {
		h.log.Warn("HR login refused: too many failures", "account", name)
		h.showLogin(w, http.StatusTooManyRequests, "ログインの失敗が続いたため、しばらくログインできません。15分ほど経ってからお試しください。")
		return
	}
	t, u := h.account(name)
	hash := h.dummy
	if u != nil {
		hash = []byte(u.PasswordHash)
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(password)) != nil || u == nil {
		h.sessions.failed(keys...)
		h.log.Info("HR login failed", "account", name)
		h.showLogin(w, http.StatusUnauthorized, "ユーザー名またはパスワードが違います。")
		return
	}
	id, _ := h.sessions.start(t, u.Name)
	http.SetCookie(w, h.cookie(hrCookie, id, int(hrSessionTTL/time.Second)))
	http.SetCookie(w, h.cookie(hrLoginCookie, "", -1))
	h.log.Info("HR login", "tenant", t.ID, "account", u.Name)
	h.redirect(w, r, "/hr/")
}

// account finds an HR account by name (names are unique over tenants).
func (h *hrPages) account(name string) (*configs.Tenant, *configs.HRUser) {
	for i := range h.cfg.Tenants {
		t := &h.cfg.Tenants[i]
		for j := range t.HRUsers {
			if t.HRUsers[j].Name == name && name != "" {
				return t, &t.HRUsers[j]
			}
		}
	}
	return nil, nil
}

func (h *hrPages) logout(w http.ResponseWriter, r *http.Request) {
	id, ss := h.sessions.get(r)
	if ss != nil && sameToken(ss.csrf, r.PostFormValue("csrf")) {
		h.sessions.end(id)
	}
	http.SetCookie(w, h.cookie(hrCookie, "", -1))
	h.redirect(w, r, "/hr/login")
}

func (h *hrPages) home(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/hr/" {
		http.NotFound(w, r)
		return
	}
	_, ss := h.session(w, r)
	if ss == nil {
		return
	}
	q := r.URL.Query()
	v := &hrView{Title: "採用担当者さま向けページ", Tenant: ss.tenant, User: ss.user, CSRF: ss.csrf}
	first, last, err := report.Period(q.Get("from"), q.Get("to"), reportNow())
	if err != nil {
		v.Problem = "期間の指定を確認してください（" + err.Error() + "）。直近1年を表示しています。"
		first, last, _ = report.Period("", "", reportNow())
	}
	rep, err := report.Build(h.svc, ss.tenant, first, last)
	if err == nil {
		v.Balance, err = h.svc.Balance(ss.tenant.ID)
	}
	if err != nil {
		h.log.Error("HR page", "tenant", ss.tenant.ID, "err", err)
		v.Problem = "集計を読み込めませんでした。しばらくしてからもう一度お試しください。"
		h.page(w, http.StatusServiceUnavailable, "hr_home", v)
		return
	}
	v.Report, v.From, v.To = rep, rep.From, rep.To
	v.PerCredit = max(ss.tenant.ReferralsPerCredit, 1)
	v.TowardNext = v.Balance.Referrals % v.PerCredit
	v.Remaining = v.PerCredit - v.TowardNext
	h.page(w, http.StatusOK, "hr_home", v)
}

func (h *hrPages) report(w http.ResponseWriter, r *http.Request) {
	_, ss := h.session(w, r)
	if ss == nil {
		return
	}
	serveReport(w, r, h.svc, ss.tenant, func(w http.ResponseWriter, op string, err error) {
		h.log.Error("HR "+op, "tenant", ss.tenant.ID, "err", err)
		http.Error(w, "集計を読み込めませんでした。", http.StatusServiceUnavailable)
	})
}

func (h *hrPages) linksPage(w http.ResponseWriter, r *http.Request) {
	_, ss := h.session(w, r)
	if ss == nil {
		return
	}
	h.page(w, http.StatusOK, "hr_links", &hrView{Title: "個別リンクの作成", Tenant: ss.tenant, User: ss.user, CSRF: ss.csrf})
}

// makeLinks makes links for the pasted lines: "address" or "address,name"
// (a tab or a comma between, as copied from a spreadsheet).
func (h *hrPages) makeLinks(w http.ResponseWriter, r *http.Request) {
	_, ss := h.session(w, r)
	if ss == nil {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxAPIBody)
	v := &hrView{Title: "個別リンクの作成", Tenant: ss.tenant, User: ss.user, CSRF: ss.csrf, Pasted: r.PostFormValue("list")}
	if !sameToken(ss.csrf, r.PostFormValue("csrf")) {
		v.Problem = "ページの有効期限が切れました。もう一度お試しください。"
		h.page(w, http.StatusForbidden, "hr_links", v)
		return
	}
	var cands []referral.Candidate
	for _, line := range strings.Split(strings.ReplaceAll(v.Pasted, "\r\n", "\n"), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		email, name, _ := strings.Cut(strings.ReplaceAll(line, "\t", ","), ",")
		cands = append(cands, referral.Candidate{Email: strings.TrimSpace(email), Name: strings.TrimSpace(name)})
	}
	if len(cands) == 0 {
		v.Problem = "メールアドレスを1行に1件ずつ入力してください。"
		h.page(w, http.StatusBadRequest, "hr_links", v)
		return
	}
	links, err := h.svc.Mint(r.Context(), ss.tenant.ID, "hr:"+ss.user, "", cands)
	switch {
	case errors.Is(err, referral.ErrBadCandidate):
		v.Problem = "作成できませんでした。" + hrCandidateProblem(err, len(cands))
		h.page(w, http.StatusBadRequest, "hr_links", v)
		return
	case err != nil:
		h.log.Error("HR links", "tenant", ss.tenant.ID, "err", err)
		v.Problem = "作成できませんでした。しばらくしてからもう一度お試しください。"
		h.page(w, http.StatusServiceUnavailable, "hr_links", v)
		return
	}
	var csv strings.Builder
	csv.WriteString("email,name,career_link\n")
	for i, l := range links {
		v.Links = append(v.Links, hrLink{Email: cands[i].Email, Name: cands[i].Name, URL: l.URL})
		fmt.Fprintf(&csv, "%s,%s,%s\n", csvField(cands[i].Email), csvField(cands[i].Name), l.URL)
	}
	v.CSV, v.Pasted = csv.String(), ""
	h.log.Info("HR links made", "tenant", ss.tenant.ID, "account", ss.user, "links", len(links))
	h.page(w, http.StatusOK, "hr_links", v)
}

// hrCandidateProblem says in Japanese which line was refused.
func hrCandidateProblem(err error, n int) string {
	msg := err.Error()
	if n > referral.MaxMint {
		return fmt.Sprintf("一度に作成できるのは%d件までです（%d件入力されています）。", referral.MaxMint, n)
	}
	var line int
	if i := strings.Index(msg, "candidate "); i >= 0 {
		fmt.Sscanf(msg[i+len("candidate "):], "%d", &line)
	}
	if line > 0 {
		return fmt.Sprintf("%d件目のメールアドレスを確認してください。何も作成していません。", line)
	}
	return "入力を確認してください。何も作成していません。"
}

// csvField quotes a CSV field when it needs it, and keeps a spreadsheet
// from reading it as a formula (csvcell).
func csvField(s string) string {
	s = csvcell.Escape(s)
	if strings.ContainsAny(s, ",\"\n\r") {
		return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
	}
	return s
}
