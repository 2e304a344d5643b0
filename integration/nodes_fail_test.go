package integration

import (
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/careerrelay/careerrelay/internal/testlib"
)

// TestSharedStoreDown is spec §13 with PostgreSQL stopped and started
// under a running node: meanwhile tagged mail is answered 451 4.3.0,
// untagged mail is relayed, a link answers 503 with the Japanese apology,
// /healthz names the shared store and careerrelay_store_up{store="shared"}
// is 0; once the database is back, the same process accepts tagged mail
// and records a consent, without a restart.
func TestSharedStoreDown(t *testing.T) {
	t.Parallel()
	sink := newSink(t, nil)
	nodes, pg := sharedNodes(t, sink.Addr, 1)
	r := nodes[0]
	const cand = "down@cand.example"
	link := relayLinks(t, r, sink, cand)[cand]

	pg.Stop(t)
	tagged, _ := newMessage(tenantSender, "later@cand.example", "選考結果のご連絡", "キャリア相談: [[career-relay]]\n")
	if _, err := sendMail(r.SMTPAddr, SendOptions{}, tenantSender, []string{"later@cand.example"}, tagged); err == nil || !strings.Contains(err.Error(), "451") {
		t.Errorf("tagged mail while PostgreSQL is down: %v, want 451", err)
	}
	before := sink.Count()
	plain, _ := newMessage(tenantSender, "plain@cand.example", "ご連絡", "タグのない通常のメールです。\n")
	if _, err := sendMail(r.SMTPAddr, SendOptions{}, tenantSender, []string{"plain@cand.example"}, plain); err != nil {
		t.Errorf("untagged mail while PostgreSQL is down: %v", err)
	}
	sink.WaitForCount(t, before+1, deliveryTimeout)
	resp, page := get(t, http.MethodGet, link, map[string]string{"User-Agent": personUA})
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(page, "しばらくしてから再度お試しください") {
		t.Errorf("link while PostgreSQL is down: %s", resp.Status)
	}
	health := func() (int, string) {
		resp, err := http.Get("http://" + r.HTTPAddr + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := health(); code != http.StatusServiceUnavailable || !strings.Contains(body, "shared store (PostgreSQL)") {
		t.Errorf("/healthz while PostgreSQL is down: %d %q", code, body)
	}
	testlib.WaitFor(t, 30*time.Second, `careerrelay_store_up{store="shared"} 0`, func() bool {
		m, _ := scrape(t, r.HTTPAddr)
		return m[`careerrelay_store_up{store="shared"}`] == 0 && m[`careerrelay_store_up{store="local"}`] == 1
	})

	pg.Start(t)
	if code, body := health(); code != http.StatusOK {
		t.Errorf("/healthz after PostgreSQL is back: %d %q", code, body)
	}
	if ref := consentRef(t, link); ref == "" {
		t.Error("no referral after PostgreSQL is back")
	}
	later := relayLinks(t, r, sink, "later@cand.example")
	if later["later@cand.example"] == "" {
		t.Error("tagged mail after PostgreSQL is back carries no link")
	}
	testlib.WaitFor(t, 30*time.Second, `careerrelay_store_up{store="shared"} 1`, func() bool {
		m, _ := scrape(t, r.HTTPAddr)
		return m[`careerrelay_store_up{store="shared"}`] == 1
	})
}

// TestSharedStoreNodeKilled: node 2 is killed with SIGKILL during a burst
// of consents spread over three nodes. Every candidate whose consent got
// an answer counts once; those whose request died with node 2 consent
// again on another node and count once too; every referral's webhook
// reaches the agency, those node 2 had queued delivered by the others.
func TestSharedStoreNodeKilled(t *testing.T) {
	t.Parallel()
	sink := newSink(t, nil)
	agency := newHookAgency(t)
	nodes, _ := sharedNodes(t, sink.Addr, 3, func(_ string, c *Config) {
		c.Agency.Webhook.URL = agency.URL
	})
	var cands []string
	for i := range 30 {
		cands = append(cands, "burst"+string(rune('a'+i%26))+string(rune('a'+i/26))+"@cand.example")
	}
	links := relayLinks(t, nodes[0], sink, cands...)
	// Node 2 stops answering webhooks for a while: the ones it queues stay
	// in the outbox when it dies (the agency refuses everything at first).
	agency.refuse(true)

	failed := make([]bool, len(cands))
	var wg sync.WaitGroup
	for i, c := range cands {
		node := nodes[i%3]
		l := onNode(t, links[c], nodes[0], node)
		wg.Go(func() { failed[i] = consentNow(l) != nil })
		if i == 15 {
			nodes[1].Kill()
		}
	}
	wg.Wait()
	// Whoever did not get an answer tries again on node 1.
	for i, c := range cands {
		if failed[i] {
			if err := consentNow(onNode(t, links[c], nodes[0], nodes[0])); err != nil {
				t.Errorf("consent of %s again on node 1: %v", c, err)
			}
		}
	}
	agency.refuse(false)
	for _, i := range []int{0, 2} {
		if b := fullBalance(t, nodes[i]); b.Referrals != len(cands) || b.Granted != 3 {
			t.Errorf("node %d: balance %+v, want %d referrals and 3 credits", i+1, b, len(cands))
		}
		if out, code := runBinary(t, "ledger", "verify", "-config", nodes[i].ConfigPath, "-ready-file", nodes[i].ReadyPath); code != 0 {
			t.Errorf("node %d: ledger verify: exit %d: %s", i+1, code, out)
		}
	}
	ids := map[string]bool{}
	for _, e := range ledgerEntries(t, nodes[0]) {
		if e.Kind == "referral" {
			ids[e.ReferralID] = true
		}
	}
	testlib.WaitFor(t, 90*time.Second, "every referral's webhook at the agency", func() bool {
		got := agency.delivered()
		for id := range ids {
			if !got[id] {
				return false
			}
		}
		return true
	})
}

// hookAgency receives agency webhooks: the referral ids of the
// referral.created events it answered 2xx, refusing (503) while told to.
type hookAgency struct {
	*httptest.Server
	mu      sync.Mutex
	refused bool
	got     map[string]bool
}

func newHookAgency(t *testing.T) *hookAgency {
	a := &hookAgency{got: map[string]bool{}}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p struct {
			Event      string `json:"event"`
			ReferralID string `json:"referral_id"`
		}
		body, _ := io.ReadAll(r.Body)
		a.mu.Lock()
		defer a.mu.Unlock()
		if a.refused {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		if json.Unmarshal(body, &p) == nil && p.Event == "referral.created" {
			a.got[p.ReferralID] = true
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(a.Close)
	return a
}

func (a *hookAgency) refuse(on bool) {
	a.mu.Lock()
	a.refused = on
	a.mu.Unlock()
}

func (a *hookAgency) delivered() map[string]bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return maps.Clone(a.got)
}
