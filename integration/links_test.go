package integration

import (
	"bytes"
	binenc "encoding/binary"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/careerrelay/careerrelay/internal/testlib"
	"github.com/careerrelay/careerrelay/store"
	bolt "go.etcd.io/bbolt"
)

const agencyURL = "https://agency.example/register"

// withLocalLinks points the links at the relay's own HTTP listener (through
// a forwarder that NewRelay starts, since the listener's port is known only
// once the relay runs) and turns the bot window off, so a test's immediate
// click counts as human.
func withLocalLinks(dir string, c *Config) {
	c.localLinks = true
	c.Links.BotWindow = "0s"
	c.Agency.RegistrationURL = agencyURL
}

// noRedirects is an HTTP client that shows redirects instead of following.
var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// relayLinks sends one tagged mail per candidate through r and returns each
// candidate's personal link as delivered to the sink.
func relayLinks(t *testing.T, r *Relay, sink *testlib.Sink, candidates ...string) map[string]string {
	t.Helper()
	before := sink.Count()
	for _, c := range candidates {
		data, _ := newMessage(tenantSender, c, "選考結果のご連絡", "ご応募ありがとうございました。\nキャリア相談: [[career-relay]]\n")
		if _, err := sendMail(r.SMTPAddr, SendOptions{}, tenantSender, []string{c}, data); err != nil {
			t.Fatalf("send to %s: %v", c, err)
		}
	}
	re := regexp.MustCompile(regexp.QuoteMeta(r.Config.Links.BaseURL) + `/c/[A-Za-z0-9._-]+`)
	links := map[string]string{}
	for _, m := range sink.WaitForCount(t, before+len(candidates), deliveryTimeout)[before:] {
		link := re.FindString(string(m.Data))
		if link == "" {
			t.Fatalf("no personal link in the mail to %v:\n%s", m.Rcpts, m.Data)
		}
		links[m.Rcpts[0]] = link
	}
	return links
}

func get(t *testing.T, method, link string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, link, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := noRedirects.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, link, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
var versionRE = regexp.MustCompile(`name="consent_version" value="([^"]+)"`)

// consent opens the landing page and posts its form, ticked or not.
func consent(t *testing.T, link string, ticked bool) *http.Response {
	t.Helper()
	_, page := get(t, http.MethodGet, link, map[string]string{"User-Agent": "Mozilla/5.0 (iPhone)"})
	csrf, version := csrfRE.FindStringSubmatch(page), versionRE.FindStringSubmatch(page)
	if csrf == nil || version == nil {
		t.Fatalf("landing page has no consent form:\n%s", page)
	}
	form := url.Values{"csrf": {csrf[1]}, "consent_version": {version[1]}}
	if ticked {
		form.Set("consent", "on")
	}
	req, _ := http.NewRequest(http.MethodPost, link, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", personUA) // a person's browser: scripts' consents do not count
	resp, err := noRedirects.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func balance(t *testing.T, r *Relay) (referrals, granted int) {
	t.Helper()
	out, code := runBinary(t, "ledger", "balance", "-config", r.ConfigPath, "-ready-file", r.ReadyPath, "-tenant", tenantID)
	if code != 0 {
		t.Fatalf("ledger balance: exit %d: %s", code, out)
	}
	var b struct{ Referrals, Granted int }
	if err := json.Unmarshal([]byte(out), &b); err != nil {
		t.Fatalf("ledger balance output %q: %v", out, err)
	}
	return b.Referrals, b.Granted
}

// TestLinkLifecycle is the link pages through the running binary: a relayed mail's
// link shows the tenant's page; HEAD and GET add no referral; a POST
// without consent adds none; with consent it answers 303 to the agency with
// ref=; a token with one byte changed is 404 and stores nothing.
func TestLinkLifecycle(t *testing.T) {
	t.Parallel()
	sink := newSink(t, nil)
	r := StartRelay(t, sink.Addr, withLocalLinks)
	link := relayLinks(t, r, sink, "taro@cand.example")["taro@cand.example"]

	resp, page := get(t, http.MethodGet, link, map[string]string{"User-Agent": "Mozilla/5.0"})
	if resp.StatusCode != 200 || !strings.Contains(page, "株式会社アクメ") || !strings.Contains(page, "Example Career Agency") {
		t.Fatalf("GET %s: %s, page lacks the tenant or agency name", link, resp.Status)
	}
	if resp.Header.Get("Referrer-Policy") != "no-referrer" || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
		t.Errorf("landing page security headers: %v", resp.Header)
	}
	if resp, _ := get(t, http.MethodHead, link, nil); resp.StatusCode != 200 {
		t.Errorf("HEAD: %s", resp.Status)
	}
	if n, _ := balance(t, r); n != 0 {
		t.Fatalf("%d referrals after GET and HEAD", n)
	}
	if resp := consent(t, link, false); resp.StatusCode == http.StatusSeeOther {
		t.Fatalf("POST without consent redirected to %s", resp.Header.Get("Location"))
	}
	if n, _ := balance(t, r); n != 0 {
		t.Fatalf("%d referrals after a POST without consent", n)
	}
	// The answer leads back to the link, now the completion page with
	// the way on to the agency.
	if ref := consentRef(t, link); ref == "" {
		t.Fatal("no ref on the completion page")
	}
	if n, _ := balance(t, r); n != 1 {
		t.Fatalf("%d referrals after consent, want 1", n)
	}

	// One byte changed in the token: 404, and nothing is stored.
	tampered := []byte(link)
	i := len(tampered) - 5
	tampered[i] ^= 'A' ^ 'B'
	if tampered[i] == link[i] {
		tampered[i] = 'x'
	}
	clicksBefore, _ := scrape(t, r.HTTPAddr)
	if resp, _ := get(t, http.MethodGet, string(tampered), nil); resp.StatusCode != 404 {
		t.Errorf("tampered token: %s, want 404", resp.Status)
	}
	clicksAfter, _ := scrape(t, r.HTTPAddr)
	for _, class := range []string{"human", "bot"} {
		k := `careerrelay_link_clicks_total{class="` + class + `",tenant="acme"}`
		if clicksAfter[k] != clicksBefore[k] {
			t.Errorf("a tampered token recorded a %s click", class)
		}
	}
}

// TestLedgerVerifyDetectsTampering: `careerrelay ledger verify` passes on a
// real ledger and fails, naming the entry, after one entry is altered in the
// bbolt file.
func TestLedgerVerifyDetectsTampering(t *testing.T) {
	t.Parallel()
	sink := newSink(t, nil)
	r := StartRelay(t, sink.Addr, withLocalLinks)
	for _, link := range relayLinks(t, r, sink, "a@cand.example", "b@cand.example", "c@cand.example") {
		if resp := consent(t, link, true); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("consent: %s", resp.Status)
		}
	}
	if out, code := runBinary(t, "ledger", "verify", "-config", r.ConfigPath, "-ready-file", r.ReadyPath); code != 0 || !strings.Contains(out, "ledger OK: 3 entries") {
		t.Fatalf("ledger verify on a real ledger: exit %d: %s", code, out)
	}

	r.Stop()
	db, err := bolt.Open(filepath.Join(r.Dir, "data", "careerrelay.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(store.BucketLedger))
		key := binenc.BigEndian.AppendUint64(nil, 2)
		v := b.Get(key)
		if v == nil {
			t.Fatal("no ledger entry 2")
		}
		return b.Put(key, bytes.Replace(v, []byte(`"tenant":"acme"`), []byte(`"tenant":"evil"`), 1))
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	r.Start()
	out, code := runBinary(t, "ledger", "verify", "-config", r.ConfigPath, "-ready-file", r.ReadyPath)
	if code != 1 || !regexp.MustCompile(`entry 2\b`).MatchString(out) {
		t.Fatalf("ledger verify after altering entry 2: exit %d: %s", code, out)
	}
}
