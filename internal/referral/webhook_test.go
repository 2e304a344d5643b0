package referral

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/careerrelay/careerrelay/internal/metrics"
	"github.com/careerrelay/careerrelay/internal/testlib"
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
		"consent_seconds": 0.0,
	}
	// A consent at the second of the send: the quick_consent signal.
	if sig := fmt.Sprint(p["signals"]); sig != "[map[name:quick_consent]]" {
		t.Errorf("payload signals = %s", sig)
	}
	delete(p, "signals")
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

// hangingAgency is an agency whose answer to a request can be held: hold
// says which requests wait (by referral id) until release is called or the
// client gives up. It records the most requests it ever handled at once.
type hangingAgency struct {
	*agency
	hold    func(id string) bool
	release chan struct{}
	once    sync.Once

	mu        sync.Mutex
	active    map[string]int // referral id -> requests being handled
	maxActive int
	overlap   []string // referral ids that had two requests at once
}

func newHangingAgency(t *testing.T, hold func(id string) bool) *hangingAgency {
	h := &hangingAgency{agency: newAgency(t, http.StatusOK), hold: hold, release: make(chan struct{}), active: map[string]int{}}
	// The handler is replaced to hold requests before answering.
	h.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var p WebhookPayload
		if err := json.Unmarshal(body, &p); err != nil {
			t.Errorf("agency: %v", err)
		}
		h.mu.Lock()
		h.active[p.ReferralID]++
		if h.active[p.ReferralID] > 1 {
			h.overlap = append(h.overlap, p.ReferralID)
		}
		n := 0
		for _, c := range h.active {
			n += c
		}
		h.maxActive = max(h.maxActive, n)
		h.mu.Unlock()
		h.agency.mu.Lock()
		h.got = append(h.got, received{body: body, sig: r.Header.Get(SignatureHeader), ctype: r.Header.Get("Content-Type"), status: http.StatusOK})
		h.agency.mu.Unlock()
		if h.hold(p.ReferralID) {
			select {
			case <-h.release:
			case <-r.Context().Done():
			}
		}
		h.mu.Lock()
		h.active[p.ReferralID]--
		h.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	})
	// Before the server closes (cleanups run last first), let every held
	// request go.
	t.Cleanup(h.letGo)
	return h
}

func (h *hangingAgency) letGo() { h.once.Do(func() { close(h.release) }) }

// requests returns how many requests for id the agency got.
func (h *hangingAgency) requests(id string) int {
	n := 0
	for _, r := range h.received() {
		var p WebhookPayload
		if json.Unmarshal(r.body, &p) == nil && p.ReferralID == id {
			n++
		}
	}
	return n
}

// runWebhooks starts RunWebhooks and returns its stop function; each
// attempt's referral id and result are sent on the returned channel.
func (e *env) runWebhooks() (results <-chan [2]string, stop func()) {
	ch := make(chan [2]string, 100)
	e.s.testAttempted = func(id, result string) { ch <- [2]string{id, result} }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- e.s.RunWebhooks(ctx) }()
	return ch, func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				e.t.Errorf("RunWebhooks: %v", err)
			}
		case <-time.After(20 * time.Second):
			e.t.Fatal("RunWebhooks did not return 20s after its context was cancelled")
		}
	}
}

// waitResults waits for a result for each of ids and returns them.
func waitResults(t *testing.T, ch <-chan [2]string, ids ...string) map[string]string {
	t.Helper()
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	got := map[string]string{}
	for len(got) < len(want) {
		select {
		case r := <-ch:
			if !want[r[0]] {
				t.Fatalf("attempt of %s (%s), waiting for %v", r[0], r[1], ids)
			}
			got[r[0]] = r[1]
		case <-time.After(20 * time.Second):
			t.Fatalf("after 20s, results for %d of %d webhooks: %v", len(got), len(want), got)
		}
	}
	return got
}

// One agency request hangs: the other webhooks are delivered meanwhile, the
// hanging one is not sent again while it hangs (even once its retry time
// has come), and it is delivered once released.
func TestWebhookHangingRequestHoldsNoOther(t *testing.T) {
	var hung string
	var mu sync.Mutex
	a := newHangingAgency(t, func(id string) bool {
		mu.Lock()
		defer mu.Unlock()
		return id == hung
	})
	e := newEnv(t, a.URL)
	// The first referral is made before the sender starts, so that its
	// id is known to the agency when the request comes.
	first := e.refer("acme", "first@cand.example")
	mu.Lock()
	hung = first.ID
	mu.Unlock()
	results, stop := e.runWebhooks()
	defer stop()
	testlib.WaitFor(t, 20*time.Second, "the first webhook's request", func() bool { return a.requests(first.ID) == 1 })

	others := e.referN("acme", "other", 6)
	var ids []string
	for _, r := range others {
		ids = append(ids, r.ID)
	}
	for id, res := range waitResults(t, results, ids...) {
		if res != "ok" {
			t.Errorf("webhook %s: %s", id, res)
		}
	}
	// The hanging webhook falls due again (its retry time passes) and the
	// sender is woken: it is still in flight, so it is not sent again.
	e.clock.Advance(time.Hour)
	late := e.refer("beta", "late@cand.example")
	if res := waitResults(t, results, late.ID)[late.ID]; res != "ok" {
		t.Errorf("late webhook: %s", res)
	}
	if n := a.requests(first.ID); n != 1 {
		t.Errorf("the hanging webhook was sent %d times while in flight", n)
	}
	if p := e.pending(); len(p) != 1 || p[0].ReferralID != first.ID || p[0].Attempts != 1 {
		t.Errorf("pending while the first hangs: %+v", p)
	}

	a.letGo()
	if res := waitResults(t, results, first.ID)[first.ID]; res != "ok" {
		t.Errorf("released webhook: %s", res)
	}
	if p := e.pending(); len(p) != 0 {
		t.Errorf("pending at the end: %+v", p)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.overlap) > 0 {
		t.Errorf("webhooks sent twice at once: %v", a.overlap)
	}
}

// At most webhookConcurrency requests are in flight at once, and every
// webhook is delivered once they are answered.
func TestWebhookConcurrencyBounded(t *testing.T) {
	a := newHangingAgency(t, func(string) bool { return true })
	e := newEnv(t, a.URL)
	refs := e.referN("acme", "c", 2*webhookConcurrency+1)
	results, stop := e.runWebhooks()
	defer stop()
	testlib.WaitFor(t, 20*time.Second, "requests in flight", func() bool { return len(a.received()) >= webhookConcurrency })
	a.letGo()
	var ids []string
	for _, r := range refs {
		ids = append(ids, r.ID)
	}
	for id, res := range waitResults(t, results, ids...) {
		if res != "ok" {
			t.Errorf("webhook %s: %s", id, res)
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.maxActive != webhookConcurrency {
		t.Errorf("at most %d requests at once, want %d", a.maxActive, webhookConcurrency)
	}
	if len(a.overlap) > 0 {
		t.Errorf("webhooks sent twice at once: %v", a.overlap)
	}
}

// Shutdown while requests hang: RunWebhooks cancels them and returns, and
// the webhooks stay in the outbox with their attempt recorded.
func TestWebhookShutdownCancelsHangingRequests(t *testing.T) {
	a := newHangingAgency(t, func(string) bool { return true })
	e := newEnv(t, a.URL)
	e.referN("acme", "c", 3)
	_, stop := e.runWebhooks()
	testlib.WaitFor(t, 20*time.Second, "requests in flight", func() bool { return len(a.received()) == 3 })
	stop()
	p := e.pending()
	if len(p) != 3 {
		t.Fatalf("pending after shutdown: %+v", p)
	}
	for _, w := range p {
		if w.Attempts != 1 || !w.NextAttempt.After(t0) {
			t.Errorf("after shutdown: %+v", w)
		}
	}
}
