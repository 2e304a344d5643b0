package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/careerrelay/careerrelay/configs"
	"github.com/careerrelay/careerrelay/internal/address"
	"github.com/careerrelay/careerrelay/internal/metrics"
	"github.com/careerrelay/careerrelay/internal/referral"
	"github.com/careerrelay/careerrelay/store"
)

// maxFormBytes bounds a consent POST: two hidden fields and a checkbox.
const maxFormBytes = 8 << 10

// pages serves the candidates' side of the links (docs/reference.md, URL
// paths).
type pages struct {
	cfg  *configs.Config
	refs Referrals
	log  *slog.Logger
	rd   *renderer
	csrf csrfKeys
	now  func() time.Time
	// clicks limits the clicks written to the store.
	clicks *clickLimiter

	regURL     *url.URL          // agency.registration_url, parsed once
	ownHosts   map[string]string // a tenant's own link host -> its id (tenants[].links.base_url)
	formAction string            // CSP form-action: 'self' and the agency's origin
	devAgency  bool              // registration_url is this server's /dev/agency
}

func newPages(cfg *configs.Config, refs Referrals, log *slog.Logger) (*pages, error) {
	if refs == nil {
		return nil, errors.New("web: no referral service")
	}
	rd, err := newRenderer(cfg)
	if err != nil {
		return nil, err
	}
	keys, err := newCSRFKeys(cfg.Links.Keys)
	if err != nil {
		return nil, err
	}
	reg, err := url.Parse(cfg.Agency.RegistrationURL)
	if err != nil || !reg.IsAbs() || reg.Host == "" {
		return nil, fmt.Errorf("web: agency.registration_url %q is not an absolute URL", cfg.Agency.RegistrationURL)
	}
	base, err := url.Parse(cfg.Links.BaseURL)
	if err != nil {
		return nil, fmt.Errorf("web: links.base_url: %w", err)
	}
	agencyOrigin := reg.Scheme + "://" + reg.Host
	own := map[string]string{}
	for _, t := range cfg.Tenants {
		if t.Links.BaseURL == "" {
			continue
		}
		if u, err := url.Parse(t.Links.BaseURL); err == nil {
			own[strings.ToLower(u.Hostname())] = t.ID
		}
	}
	return &pages{
		ownHosts:   own,
		cfg:        cfg,
		refs:       refs,
		log:        log,
		rd:         rd,
		csrf:       keys,
		now:        time.Now,
		clicks:     newClickLimiter(),
		regURL:     reg,
		formAction: "'self' " + agencyOrigin,
		devAgency: agencyOrigin == base.Scheme+"://"+base.Host &&
			reg.Path == strings.TrimRight(base.Path, "/")+"/dev/agency",
	}, nil
}

func (p *pages) register(mux *http.ServeMux) {
	mux.HandleFunc("GET /c/{token}", p.link) // and HEAD
	mux.HandleFunc("POST /c/{token}", p.consent)
	mux.HandleFunc("POST /c/{token}/withdraw", p.withdraw)
	mux.HandleFunc("POST /c/{token}/rating", p.rate)
	mux.HandleFunc("GET /t/{tenant}", p.generic)
	mux.HandleFunc("GET /static/style.css", p.style)
	mux.HandleFunc("GET /static/tenant/{file}", p.tenantStyle)
	if p.devAgency {
		mux.HandleFunc("GET /dev/agency", p.devAgencyPage)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { p.notFound(w, r) })
}

// link is GET and HEAD /c/<token>: the landing page, and a click; after
// consent, the page of the application (applied.html) and no click. HEAD
// answers like GET without a body and records nothing: link scanners send
// HEADs, and a HEAD must never change state. A GET over the click limits
// (limit.go) is counted in the metric but not recorded.
func (p *pages) link(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	l, ok := p.resolve(w, r, token)
	if !ok {
		return
	}
	p.headers(w, true)
	if r.Method == http.MethodHead {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		return
	}
	now := p.now()
	if ref := l.Referral; ref != nil {
		// After consent the link shows where the application stands; a
		// view of it is no click on the invitation (the funnel counts the
		// consent's own view).
		p.applied(w, r, http.StatusOK, l, ref, token, false, now)
		return
	}
	client := clientAddr(r, p.cfg.HTTP.Proxies)
	class := clickClass(r, l.Send.Sent, now, p.cfg.Links.BotWindow, inAny(client, p.cfg.Links.Scanners))
	if !p.clicks.allow(l.Send.ID, class, client.String(), now) {
		// Over a limit: the page as always, the metric counts the view,
		// the store is not written.
		metrics.LinkClicks.WithLabelValues(l.Send.Tenant, class).Inc()
		p.log.Debug("link click not recorded: over the click limit", "tenant", l.Tenant.ID, "send", l.Send.ID, "class", class)
	} else if err := p.refs.RecordClick(r.Context(), l, class); err != nil {
		// The candidate still gets the page; only the count suffers.
		p.log.Warn("recording a click", "tenant", l.Tenant.ID, "send", l.Send.ID, "class", class, "err", err)
	} else {
		p.log.Debug("link click", "tenant", l.Tenant.ID, "send", l.Send.ID, "class", class)
	}
	p.landing(w, r, http.StatusOK, l, token, "", now)
}

// landing renders the landing page with a fresh form token.
func (p *pages) landing(w http.ResponseWriter, r *http.Request, status int, l *referral.Link, token, problem string, now time.Time) {
	v := p.agencyView(&view{
		Title:          "無料キャリア相談のご案内",
		Tenant:         l.Tenant,
		Name:           l.Send.Name,
		Address:        maskAddress(l.Send.Rcpt),
		CSRF:           p.csrf.mint(token, now),
		ConsentVersion: p.rd.consentVersion,
		Problem:        problem,
	})
	p.write(w, r, status, tmplLanding, v)
}

// consent is POST /c/<token>: with the box ticked and a good form token the
// referral is recorded and the answer is a 303 to the link itself, which
// then shows the completion page with the way on to the agency's
// registration URL (the configured one, with ref=<referral id> added).
func (p *pages) consent(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	l, ok := p.resolve(w, r, token)
	if !ok {
		return
	}
	p.headers(w, true)
	now := p.now()
	switch p.readForm(w, r, token, now) {
	case formUnreadable:
		p.errorPage(w, r, http.StatusBadRequest, "お申し込みを受け付けられませんでした",
			[]string{"送信された内容を読み取れませんでした。お手数ですが、もう一度ページを開いてからお申し込みください。"}, p.linkPath(token))
		return
	case formForged:
		p.log.Info("consent refused: bad form token", "tenant", l.Tenant.ID, "send", l.Send.ID, "sec_fetch_site", r.Header.Get("Sec-Fetch-Site"))
		p.errorPage(w, r, http.StatusForbidden, "お申し込みを受け付けられませんでした",
			[]string{"ページを開いてから時間が経ったか、正しくない方法で送信されたため、お申し込みを処理できませんでした。",
				"お手数ですが、もう一度ページを開いてからお申し込みください。"}, p.linkPath(token))
		return
	}
	client := clientAddr(r, p.cfg.HTTP.Proxies)
	if isScanner(r.UserAgent()) || inAny(client, p.cfg.Links.Scanners) {
		// A consent counts only from a person's browser: a mail scanner, a
		// headless browser or an HTTP library posting the form is a script
		// (a company that scripted consents to its own mailboxes would get
		// hires for nothing). Time since the send never blocks a person.
		p.log.Warn("consent refused: the client is a script or scanner by its User-Agent or network", "tenant", l.Tenant.ID, "send", l.Send.ID)
		p.errorPage(w, r, http.StatusForbidden, "ブラウザからお申し込みください", []string{
			"このお申し込みは、自動で動くプログラムやセキュリティ製品から送信されたため、受け付けられませんでした。",
			"お手数ですが、ふだんお使いのブラウザ（Chrome、Safari、Edge など）でメールのリンクを開き直してから、お申し込みください。",
		}, p.linkPath(token))
		return
	}
	if r.PostForm.Get("consent") != "on" {
		p.landing(w, r, http.StatusUnprocessableEntity, l, token,
			"お申し込みには、同意事項をご確認のうえ「同意します」にチェックを入れてください。", now)
		return
	}
	if r.PostForm.Get("consent_version") != p.rd.consentVersion {
		// The wording changed while the page was open: the candidate agrees
		// to the text they have read, so show the current one first.
		p.landing(w, r, http.StatusUnprocessableEntity, l, token,
			"同意事項の内容が更新されました。お手数ですが、最新の内容をご確認のうえ、あらためてお申し込みください。", now)
		return
	}
	ref, err := p.refs.ReferFrom(r.Context(), l, p.rd.consentVersion, client)
	if errors.Is(err, store.ErrCommitUncertain) || errors.Is(err, store.ErrFailed) {
		// The referral (and its credit) may be recorded or not: the disk
		// failed to confirm it (see store.ErrCommitUncertain), or an
		// earlier commit did and the store refuses everything until a
		// restart (store.ErrFailed: this may be the retry of that very
		// consent). Saying it
		// failed could hide a recorded referral, so the page says what is
		// known. Trying again is safe: a candidate is referred once per
		// tenant, and a retry of a recorded referral is answered with it.
		p.log.Error("recording a referral: unknown whether it is stored", "tenant", l.Tenant.ID, "send", l.Send.ID, "err", err)
		p.errorPage(w, r, http.StatusInternalServerError, "登録を確認できませんでした", []string{
			"システムの都合により、お申し込みが登録されたかどうかを確認できませんでした。",
			"しばらく時間をおいてから、もう一度お申し込みください。同じお申し込みが二重に登録されることはありません。",
		}, "")
		return
	}
	if err != nil {
		// Certainly not recorded (the store's error does not wrap
		// ErrCommitUncertain): the page says so.
		p.log.Error("recording a referral", "tenant", l.Tenant.ID, "send", l.Send.ID, "err", err)
		p.failure(w, r, err)
		return
	}
	p.log.Info("referral", "tenant", l.Tenant.ID, "send", l.Send.ID, "referral", ref.ID,
		"seq", ref.Seq, "candidate", address.LogHash(l.Send.Rcpt))
	// Post/redirect/get: the link's own page now shows the completion
	// (and, on a reload or a later visit, where the application stands).
	// The target is this server's path of the verified token, never a
	// URL from the request.
	w.Header().Set("Location", p.linkPath(token))
	w.WriteHeader(http.StatusSeeOther)
}

// agencyView fills in what the pages show of the agency.
func (p *pages) agencyView(v *view) *view {
	a := &p.cfg.Agency
	v.Agency, v.AgencyLogo, v.AgencyDescription = a.Name, a.LogoURL, a.Description
	v.LicenseNumber, v.PrivacyURL, v.Contact, v.NextSteps = a.LicenseNumber, a.PrivacyPolicyURL, a.Contact, a.NextSteps
	return v
}

// What readForm found of a form posted to a link's page.
const (
	formOK         = iota
	formUnreadable // not a form within maxFormBytes
	formForged     // no form token of this link's page, or posted from another site
)

// readForm reads the form posted to the page of token (at most
// maxFormBytes) and checks that it came from that page: its form token
// (csrf) is one the page minted for this link and is not too old, and
// the browser does not say it was posted from another site. Consent,
// withdrawal and rating all take their forms this way.
func (p *pages) readForm(w http.ResponseWriter, r *http.Request, token string, now time.Time) int {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		return formUnreadable
	}
	if site := r.Header.Get("Sec-Fetch-Site"); site == "cross-site" || site == "same-site" ||
		p.csrf.check(r.PostForm.Get("csrf"), token, now) != nil {
		return formForged
	}
	return formOK
}

// registrationURL is agency.registration_url with ref=<id> added to its
// query, the rest of the query kept as configured (a ref there is
// replaced). Nothing of the request goes into it.
func (p *pages) registrationURL(refID string) string {
	u := *p.regURL
	var q []string
	for _, kv := range strings.Split(u.RawQuery, "&") {
		if kv == "" {
			continue
		}
		k, _, _ := strings.Cut(kv, "=")
		if uk, err := url.QueryUnescape(k); err == nil && uk == "ref" {
			continue
		}
		q = append(q, kv)
	}
	u.RawQuery = strings.Join(append(q, "ref="+url.QueryEscape(refID)), "&")
	u.ForceQuery = false
	return u.String()
}

// resolve returns the link of token, or answers the request itself when
// the token does not resolve: the expiry page (which names the tenant when
// the link does), 404 for a bad link or one of a tenant no longer
// configured, 500 for a failure. Nothing is recorded.
func (p *pages) resolve(w http.ResponseWriter, r *http.Request, token string) (*referral.Link, bool) {
	l, err := p.refs.Resolve(token)
	if err == nil && (l == nil || l.Send == nil || l.Tenant == nil) {
		err = errors.New("web: the service resolved an incomplete link")
	}
	if l != nil && l.Tenant != nil && !p.onItsHost(r, l.Tenant.ID) {
		p.log.Info("link of one tenant on another tenant's host: 404", "tenant", l.Tenant.ID)
		p.notFound(w, r)
		return nil, false
	}
	if err == nil {
		return l, true
	}
	switch {
	case errors.Is(err, referral.ErrExpired):
		p.headers(w, true)
		v := &view{Title: "リンクの有効期限切れ", Agency: p.cfg.Agency.Name, TTLDays: int(p.cfg.Links.TTL / (24 * time.Hour))}
		if l != nil && l.Tenant != nil {
			v.Tenant = l.Tenant
			v.GenericURL = p.genericURL(l.Tenant.ID)
		}
		p.write(w, r, http.StatusGone, tmplExpired, v)
	case errors.Is(err, referral.ErrInvalidToken):
		p.notFound(w, r)
	case errors.Is(err, referral.ErrUnknownTenant):
		p.log.Info("link of a tenant no longer configured", "err", err)
		p.notFound(w, r)
	case errors.Is(err, store.ErrUnavailable):
		p.log.Error("resolving a link: the shared store is unreachable", "err", err)
		p.unavailable(w, r)
	default:
		p.log.Error("resolving a link", "err", err)
		p.serverError(w, r)
	}
	return nil, false
}

// onItsHost tells whether a page of tenant may be served on the request's
// host: any host but another tenant's own link host
// (tenants[].links.base_url). So a company's host never shows another
// company's link; links.base_url's host keeps serving the links written
// before a tenant had its own, and a host the relay does not know (a
// proxy that does not pass Host on) is not judged.
func (p *pages) onItsHost(r *http.Request, tenant string) bool {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	owner, own := p.ownHosts[strings.ToLower(strings.TrimSuffix(host, "."))]
	return !own || owner == tenant
}

// genericURL is the tenant's generic link, <base_url>/t/<tenant-id>.
func (p *pages) genericURL(tenant string) string {
	return strings.TrimRight(p.cfg.LinkBase(p.cfg.TenantByID(tenant)), "/") + "/t/" + url.PathEscape(tenant)
}

func (p *pages) linkPath(token string) string { return p.rd.prefix + "/c/" + url.PathEscape(token) }

// generic is GET /t/<tenant-id>: the tenant's page without personal data;
// it links to the agency and records nothing.
func (p *pages) generic(w http.ResponseWriter, r *http.Request) {
	t := p.cfg.TenantByID(r.PathValue("tenant"))
	if t == nil || !p.onItsHost(r, t.ID) {
		p.notFound(w, r)
		return
	}
	p.headers(w, false)
	p.write(w, r, http.StatusOK, tmplGeneric, &view{
		Title:           "無料キャリア相談のご案内",
		Tenant:          t,
		Agency:          p.cfg.Agency.Name,
		RegistrationURL: p.cfg.Agency.RegistrationURL,
	})
}

// devAgencyPage stands in for the agency when registration_url points back
// at this server (configs/dev.yaml), so `make run` shows the whole way.
func (p *pages) devAgencyPage(w http.ResponseWriter, r *http.Request) {
	p.headers(w, true)
	p.write(w, r, http.StatusOK, tmplDevAgency, &view{Title: "デモ用の登録ページ", Agency: p.cfg.Agency.Name, Ref: r.URL.Query().Get("ref")})
}

func (p *pages) notFound(w http.ResponseWriter, r *http.Request) {
	p.errorPage(w, r, http.StatusNotFound, "ページが見つかりません", []string{
		"お探しのページは見つかりませんでした。メールに記載されたリンクが、途中で改行されるなどして切れている可能性があります。",
		"お手数ですが、リンク全体をコピーしてブラウザのアドレス欄に貼り付け、もう一度お試しください。",
	}, "")
}

// failure answers a failure of the bookkeeping: 503 while the shared
// store is unreachable, else 500.
func (p *pages) failure(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, store.ErrUnavailable) {
		p.unavailable(w, r)
		return
	}
	p.serverError(w, r)
}

// unavailable is the 503 page while the shared store cannot be reached:
// nothing was recorded, and the same link works again later.
func (p *pages) unavailable(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Retry-After", "60")
	p.errorPage(w, r, http.StatusServiceUnavailable, "ただいまご利用いただけません", []string{
		"申し訳ございません。システムの都合により、ただいまこのページを表示できません。",
		"お手数ですが、しばらくしてから再度お試しください。メールのリンクは、そのままお使いいただけます。",
	}, "")
}

func (p *pages) serverError(w http.ResponseWriter, r *http.Request) {
	p.errorPage(w, r, http.StatusInternalServerError, "ただいま処理できません", []string{
		"システムの都合により、お手続きを完了できませんでした。申し訳ございませんが、しばらく時間をおいてから再度お試しください。",
	}, "")
}

func (p *pages) errorPage(w http.ResponseWriter, r *http.Request, status int, heading string, msgs []string, retry string) {
	p.headers(w, true)
	p.write(w, r, status, tmplError, &view{Title: heading, Agency: p.cfg.Agency.Name, Heading: heading, Messages: msgs, Retry: retry})
}

// headers sets the security headers; personal pages are never stored by
// a browser or a proxy, the generic page may be cached briefly.
func (p *pages) headers(w http.ResponseWriter, personal bool) {
	securityHeaders(w.Header(), p.formAction)
	if personal {
		w.Header().Set("Cache-Control", "no-store")
	} else {
		w.Header().Set("Cache-Control", "public, max-age=300")
	}
}

func (p *pages) write(w http.ResponseWriter, r *http.Request, status int, name string, v *view) {
	if r.Method == http.MethodHead {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(status)
		return
	}
	if err := p.rd.render(w, status, name, v); err != nil && !errors.Is(err, context.Canceled) {
		p.log.Warn("writing a page", "page", name, "err", err)
	}
}

// style serves the embedded stylesheet; its URL carries its hash, so it
// can be cached for long.
func (p *pages) style(w http.ResponseWriter, r *http.Request) {
	p.static(w, p.rd.styleCSS)
}

// tenantStyle serves /static/tenant/<id>.css, the tenant's accent colour.
func (p *pages) tenantStyle(w http.ResponseWriter, r *http.Request) {
	id, ok := strings.CutSuffix(r.PathValue("file"), ".css")
	css, known := p.rd.tenantCSS[id]
	if !ok || !known {
		p.notFound(w, r)
		return
	}
	p.static(w, css)
}

func (p *pages) static(w http.ResponseWriter, css []byte) {
	h := w.Header()
	h.Set("Content-Type", "text/css; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(css)))
	h.Set("Cache-Control", "public, max-age=86400")
	h.Set("X-Content-Type-Options", "nosniff")
	w.Write(css)
}
