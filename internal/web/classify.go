package web

import (
	"net/http"
	"strings"
	"time"

	"github.com/careerrelay/careerrelay/internal/referral"
)

// scannerAgents are lower-case substrings of the User-Agent of robots that
// open links in mail without a person: mail-security link scanners, which
// fetch every link of a delivered message within seconds, and link-preview
// fetchers of chat apps and search engines. A User-Agent containing any of
// them makes a click "bot". The list favours names that no person's browser
// sends: a generic "bot" would also match CUBOT phones.
var scannerAgents = []string{
	// Mail security: Microsoft Defender Safe Links and the Outlook/Bing
	// preview fetcher, Proofpoint URL Defense, Mimecast URL Protect,
	// Barracuda Link Protection, Google's Gmail link checker, Cisco Secure
	// Email (IronPort), Trend Micro, Sophos, Forcepoint, Broadcom/Symantec
	// MessageLabs, Trellix/FireEye, Check Point, Fortinet, Zscaler.
	"bingpreview",
	"safelinks",
	"proofpoint",
	"mimecast",
	"barracuda",
	"google-safety",
	"ironport",
	"trendmicro", "trend micro",
	"sophos",
	"forcepoint",
	"messagelabs", "symantec",
	"fireeye", "trellix",
	"checkpoint", "check point",
	"fortiguard", "fortinet",
	"zscaler",
	// Search engine and link-preview fetchers (a link pasted into a chat).
	"googlebot", "bingbot", "yandexbot", "baiduspider", "applebot",
	"slackbot", "twitterbot", "discordbot", "linkedinbot", "telegrambot",
	"facebookexternalhit", "whatsapp", "skypeuripreview", "line-poker",
	// Headless browsers and HTTP libraries: scripts, not people.
	"headlesschrome", "phantomjs", "python-requests", "python-urllib",
	"go-http-client", "curl/", "wget/", "okhttp", "java/", "libwww-perl",
}

// prefetchHeaders are request headers whose value names a speculative
// fetch rather than a click: Chrome's Sec-Purpose ("prefetch",
// "prefetch;prerender"), the older Purpose, Firefox's X-Moz and Safari's
// X-Purpose ("preview").
var prefetchHeaders = []string{"Sec-Purpose", "Purpose", "X-Moz", "X-Purpose"}

// clickClass classifies a request for a link sent at sent: "bot"
// when it is a HEAD, a prefetch, from a known scanner (by User-Agent, or
// scannerNet: from links.scanner_networks) or with no User-Agent at all,
// or within window of the send; else "human".
func clickClass(r *http.Request, sent, now time.Time, window time.Duration, scannerNet bool) string {
	if r.Method == http.MethodHead || scannerNet {
		return referral.Bot
	}
	for _, h := range prefetchHeaders {
		v := strings.ToLower(r.Header.Get(h))
		if strings.Contains(v, "prefetch") || strings.Contains(v, "preview") {
			return referral.Bot
		}
	}
	if isScanner(r.UserAgent()) {
		return referral.Bot
	}
	// A person does not open a mail within seconds of its sending; a scanner
	// at the recipient's gateway does. A send time in the future (clock
	// skew) counts as within the window.
	if !sent.IsZero() && now.Sub(sent) <= window {
		return referral.Bot
	}
	return referral.Human
}

// isScanner reports whether ua is empty (browsers always send one) or
// names a known robot, case-insensitively.
func isScanner(ua string) bool {
	ua = strings.ToLower(strings.TrimSpace(ua))
	if ua == "" {
		return true
	}
	for _, s := range scannerAgents {
		if strings.Contains(ua, s) {
			return true
		}
	}
	return false
}
