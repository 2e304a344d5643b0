package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/careerrelay/careerrelay/configs"
)

//go:embed templates/*.html static/*.css
var assets embed.FS

// The page templates: each is layout.html with its own "main" (and the
// consent text, which only the landing page shows).
const (
	tmplLanding   = "landing.html"
	tmplGeneric   = "generic.html"
	tmplExpired   = "expired.html"
	tmplError     = "error.html"
	tmplDevAgency = "devagency.html"
	tmplApplied   = "applied.html"
)

// defaultAccent is the accent of a tenant without a (valid) color.
const defaultAccent = "#1f5fa8"

var hexColorRE = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)

// view is the data of every page. Everything in it is escaped by
// html/template; URLs come from the configuration, never from the request.
type view struct {
	Title       string
	Tenant      *configs.Tenant
	Agency      string
	Style       string // the stylesheet's path
	TenantStyle string // the tenant's accent stylesheet, "" without a tenant

	// Landing page.
	Name           string // the candidate's display name
	Address        string // the candidate's address, partly masked
	CSRF           string
	ConsentVersion string
	Problem        string // why the last POST did not go through

	// Generic and expiry pages.
	GenericURL      string
	RegistrationURL string
	TTLDays         int

	// Error pages.
	Heading  string
	Messages []string
	Retry    string // path that reopens the link page

	// Dev agency stand-in.
	Ref string

	// The agency, as the landing and completion pages show it.
	AgencyLogo        string
	AgencyDescription string
	LicenseNumber     string
	PrivacyURL        string
	Contact           string
	NextSteps         []string

	// After consent (applied.html).
	AppliedAt      string // when the candidate consented, Japan time
	Completed      bool   // consented moments ago: the completion page
	WithdrawnAt    string // when they withdrew, "" when they have not
	JustWithdrawn  bool   // the page answers the withdrawal itself
	WithdrawAction string // the withdrawal form's path
	RatingAction   string // the rating form's path; "" when not offered
	Rated          bool   // the candidate has rated
}

// renderer holds the parsed templates and the derived static files.
type renderer struct {
	pages          map[string]*template.Template
	consentVersion string
	prefix         string            // base_url's path, "" or "/careers"
	style          string            // "<prefix>/static/style.css?v=<hash>"
	styleCSS       []byte            //
	tenantCSS      map[string][]byte // tenant id -> ":root{--accent:...}"
	tenantStyle    map[string]string // tenant id -> its stylesheet path
}

func newRenderer(cfg *configs.Config) (*renderer, error) {
	base, err := url.Parse(cfg.Links.BaseURL)
	if err != nil {
		return nil, fmt.Errorf("web: links.base_url: %w", err)
	}
	rd := &renderer{
		pages:       map[string]*template.Template{},
		prefix:      strings.TrimRight(base.Path, "/"),
		tenantCSS:   map[string][]byte{},
		tenantStyle: map[string]string{},
	}
	layout, err := template.ParseFS(assets, "templates/layout.html", "templates/consent.html")
	if err != nil {
		return nil, fmt.Errorf("web: templates: %w", err)
	}
	for _, name := range []string{tmplLanding, tmplGeneric, tmplExpired, tmplError, tmplDevAgency, tmplApplied} {
		t, err := template.Must(layout.Clone()).ParseFS(assets, "templates/"+name)
		if err != nil {
			return nil, fmt.Errorf("web: templates: %w", err)
		}
		rd.pages[name] = t
	}
	consent, err := fs.ReadFile(assets, "templates/consent.html")
	if err != nil {
		return nil, err
	}
	rd.consentVersion = "ja-" + shortHash(consent)
	rd.styleCSS, err = fs.ReadFile(assets, "static/style.css")
	if err != nil {
		return nil, err
	}
	rd.style = rd.prefix + "/static/style.css?v=" + shortHash(rd.styleCSS)
	for _, t := range cfg.Tenants {
		css := tenantCSS(t.Color)
		rd.tenantCSS[t.ID] = css
		rd.tenantStyle[t.ID] = rd.prefix + "/static/tenant/" + url.PathEscape(t.ID) + ".css?v=" + shortHash(css)
	}
	return rd, nil
}

func shortHash(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:6])
}

// tenantCSS is the accent stylesheet of a tenant: its colour when it is a
// valid #rrggbb (configs validates it too; this is the last line), and a
// text colour on it that stays readable.
func tenantCSS(color string) []byte {
	if !hexColorRE.MatchString(color) {
		color = defaultAccent
	}
	l := luminance(color)
	on := "#ffffff"
	if l > 0.45 {
		on = "#1d1d1f"
	}
	// As text on white (headings, links) the accent needs a contrast of
	// 4.5:1 (WCAG AA): (1 + 0.05) / (l + 0.05) >= 4.5, so l <= 0.183;
	// a lighter accent stays for borders and buttons, and text is dark.
	text := strings.ToLower(color)
	if l > 0.183 {
		text = "#1d1d1f"
	}
	return []byte(":root{--accent:" + strings.ToLower(color) + ";--on-accent:" + on + ";--accent-text:" + text + "}\n")
}

// luminance is the relative luminance of #rrggbb (WCAG 2), 0 to 1.
func luminance(color string) float64 {
	var l float64
	for i, w := range []float64{0.2126, 0.7152, 0.0722} {
		v, _ := strconv.ParseUint(color[1+2*i:3+2*i], 16, 8)
		c := float64(v) / 255
		if c <= 0.03928 {
			c /= 12.92
		} else {
			c = math.Pow((c+0.055)/1.055, 2.4)
		}
		l += w * c
	}
	return l
}

// securityHeaders are sent with every page. The CSP allows our own
// stylesheets, images over https (the tenant's logo), forms that post to
// us and are redirected to the agency, and nothing else: no script at all.
func securityHeaders(h http.Header, formAction string) {
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src https: 'self'; form-action "+
		formAction+"; frame-ancestors 'none'; base-uri 'none'")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
}

// render writes page name with status. The page is rendered into a buffer
// first, so a template failure is a clean 500 rather than half a page.
func (rd *renderer) render(w http.ResponseWriter, status int, name string, v *view) error {
	v.Style = rd.style
	if v.Tenant != nil {
		v.TenantStyle = rd.tenantStyle[v.Tenant.ID]
	}
	var buf bytes.Buffer
	if err := rd.pages[name].ExecuteTemplate(&buf, "layout", v); err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return fmt.Errorf("web: render %s: %w", name, err)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, err := w.Write(buf.Bytes())
	return err
}

// maskAddress shows enough of an address for its owner to recognise it:
// the first character of the local part and the domain.
func maskAddress(addr string) string {
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 {
		return ""
	}
	local, domain := addr[:at], addr[at+1:]
	first := []rune(local)[0]
	return string(first) + "•••@" + domain
}
