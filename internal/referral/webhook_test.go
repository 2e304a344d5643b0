package referral

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/careerrelay/careerrelay/internal/metrics"
	"github.com/careerrelay/careerrelay/store"
)

// received is one webhook POST as the agency saw it.
type received struct {
	body   []byte
	sig    string
	ctype  string
	status int // what the agency answered
}

// agency is an httptest server standing in for the agency: it answers
// each POST with the status of the moment and records what it got.
type agency struct {
	*httptest.Server
	mu     sync.Mutex
	status int
	got    []received
	during func(r *http.Request) // called while handling, when set
}

func newAgency(t *testing.T, status int) *agency {
	a := &agency{status: status}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		a.mu.Lock()
		status, during := a.status, a.during
		a.got = append(a.got, received{body: body, sig: r.Header.Get(SignatureHeader), ctype: r.Header.Get("Content-Type"), status: status})
		a.mu.Unlock()
		if r.Method != http.MethodPost {
			t.Errorf("agency got %s", r.Method)
		}
		if during != nil {
			during(r)
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(a.Close)
	return a
}

func (a *agency) answer(status int) {
	a.mu.Lock()
	a.status = status
	a.mu.Unlock()
}

func (a *agency) received() []received {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]received(nil), a.got...)
}

// deliver runs one delivery pass at the fake clock's time.
func (e *env) deliver() time.Time {
	e.t.Helper()
	next, err := e.s.deliverDue(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return next
}

func (e *env) pending() []PendingWebhook {
	e.t.Helper()
	p, err := e.s.PendingWebhooks()
	if err != nil {
		e.t.Fatal(err)
	}
	return p
}

func TestWebhookSignedPayload(t *testing.T) {
	a := newAgency(t, http.StatusNoContent)
	e := newEnv(t, a.URL+"/hooks/referral")
	// The attempt is on disk before the request leaves.
	a.during = func(*http.Request) {
		p := e.pending()
		if len(p) != 1 || p[0].Attempts != 1 || !p[0].NextAttempt.Equal(t0.Add(10*time.Second)) {
			t.Errorf("outbox during the attempt: %+v", p)
		}
	}
	ok0 := counter(metrics.AgencyWebhooks, "ok")
	l, err := e.s.Resolve(e.mail("acme", "Taro@Cand.example", "候補 太郎"))
	if err != nil {
		t.Fatal(err)
	}
	ref, err := e.s.Refer(context.Background(), l, "consent-2026-11")
	if err != nil {
		t.Fatal(err)
	}
	if len(a.received()) != 0 {
		t.Fatal("webhook sent inside Refer")
	}
	if next := e.deliver(); !next.IsZero() {
		t.Errorf("next due %v with an empty outbox", next)
	}
	got := a.received()
	if len(got) != 1 {
		t.Fatalf("agency got %d webhooks", len(got))
	}
	r := got[0]
	mac := hmac.New(sha256.New, hookSecret)
	mac.Write(r.body)
	if want := "sha256=" + hex.EncodeToString(mac.Sum(nil)); r.sig != want || !VerifySignature(hookSecret, r.body, r.sig) {
		t.Errorf("signature %q, want %q", r.sig, want)
	}
	if VerifySignature([]byte("another secret"), r.body, r.sig) || VerifySignature(hookSecret, append(r.body, ' '), r.sig) ||
		VerifySignature(hookSecret, r.body, strings.TrimPrefix(r.sig, "sha256=")) {
		t.Error("VerifySignature accepts a wrong secret, body or header")
	}
	if r.ctype != "application/json" {
		t.Errorf("Content-Type %q", r.ctype)
	}
	var p map[string]any
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatal(err)
	}
	entry := e.ledger()[0]
	want := map[string]any{
		"event": "referral.created", "referral_id": ref.ID, "tenant_id": "acme", "tenant_name": "株式会社アクメ",
		"candidate_email": "Taro@Cand.example", "candidate_name": "候補 太郎",
		"consent_at": "2026-11-24T09:00:00Z", "consent_version": "consent-2026-11",
		"referral_seq": 1.0, "credit_granted": false, "ledger_seq": 1.0, "ledger_hash": entry.Hash,
	}
	for k, v := range want {
		if p[k] != v {
			t.Errorf("payload %s = %v, want %v", k, p[k], v)
		}
	}
	if len(p) != len(want) {
		t.Errorf("payload has %d fields, want %d: %s", len(p), len(want), r.body)
	}
	if n := len(e.pending()); n != 0 {
		t.Errorf("%d webhooks left after a 2xx", n)
	}
	if d := counter(metrics.AgencyWebhooks, "ok") - ok0; d != 1 {
		t.Errorf("ok metric +%v", d)
	}
}

func TestWebhookBackoffSchedule(t *testing.T) {
	e := newEnv(t, "")
	var got []string
	for n := 1; n <= 11; n++ {
		got = append(got, e.s.retryDelay(n).String())
	}
	if want := "10s 20s 40s 1m20s 2m40s 5m20s 10m40s 21m20s 42m40s 1h0m0s 1h0m0s"; strings.Join(got, " ") != want {
		t.Errorf("schedule %s, want %s", got, want)
	}
	e.s.random = func() float64 { return 0 }
	if d := e.s.retryDelay(1); d != 8*time.Second {
		t.Errorf("least jitter: %v", d)
	}
	e.s.random = func() float64 { return 0.999999 }
	if d := e.s.retryDelay(100); d < 71*time.Minute || d > 72*time.Minute {
		t.Errorf("most jitter at the cap: %v", d)
	}
}

// Every answer but a 2xx keeps the webhook, to be retried after the
// backoff; 4xx other than 408 and 429 count as failed, the rest as retry.
func TestWebhookRetriedUntil2xx(t *testing.T) {
	a := newAgency(t, http.StatusInternalServerError)
	e := newEnv(t, a.URL)
	ok0, retry0, failed0 := counter(metrics.AgencyWebhooks, "ok"), counter(metrics.AgencyWebhooks, "retry"), counter(metrics.AgencyWebhooks, "failed")
	e.refer("acme", "c@cand.example")

	steps := []struct {
		status  int
		advance time.Duration // before this attempt
		lastErr string
	}{
		{500, 0, "HTTP 500 Internal Server Error"},
		{429, 10 * time.Second, "HTTP 429 Too Many Requests"},
		{401, 20 * time.Second, "agency refused it: HTTP 401 Unauthorized"},
		{408, 40 * time.Second, "HTTP 408 Request Timeout"},
		{302, 80 * time.Second, "HTTP 302 Found"},
		{200, 160 * time.Second, ""},
	}
	for i, st := range steps {
		e.clock.Advance(st.advance)
		a.answer(st.status)
		if i > 0 {
			// Not yet due a moment before.
			e.clock.Advance(-time.Second)
			e.deliver()
			if n := len(a.received()); n != i {
				t.Fatalf("step %d: retried early (%d attempts)", i, n)
			}
			e.clock.Advance(time.Second)
		}
		next := e.deliver()
		if n := len(a.received()); n != i+1 {
			t.Fatalf("step %d: %d attempts", i, n)
		}
		if st.status == 200 {
			if !next.IsZero() || len(e.pending()) != 0 {
				t.Errorf("after the 2xx: next %v, pending %v", next, e.pending())
			}
			break
		}
		p := e.pending()
		if len(p) != 1 || p[0].Attempts != i+1 || p[0].LastError != st.lastErr || !next.Equal(p[0].NextAttempt) {
			t.Errorf("step %d (HTTP %d): pending %+v, next %v", i, st.status, p, next)
		}
	}
	if d := counter(metrics.AgencyWebhooks, "ok") - ok0; d != 1 {
		t.Errorf("ok +%v, want 1", d)
	}
	if d := counter(metrics.AgencyWebhooks, "retry") - retry0; d != 4 {
		t.Errorf("retry +%v, want 4", d)
	}
	if d := counter(metrics.AgencyWebhooks, "failed") - failed0; d != 1 {
		t.Errorf("failed +%v, want 1", d)
	}
}

// A webhook URL nobody listens on: retried, and the URL (which may hold
// the agency's secret) stays out of the recorded error.
func TestWebhookUnreachable(t *testing.T) {
	a := newAgency(t, 200)
	url := a.URL + "/hook?key=agency-secret"
	a.Close()
	e := newEnv(t, url)
	e.refer("acme", "c@cand.example")
	e.deliver()
	p := e.pending()
	if len(p) != 1 || p[0].Attempts != 1 || p[0].LastError == "" || strings.Contains(p[0].LastError, "agency-secret") {
		t.Errorf("pending %+v", p)
	}
}

func TestNoWebhookURLNoOutbox(t *testing.T) {
	e := newEnv(t, "")
	e.referN("acme", "a", 10)
	if n := e.count(store.BucketOutbox); n != 0 {
		t.Errorf("%d outbox entries without a webhook url", n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- e.s.RunWebhooks(ctx) }()
	cancel()
	if err := <-done; err != nil {
		t.Errorf("RunWebhooks: %v", err)
	}
}

// The agency is down while 15 referrals happen, the service restarts on the
// same store, the agency comes back: all 15 arrive, signed.
func TestWebhooksSurviveRestart(t *testing.T) {
	a := newAgency(t, http.StatusServiceUnavailable)
	e := newEnv(t, a.URL)
	attempts := make(chan string, 100)
	oks := make(chan string, 100)
	hook := func(id, result string) {
		if result == "ok" {
			oks <- id
		} else {
			attempts <- id
		}
	}
	run := func() (stop func()) {
		e.s.testAttempted = hook
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- e.s.RunWebhooks(ctx) }()
		return func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("RunWebhooks: %v", err)
			}
		}
	}
	wait := func(ch chan string, n int) map[string]bool {
		ids := map[string]bool{}
		for len(ids) < n {
			select {
			case id := <-ch:
				ids[id] = true
			case <-time.After(20 * time.Second):
				t.Fatalf("%d of %d webhook attempts after 20s", len(ids), n)
			}
		}
		return ids
	}

	stop := run()
	refs := e.referN("acme", "c", 15) // each Refer wakes the sender
	failed := wait(attempts, 15)
	stop()
	if len(failed) != 15 || len(e.pending()) != 15 {
		t.Fatalf("before restart: %d attempted, %d pending", len(failed), len(e.pending()))
	}

	e.restart()
	if p := e.pending(); len(p) != 15 || p[0].Attempts != 1 {
		t.Fatalf("after restart: %+v", p)
	}
	a.answer(http.StatusOK)
	e.clock.Advance(10 * time.Second)
	stop = run()
	delivered := wait(oks, 15)
	stop()

	for _, r := range refs {
		if !delivered[r.ID] {
			t.Errorf("referral %s never reached the agency", r.ID)
		}
	}
	seen := map[string]bool{}
	for _, r := range a.received() {
		if !VerifySignature(hookSecret, r.body, r.sig) {
			t.Errorf("bad signature on %s", r.body)
		}
		var p WebhookPayload
		if err := json.Unmarshal(r.body, &p); err != nil {
			t.Fatal(err)
		}
		if r.status == http.StatusOK {
			seen[p.ReferralID] = true
		}
	}
	if len(seen) != 15 {
		t.Errorf("agency accepted %d distinct referrals, want 15", len(seen))
	}
	if n := len(e.pending()); n != 0 {
		t.Errorf("%d webhooks still pending", n)
	}
}
