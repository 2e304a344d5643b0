package integration

import (
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/careerrelay/careerrelay/internal/referral"
)

// fullBalance is `careerrelay ledger balance` for the test tenant.
func fullBalance(t *testing.T, r *Relay) referral.Balance {
	t.Helper()
	out, code := runBinary(t, "ledger", "balance", "-config", r.ConfigPath, "-ready-file", r.ReadyPath, "-tenant", tenantID)
	if code != 0 {
		t.Fatalf("ledger balance: exit %d: %s", code, out)
	}
	var b referral.Balance
	if err := json.Unmarshal([]byte(out), &b); err != nil {
		t.Fatalf("ledger balance output %q: %v", out, err)
	}
	return b
}

// consentRef posts a ticked consent for link and returns the referral's
// ref=: the answer is a 303 to the link itself, whose page (the
// completion page) offers the way on to the agency with it. Any other
// answer fails the test.
func consentRef(t *testing.T, link string) string {
	t.Helper()
	resp := consent(t, link, true)
	loc, err := url.Parse(link)
	if err == nil {
		loc, err = loc.Parse(resp.Header.Get("Location"))
	}
	if resp.StatusCode != http.StatusSeeOther || err != nil || loc.String() != link {
		t.Fatalf("consent on %s: %s to %q, want 303 to the link itself", link, resp.Status, resp.Header.Get("Location"))
	}
	return agencyRef(t, link)
}

// agencyButton finds the after-consent page's button to the agency.
var agencyButton = regexp.MustCompile(`<a class="button" href="([^"]+)"`)

// agencyRef opens link after consent and returns the ref= of its button
// to the agency (agency.registration_url).
func agencyRef(t *testing.T, link string) string {
	t.Helper()
	resp, page := get(t, http.MethodGet, link, map[string]string{"User-Agent": personUA})
	m := agencyButton.FindStringSubmatch(page)
	if resp.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("the page of %s after consent: %s, no button to the agency:\n%s", link, resp.Status, page)
	}
	u, err := url.Parse(html.UnescapeString(m[1]))
	if err != nil || u.Query().Get("ref") == "" {
		t.Fatalf("the agency button goes to %q", m[1])
	}
	return u.Query().Get("ref")
}

// referralEntries returns the referral entries of the tenant's ledger.
func referralEntries(t *testing.T, r *Relay) []referral.Entry {
	t.Helper()
	var out []referral.Entry
	for _, e := range ledgerEntries(t, r) {
		if e.Kind == "referral" {
			out = append(out, e)
		}
	}
	return out
}

// TestWebConcurrentConsentOneReferral: 50 consent POSTs for one token at
// once (one page, one form token) make one referral: every answer is the
// 303 to the agency with the same ref=, the balance counts 1 referral and
// the ledger holds one referral entry, with that id.
func TestWebConcurrentConsentOneReferral(t *testing.T) {
	t.Parallel()
	sink := newSink(t, nil)
	r := StartRelay(t, sink.Addr, withLocalLinks)
	link := relayLinks(t, r, sink, "taro@cand.example")["taro@cand.example"]
	_, page := get(t, http.MethodGet, link, map[string]string{"User-Agent": personUA})
	csrf, version := csrfRE.FindStringSubmatch(page), versionRE.FindStringSubmatch(page)
	if csrf == nil || version == nil {
		t.Fatalf("landing page has no consent form:\n%s", page)
	}
	form := url.Values{"csrf": {csrf[1]}, "consent_version": {version[1]}, "consent": {"on"}}.Encode()

	const n = 50
	type answer struct {
		status int
		loc    string
		err    error
	}
	answers := make([]answer, n)
	var start, done sync.WaitGroup
	start.Add(1)
	for i := range n {
		done.Go(func() {
			start.Wait()
			req, _ := http.NewRequest(http.MethodPost, link, strings.NewReader(form))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("User-Agent", personUA)
			resp, err := noRedirects.Do(req)
			if err != nil {
				answers[i].err = err
				return
			}
			resp.Body.Close()
			answers[i] = answer{status: resp.StatusCode, loc: resp.Header.Get("Location")}
		})
	}
	start.Done()
	done.Wait()

	refs := map[string]int{}
	self, _ := url.Parse(link)
	for i, a := range answers {
		if a.err != nil {
			t.Errorf("POST %d: %v", i, a.err)
			continue
		}
		if a.status != http.StatusSeeOther || a.loc != self.Path {
			t.Errorf("POST %d: HTTP %d to %q, want 303 to the link itself", i, a.status, a.loc)
		}
	}
	refs[agencyRef(t, link)]++
	if b := fullBalance(t, r); b.Referrals != 1 || b.Granted != 0 {
		t.Errorf("balance after %d concurrent consents: %+v, want 1 referral, no credit", n, b)
	}
	entries := referralEntries(t, r)
	if len(entries) != 1 || refs[entries[0].ReferralID] == 0 {
		t.Errorf("ledger referral entries %+v, want one whose id is the ref of the answers %v", entries, refs)
	}
}

// TestWebCreditEveryTenReferrals: with the default referrals_per_credit
// (10), 9 distinct candidates' consents grant nothing, the 10th grants one
// credit, 19 still one and 20 two (`careerrelay ledger balance`).
func TestWebCreditEveryTenReferrals(t *testing.T) {
	t.Parallel()
	sink := newSink(t, nil)
	r := StartRelay(t, sink.Addr, withLocalLinks)
	var cands []string
	for i := 1; i <= 20; i++ {
		cands = append(cands, fmt.Sprintf("cand%02d@cand.example", i))
	}
	links := relayLinks(t, r, sink, cands...)
	want := map[int]int{9: 0, 10: 1, 19: 1, 20: 2} // referrals -> credits granted
	for i, c := range cands {
		consentRef(t, links[c])
		n := i + 1
		credits, check := want[n]
		if !check {
			continue
		}
		if b := fullBalance(t, r); b.Referrals != n || b.Granted != credits || b.Available != credits || b.Redeemed != 0 {
			t.Errorf("balance after %d distinct candidates: %+v, want %d referrals, %d granted and available", n, b, n, credits)
		}
	}
	var grants int
	for _, e := range ledgerEntries(t, r) {
		if e.Kind == "grant" {
			grants++
		}
	}
	if grants != 2 {
		t.Errorf("the ledger has %d grant entries after 20 referrals, want 2", grants)
	}
}

// TestWebSameCandidateOtherCase: two mails, to Taro@Cand.example and to
// taro@cand.example, give two links; consent on both counts one referral,
// and both answers send the person to the agency with the same ref.
func TestWebSameCandidateOtherCase(t *testing.T) {
	t.Parallel()
	sink := newSink(t, nil)
	r := StartRelay(t, sink.Addr, withLocalLinks)
	links := relayLinks(t, r, sink, "Taro@Cand.example", "taro@cand.example")
	upper, lower := links["Taro@Cand.example"], links["taro@cand.example"]
	if upper == "" || lower == "" || upper == lower {
		t.Fatalf("links %v, want two different links", links)
	}
	ref1 := consentRef(t, upper)
	// The other spelling's link knows the mailbox has consented: it shows
	// the application with the same referral, not a second consent form.
	resp, page := get(t, http.MethodGet, lower, map[string]string{"User-Agent": personUA})
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "お申し込みを受け付けました") ||
		!strings.Contains(page, "ref="+ref1) || strings.Contains(page, `name="consent"`) {
		t.Errorf("the link of taro@cand.example after Taro@Cand.example consented: %s\n%s", resp.Status, page)
	}
	if b := fullBalance(t, r); b.Referrals != 1 {
		t.Errorf("balance after consent on both spellings: %+v, want 1 referral", b)
	}
	if e := referralEntries(t, r); len(e) != 1 {
		t.Errorf("ledger referral entries %+v, want one", e)
	}
}

// TestWebLedgerRedeem: `careerrelay ledger redeem` with no credit is
// refused (exit 1, a message naming the lack of credit) and changes
// nothing; once a credit is granted it works once, and the next is refused
// again. referrals_per_credit is 2 here.
func TestWebLedgerRedeem(t *testing.T) {
	t.Parallel()
	sink := newSink(t, nil)
	r := StartRelay(t, sink.Addr, withLocalLinks, func(dir string, c *Config) {
		c.Tenants[0].ReferralsPerCredit = 2
	})
	redeem := func() (string, int) {
		return runBinary(t, "ledger", "redeem", "-config", r.ConfigPath, "-ready-file", r.ReadyPath, "-tenant", tenantID, "-note", "hire of candidate #1")
	}
	wantRefused := func(when string) {
		t.Helper()
		out, code := redeem()
		if code != 1 || !strings.Contains(strings.ToLower(out), "no credit") {
			t.Errorf("ledger redeem %s: exit %d: %q, want exit 1 saying there is no credit", when, code, out)
		}
	}
	wantRefused("with no credit")
	if b := fullBalance(t, r); b.Redeemed != 0 || b.Available != 0 {
		t.Errorf("balance after a refused redeem: %+v", b)
	}

	links := relayLinks(t, r, sink, "a@cand.example", "b@cand.example")
	consentRef(t, links["a@cand.example"])
	wantRefused("after 1 referral of 2")
	consentRef(t, links["b@cand.example"])
	if b := fullBalance(t, r); b.Granted != 1 || b.Available != 1 {
		t.Fatalf("balance after 2 referrals: %+v, want 1 credit", b)
	}

	out, code := redeem()
	if code != 0 {
		t.Fatalf("ledger redeem with a credit: exit %d: %s", code, out)
	}
	var e referral.Entry
	if err := json.Unmarshal([]byte(out), &e); err != nil || e.Kind != "redeem" || e.Amount != -1 || e.Note != "hire of candidate #1" {
		t.Errorf("ledger redeem printed %q (%v), want the redeem entry", out, err)
	}
	if b := fullBalance(t, r); b.Granted != 1 || b.Redeemed != 1 || b.Available != 0 {
		t.Errorf("balance after redeeming: %+v, want 1 granted, 1 redeemed, 0 available", b)
	}
	wantRefused("a second time")
	if b := fullBalance(t, r); b.Redeemed != 1 || b.Available != 0 {
		t.Errorf("balance after the refused second redeem: %+v", b)
	}
	if out, code := runBinary(t, "ledger", "verify", "-config", r.ConfigPath, "-ready-file", r.ReadyPath); code != 0 {
		t.Errorf("ledger verify after redeeming: exit %d: %s", code, out)
	}
}
