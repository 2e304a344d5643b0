package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/careerrelay/careerrelay/internal/referral"
	"github.com/careerrelay/careerrelay/internal/testlib"
)

// webhookRetryTimeout bounds the wait for webhooks after the agency is
// back. The relay has no config key for the webhook backoff: the first
// retry comes 10 s (±20%) after a failed attempt, the next 20 s, then 40 s
// (referral's defaultWebhookBackoff), so a webhook refused twice is due
// again within about 36 s of its first attempt.
const webhookRetryTimeout = 90 * time.Second

// webhookAgency is the agency's webhook endpoint: it refuses every POST
// with 503 until Up, then accepts them, and keeps what it saw.
type webhookAgency struct {
	*httptest.Server
	mu        sync.Mutex
	secret    []byte
	up        bool
	refused   map[string]int                       // referral id -> 503s
	delivered map[string][]referral.WebhookPayload // referral id -> accepted payloads
	problems  []string                             // bad signatures, bodies, methods
}

func newWebhookAgency(t *testing.T) *webhookAgency {
	a := &webhookAgency{refused: map[string]int{}, delivered: map[string][]referral.WebhookPayload{}}
	a.Server = httptest.NewServer(http.HandlerFunc(a.serve))
	t.Cleanup(a.Close)
	return a
}

func (a *webhookAgency) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	a.mu.Lock()
	defer a.mu.Unlock()
	if err != nil || r.Method != http.MethodPost || r.URL.Path != "/hooks/referral" {
		a.problems = append(a.problems, fmt.Sprintf("%s %s (read: %v)", r.Method, r.URL.Path, err))
		http.Error(w, "no", http.StatusBadRequest)
		return
	}
	sig := r.Header.Get(referral.SignatureHeader)
	var p referral.WebhookPayload
	d := json.NewDecoder(bytes.NewReader(body))
	d.DisallowUnknownFields()
	switch {
	case !referral.VerifySignature(a.secret, body, sig):
		a.problems = append(a.problems, fmt.Sprintf("bad signature %q on %s", sig, body))
	case d.Decode(&p) != nil || p.ReferralID == "":
		a.problems = append(a.problems, fmt.Sprintf("not a referral payload: %s", body))
	}
	if !a.up {
		a.refused[p.ReferralID]++
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
		return
	}
	a.delivered[p.ReferralID] = append(a.delivered[p.ReferralID], p)
	w.WriteHeader(http.StatusOK)
}

func (a *webhookAgency) setUp(up bool) {
	a.mu.Lock()
	a.up = up
	a.mu.Unlock()
}

// count returns how many of ids were refused at least once, and how many
// were delivered.
func (a *webhookAgency) count(ids []string) (refused, delivered int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, id := range ids {
		if a.refused[id] > 0 {
			refused++
		}
		if len(a.delivered[id]) > 0 {
			delivered++
		}
	}
	return refused, delivered
}

// TestWebWebhookOutageAndRestart is the agency webhook's promise, "retried
// with backoff until a 2xx; nothing is lost on restart", through the binary: the agency answers
// 503 while 15 candidates consent (each webhook is tried and refused), the
// relay is stopped (SIGTERM, or kill -9) and started again, the agency comes
// back, and every referral id arrives at the agency, signed with
// X-CareerRelay-Signature: sha256=HMAC-SHA256(webhook secret, body), with
// the tenant and the candidate it was made for. The wait is the relay's
// built-in backoff (see webhookRetryTimeout).
func TestWebWebhookOutageAndRestart(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		stop func(r *Relay)
	}{
		{"SIGTERM", (*Relay).Stop},
		{"SIGKILL", (*Relay).Kill},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			testWebhookOutage(t, tc.stop)
		})
	}
}

func testWebhookOutage(t *testing.T, stop func(*Relay)) {
	agency := newWebhookAgency(t)
	sink := newSink(t, nil)
	r := NewRelay(t, sink.Addr, withLocalLinks, func(dir string, c *Config) {
		c.Agency.Webhook.URL = agency.URL + "/hooks/referral"
	})
	secret, err := os.ReadFile(r.Config.Agency.Webhook.SecretFile)
	if err != nil {
		t.Fatal(err)
	}
	agency.mu.Lock()
	agency.secret = bytes.TrimSpace(secret) // as the relay reads it
	agency.mu.Unlock()
	r.Start()

	var cands []string
	for i := 1; i <= 15; i++ {
		cands = append(cands, fmt.Sprintf("hook%02d@cand.example", i))
	}
	links := relayLinks(t, r, sink, cands...)
	candidateOf := map[string]string{} // referral id -> candidate
	var ids []string
	for _, c := range cands {
		id := consentRef(t, links[c])
		if _, dup := candidateOf[id]; dup {
			t.Fatalf("two candidates got referral %s", id)
		}
		candidateOf[id] = c
		ids = append(ids, id)
	}
	testlib.WaitFor(t, 30*time.Second, "the agency to refuse a webhook of each of the 15 referrals", func() bool {
		refused, _ := agency.count(ids)
		return refused == len(ids)
	})

	stop(r)
	r.Start()
	agency.setUp(true)
	start := time.Now()
	testlib.WaitFor(t, webhookRetryTimeout, "every referral's webhook at the agency after the restart", func() bool {
		_, delivered := agency.count(ids)
		return delivered == len(ids)
	})
	t.Logf("all %d webhooks delivered %v after the agency came back", len(ids), time.Since(start).Round(100*time.Millisecond))

	agency.mu.Lock()
	defer agency.mu.Unlock()
	for _, p := range agency.problems {
		t.Errorf("agency: %s", p)
	}
	for id, ps := range agency.delivered {
		if !slices.Contains(ids, id) {
			t.Errorf("the agency got a webhook for referral %s, which no consent answered", id)
		}
		for _, p := range ps {
			if p.Event != referral.EventReferral || p.TenantID != tenantID || p.TenantName != "株式会社アクメ" ||
				p.CandidateEmail != candidateOf[id] || p.ConsentVersion == "" || p.ConsentAt.IsZero() {
				t.Errorf("webhook for %s: %+v, want tenant %s and candidate %s", id, p, tenantID, candidateOf[id])
			}
		}
	}
}
