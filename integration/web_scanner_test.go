package integration

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/careerrelay/careerrelay/internal/testlib"
)

// User agents of the test: a mail-security link scanner (Microsoft's
// Outlook / Safe Links preview fetcher) and a person's phone browser.
const (
	safeLinksUA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) BingPreview/1.0b"
	personUA    = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)

var (
	botClicks   = `careerrelay_link_clicks_total{class="bot",tenant="` + tenantID + `"}`
	humanClicks = `careerrelay_link_clicks_total{class="human",tenant="` + tenantID + `"}`
)

// clicks returns the tenant's bot and human click counters.
func clicks(t *testing.T, r *Relay) (bot, human float64) {
	t.Helper()
	s, _ := scrape(t, r.HTTPAddr)
	b, okB := s[botClicks]
	h, okH := s[humanClicks]
	if !okB || !okH {
		t.Fatalf("/metrics lacks %s or %s", botClicks, humanClicks)
	}
	return b, h
}

// waitClicks waits until the counters are bot and human, and fails the
// test with what they are otherwise.
func waitClicks(t *testing.T, r *Relay, what string, bot, human float64) {
	t.Helper()
	var gb, gh float64
	if !testlib.Poll(10*time.Second, func() bool {
		gb, gh = clicks(t, r)
		return gb == bot && gh == human
	}) {
		t.Fatalf("%s: clicks bot=%v human=%v, want bot=%v human=%v", what, gb, gh, bot, human)
	}
}

// TestWebScannerClickIsBot simulates a mail-security scanner on a relayed
// mail's link: a HEAD and, within 2 seconds, a GET with a Safe Links-like
// User-Agent, then a browser's prefetch. The bot window is off
// (withLocalLinks), so the request alone classifies it. The HEAD records
// nothing, the GET and the prefetch count as bot clicks (the human counter
// does not move) and none creates a referral. The link is not spent: the
// person who opens it afterwards is a human click and can still consent.
func TestWebScannerClickIsBot(t *testing.T) {
	t.Parallel()
	sink := newSink(t, nil)
	r := StartRelay(t, sink.Addr, withLocalLinks)
	link := relayLinks(t, r, sink, "taro@cand.example")["taro@cand.example"]
	bot0, human0 := clicks(t, r)

	start := time.Now()
	resp, body := get(t, http.MethodHead, link, map[string]string{"User-Agent": safeLinksUA})
	if resp.StatusCode != http.StatusOK || body != "" {
		t.Fatalf("scanner HEAD: %s with %d bytes of body, want 200 and none", resp.Status, len(body))
	}
	resp, page := get(t, http.MethodGet, link, map[string]string{"User-Agent": safeLinksUA})
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Logf("note: HEAD then GET took %v, longer than a scanner's 2 s", elapsed)
	}
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, `name="consent"`) {
		t.Fatalf("scanner GET: %s, want 200 and the landing page", resp.Status)
	}
	waitClicks(t, r, "after the scanner's HEAD and GET", bot0+1, human0)

	resp, _ = get(t, http.MethodGet, link, map[string]string{"User-Agent": personUA, "Sec-Purpose": "prefetch"})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("prefetch GET: %s", resp.Status)
	}
	waitClicks(t, r, "after a prefetch", bot0+2, human0)
	if n, _ := balance(t, r); n != 0 {
		t.Fatalf("%d referrals after the scanner and the prefetch, want 0", n)
	}

	// The person comes later.
	resp, _ = get(t, http.MethodGet, link, map[string]string{"User-Agent": personUA})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("the person's GET: %s", resp.Status)
	}
	waitClicks(t, r, "after the person's GET", bot0+2, human0+1)
	if resp := consent(t, link, true); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("the person's consent after the scanner: %s, want 303", resp.Status)
	}
	if n, _ := balance(t, r); n != 1 {
		t.Fatalf("%d referrals after the person's consent, want 1", n)
	}
}

// TestWebClickInBotWindowIsBot: a person's browser GET within
// links.bot_window of the send counts as a bot click (a gateway scanner
// with an ordinary User-Agent), the human counter does not move, and no
// referral is made. The window is 1h here so that a slow machine is still
// inside it; the 10 s default is the config loader's business.
func TestWebClickInBotWindowIsBot(t *testing.T) {
	t.Parallel()
	sink := newSink(t, nil)
	r := StartRelay(t, sink.Addr, withLocalLinks, func(dir string, c *Config) {
		c.Links.BotWindow = "1h"
	})
	bot0, human0 := clicks(t, r)
	link := relayLinks(t, r, sink, "jiro@cand.example")["jiro@cand.example"]
	resp, _ := get(t, http.MethodGet, link, map[string]string{"User-Agent": personUA})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET: %s", resp.Status)
	}
	waitClicks(t, r, "a GET within the bot window", bot0+1, human0)
	if n, _ := balance(t, r); n != 0 {
		t.Fatalf("%d referrals after a GET, want 0", n)
	}
}
