package demo

import (
	"bufio"
	"context"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/careerrelay/careerrelay/internal/referral"
)

// browserUA is the User-Agent the demo's candidates send: a browser's.
const browserUA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"

// scannerUA is what Microsoft Defender's Safe Links sends when it checks a
// link on delivery.
const scannerUA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) SafeLinks/1.0"

var (
	csrfRE    = regexp.MustCompile(`name="csrf" value="([^"]*)"`)
	versionRE = regexp.MustCompile(`name="consent_version" value="([^"]*)"`)
)

// client never follows redirects: the demo shows the 303 to the agency.
var client = &http.Client{
	Timeout:       10 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// consent plays the candidates: a link scanner first, then each of the ten
// opens their link (the landing page, a click) and consents (the form with
// its CSRF token and the box ticked), ending on the agency's page.
func (t *tour) consent(ctx context.Context) error {
	t.section(5, "同意", "Ten candidates open their link and consent")
	first := t.links[candidates[0].addr]
	if r, err := fetch(ctx, http.MethodHead, first, scannerUA, nil); err != nil || r.code != http.StatusOK {
		return fmt.Errorf("HEAD %s: %d %v", first, r.code, err)
	}
	if r, err := fetch(ctx, http.MethodGet, first, scannerUA, nil); err != nil || r.code != http.StatusOK {
		return fmt.Errorf("scanner GET %s: %d %v", first, r.code, err)
	}
	t.printf("a link scanner checks %s's link on delivery: HEAD (nothing recorded), GET as SafeLinks (a bot click); no referral\n\n", candidates[0].name)

	var lastLocation, firstLocation string
	for i, p := range candidates[:10] {
		link := t.links[p.addr]
		if link == "" {
			return fmt.Errorf("no personal link was delivered to %s", p.addr)
		}
		loc, err := consentOnce(ctx, link)
		if err != nil {
			return fmt.Errorf("%s: %w", p.name, err)
		}
		t.printf("%2d  %s GET /c/%s… 200 (landing page)  POST consent → 303 → 受付完了 → %s\n",
			i+1, pad(p.name, 11), tokenPrefix(link), strings.TrimPrefix(loc, t.base))
		lastLocation = loc
		if i == 0 {
			firstLocation = loc
		}
	}
	again, err := fetch(ctx, http.MethodGet, t.links[candidates[0].addr], browserUA, nil)
	firstRef := ""
	if u, perr := url.Parse(firstLocation); perr == nil {
		firstRef = u.Query().Get("ref")
	}
	if err != nil || again.code != http.StatusOK || !strings.Contains(again.body, "お申し込みを受け付けました") ||
		firstRef == "" || !strings.Contains(again.body, "ref="+firstRef) {
		return fmt.Errorf("%s opens the link again: %d %v, want the page of the application received with ref=%s", candidates[0].name, again.code, err, firstRef)
	}
	t.printf("\n%s opens the link again: 200, the application is received (ref=%s), with the way on to the agency\n"+
		"and a withdrawal button; consenting again gives the same referral (a candidate counts once)\n", candidates[0].name, firstRef)

	r, err := fetch(ctx, http.MethodGet, lastLocation, browserUA, nil)
	if err != nil || r.code != http.StatusOK {
		return fmt.Errorf("the agency page %s: %d %v", lastLocation, r.code, err)
	}
	ref := ""
	if u, err := url.Parse(lastLocation); err == nil {
		ref = u.Query().Get("ref")
	}
	if ref == "" || !strings.Contains(r.body, html.EscapeString(ref)) {
		return fmt.Errorf("the agency page %s does not show ref %q", lastLocation, ref)
	}
	t.printf("the candidate lands on the agency's registration page (here the relay's stand-in /dev/agency), ref=%s\n", ref)

	got := map[string]bool{}
	for len(got) < 10 {
		select {
		case h := <-t.agency.hooks:
			if !h.signed {
				return fmt.Errorf("webhook for %s: bad %s", h.referralID, referral.SignatureHeader)
			}
			got[h.referralID] = true
		case <-ctx.Done():
			return fmt.Errorf("waiting for the agency webhooks (%d of 10 arrived): %w", len(got), ctx.Err())
		}
	}
	t.printf("agency webhook: %d referrals POSTed to %s, each signed (%s: sha256=…)\n", len(got), t.cfg.Agency.Webhook.URL, referral.SignatureHeader)
	return nil
}

// consentOnce opens link as a browser and submits the consent form; it
// returns where the relay sends the candidate.
func consentOnce(ctx context.Context, link string) (string, error) {
	page, err := fetch(ctx, http.MethodGet, link, browserUA, nil)
	if err != nil || page.code != http.StatusOK {
		return "", fmt.Errorf("GET landing page: %d %v", page.code, err)
	}
	csrf, version := csrfRE.FindStringSubmatch(page.body), versionRE.FindStringSubmatch(page.body)
	if csrf == nil || version == nil {
		return "", fmt.Errorf("the landing page has no consent form")
	}
	form := url.Values{
		"csrf":            {html.UnescapeString(csrf[1])},
		"consent_version": {html.UnescapeString(version[1])},
		"consent":         {"on"},
	}
	r, err := fetch(ctx, http.MethodPost, link, browserUA, form)
	if err != nil {
		return "", fmt.Errorf("POST consent: %w", err)
	}
	if r.code != http.StatusSeeOther || r.location == "" {
		return "", fmt.Errorf("POST consent: %d, want 303 with a Location", r.code)
	}
	// The 303 leads back to the link, now the completion page, whose
	// button goes on to the agency with the referral's ref=.
	loc, err := url.Parse(link)
	if err == nil {
		loc, err = loc.Parse(r.location)
	}
	if err != nil {
		return "", fmt.Errorf("POST consent: Location %q: %w", r.location, err)
	}
	done, err := fetch(ctx, http.MethodGet, loc.String(), browserUA, nil)
	if err != nil || done.code != http.StatusOK {
		return "", fmt.Errorf("the completion page: %d %v", done.code, err)
	}
	m := agencyButtonRE.FindStringSubmatch(done.body)
	if m == nil || !strings.Contains(done.body, "お申し込みを受け付けました") {
		return "", fmt.Errorf("the page after consent is not the completion page with the way on to the agency")
	}
	return html.UnescapeString(m[1]), nil
}

// agencyButtonRE finds the completion page's button to the agency.
var agencyButtonRE = regexp.MustCompile(`<a class="button" href="([^"]+)"`)

// reply is what fetch got.
type reply struct {
	code     int
	body     string
	location string
}

// fetch makes one request; for a POST, form is the body.
func fetch(ctx context.Context, method, target, ua string, form url.Values) (reply, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return reply{}, err
	}
	req.Header.Set("User-Agent", ua)
	req.Header.Set("Accept-Language", "ja,en;q=0.8")
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		u, _ := url.Parse(target)
		req.Header.Set("Origin", u.Scheme+"://"+u.Host)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
	}
	resp, err := client.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return reply{code: resp.StatusCode, body: string(b), location: resp.Header.Get("Location")}, err
}

func tokenPrefix(link string) string {
	_, tok, _ := strings.Cut(link, "/c/")
	return prefix(tok, 9)
}

// prefix is the first n bytes of an ASCII s.
func prefix(s string, n int) string { return s[:min(n, len(s))] }

// ledger prints the tenant's balance, the verified hash chain and its
// entries, through the admin API as `careerrelay ledger` does.
func (t *tour) ledger(ctx context.Context) error {
	t.section(6, "台帳", "The ledger: 10 referrals earn 1 credit")
	var b referral.Balance
	if err := t.admin(ctx, "/api/balance?tenant="+tenantID, &b); err != nil {
		return err
	}
	t.printf("%s %s: %d referrals, %d credit granted, %d redeemed, %d credit available\n",
		tenantID, tenantName, b.Referrals, b.Granted, b.Redeemed, b.Available)
	t.printf("  (%sは%d名の候補者を紹介し、無料の採用1名分のクレジットを得ました)\n", tenantName, b.Referrals)
	var v struct {
		OK      bool   `json:"ok"`
		Entries int    `json:"entries"`
		Head    string `json:"head"`
		Error   string `json:"error"`
	}
	if err := t.admin(ctx, "/api/ledger/verify", &v); err != nil {
		return err
	}
	if !v.OK {
		return fmt.Errorf("ledger verify: %s", v.Error)
	}
	t.printf("ledger verify: OK, %d entries, hash chain head %s…\n", v.Entries, prefix(v.Head, 16))
	var entries []referral.Entry
	if err := t.admin(ctx, "/api/ledger/export?format=json&tenant="+tenantID, &entries); err != nil {
		return err
	}
	for _, e := range entries {
		prev := "(none)   "
		if e.Prev != "" {
			prev = prefix(e.Prev, 8) + "…"
		}
		t.printf("  #%-3d %-8s %-26s %+d  prev %s hash %s…\n", e.Seq, e.Kind, e.ReferralID, e.Amount, prev, prefix(e.Hash, 8))
	}
	if b.Referrals != 10 || b.Granted != 1 || b.Available != 1 {
		return fmt.Errorf("balance %+v, want 10 referrals and 1 credit", b)
	}
	return nil
}

// metrics prints the careerrelay_* series of /metrics that are not zero
// (histogram buckets left out).
func (t *tour) metrics(ctx context.Context) error {
	t.section(7, "メトリクス", "Prometheus metrics: the careerrelay_* series that are not 0")
	r, err := fetch(ctx, http.MethodGet, t.base+"/metrics", "careerrelay-demo", nil)
	if err != nil || r.code != http.StatusOK {
		return fmt.Errorf("GET /metrics: %d %v", r.code, err)
	}
	var lines []string
	sc := bufio.NewScanner(strings.NewReader(r.body))
	for sc.Scan() {
		line := sc.Text()
		name, _, _ := strings.Cut(line, "{")
		if !strings.HasPrefix(line, "careerrelay_") || strings.HasSuffix(name, "_bucket") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if v, err := strconv.ParseFloat(line[i+1:], 64); err != nil || v == 0 {
			continue
		}
		lines = append(lines, line)
	}
	sort.Strings(lines)
	for _, l := range lines {
		t.printf("%s\n", l)
	}
	t.printf("(all series: curl -s %s/metrics | grep careerrelay_)\n", t.base)
	return nil
}
