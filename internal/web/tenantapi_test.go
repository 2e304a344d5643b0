package web

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/careerrelay/careerrelay/configs"
	"github.com/careerrelay/careerrelay/internal/referral"
	"github.com/careerrelay/careerrelay/store"
)

const (
	acmeAPIKey = "acme-test-key-0123456789abcdefghijklmnopq"
	betaAPIKey = "beta-test-key-0123456789abcdefghijklmnopq"
)

func keyOf(id, key string) configs.APIKey {
	sum := sha256.Sum256([]byte(key))
	return configs.APIKey{ID: id, Sum: sum[:]}
}

// newAPIEnv is the real environment with tenants acme and beta, each with
// an API key.
func newAPIEnv(t *testing.T) (*realEnv, *testPublic) {
	t.Helper()
	cfg := testConfig()
	cfg.Tenants[0].APIKeys = []configs.APIKey{keyOf("ats1", acmeAPIKey)}
	cfg.Tenants = append(cfg.Tenants, configs.Tenant{ID: "beta", Name: "株式会社ベータ", Domains: []string{"beta.example"},
		ReferralsPerCredit: 10, APIKeys: []configs.APIKey{keyOf("ats1", betaAPIKey)}})
	e := newRealEnvConfig(t, cfg, filepath.Join(t.TempDir(), "careerrelay.db"), store.Options{})
	return e, &testPublic{Public: e.pub}
}

func apiReq(tp *testPublic, method, path, key, body string, hdr ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return tp.do(req)
}

func sendCount(t *testing.T, e *realEnv) int {
	t.Helper()
	n := 0
	e.svc.Sends(func(*store.Send) error { n++; return nil })
	return n
}

// TestTenantAPIKeyScoping: every route answers 401 without a key or with
// an unknown one, 403 with another tenant's key, and stores nothing then.
func TestTenantAPIKeyScoping(t *testing.T) {
	e, tp := newAPIEnv(t)
	routes := []struct{ method, path, body string }{
		{http.MethodPost, "/api/v1/tenants/acme/links", `{"email":"taro@cand.example"}`},
		{http.MethodGet, "/api/v1/tenants/acme/report?format=json", ""},
		{http.MethodGet, "/api/v1/tenants/acme/balance", ""},
	}
	for _, r := range routes {
		for _, c := range []struct {
			key  string
			code int
		}{{"", 401}, {"wrong-key", 401}, {betaAPIKey, 403}, {acmeAPIKey, 0}} {
			rec := apiReq(tp, r.method, r.path, c.key, r.body)
			if c.code == 0 {
				if rec.Code/100 != 2 {
					t.Errorf("%s %s with acme's key: %d %s", r.method, r.path, rec.Code, rec.Body)
				}
				continue
			}
			if rec.Code != c.code || !strings.Contains(rec.Body.String(), `"code"`) {
				t.Errorf("%s %s with key %q: %d %s, want %d", r.method, r.path, c.key, rec.Code, rec.Body, c.code)
			}
		}
	}
	if n := sendCount(t, e); n != 1 {
		t.Errorf("%d send records after one accepted request", n)
	}
	// beta's key opens beta's routes, and an unknown tenant is another's.
	if rec := apiReq(tp, http.MethodGet, "/api/v1/tenants/beta/balance", betaAPIKey, ""); rec.Code != 200 {
		t.Errorf("beta balance: %d", rec.Code)
	}
	if rec := apiReq(tp, http.MethodGet, "/api/v1/tenants/gamma/balance", acmeAPIKey, ""); rec.Code != 403 {
		t.Errorf("unknown tenant: %d", rec.Code)
	}
	if rec := apiReq(tp, http.MethodDelete, "/api/v1/tenants/acme/links", acmeAPIKey, ""); rec.Code != 405 {
		t.Errorf("DELETE links: %d", rec.Code)
	}
}

// TestTenantAPILinksCountLikeMail: links made through the API open the
// landing page and count toward the 10-to-1 credit together with links
// the relay wrote into mails.
func TestTenantAPILinksCountLikeMail(t *testing.T) {
	e, tp := newAPIEnv(t)
	rec := apiReq(tp, http.MethodPost, "/api/v1/tenants/acme/links", acmeAPIKey, `{"email":"hanako@cand.example","name":"候補 花子"}`)
	if rec.Code != http.StatusCreated {
		t.Fatalf("one link: %d %s", rec.Code, rec.Body)
	}
	var one referral.Minted
	json.Unmarshal(rec.Body.Bytes(), &one)
	var cands []string
	for i := range 4 {
		cands = append(cands, fmt.Sprintf(`{"email":"api%d@cand.example","name":"候補 %d"}`, i, i))
	}
	rec = apiReq(tp, http.MethodPost, "/api/v1/tenants/acme/links", acmeAPIKey, `{"candidates":[`+strings.Join(cands, ",")+`]}`)
	var batch struct{ Links []referral.Minted }
	if rec.Code != http.StatusCreated || json.Unmarshal(rec.Body.Bytes(), &batch) != nil || len(batch.Links) != 4 {
		t.Fatalf("batch: %d %s", rec.Code, rec.Body)
	}
	tokens := e.mail(t, 5) // relayed mails
	for _, m := range append(batch.Links, one) {
		tok, ok := strings.CutPrefix(m.URL, e.cfg.Links.BaseURL+"/c/")
		if !ok {
			t.Fatalf("link %s", m.URL)
		}
		l, err := e.svc.Resolve(tok)
		if err != nil || l.Send.ID != m.SendID || l.Send.Delivery != store.SendMinted {
			t.Fatalf("link %s resolves to %+v, %v", m.URL, l, err)
		}
		tokens = append(tokens, tok)
	}
	if rec := tp.get("/c/" + tokens[len(tokens)-1]); rec.Code != 200 || !strings.Contains(rec.Body.String(), "株式会社アクメ") {
		t.Fatalf("landing page of a minted link: %d", rec.Code)
	}
	for _, tok := range tokens {
		if rec := tp.post("/c/"+tok, tp.consentForm(t, tok)); rec.Code != http.StatusSeeOther {
			t.Fatalf("consent: %d", rec.Code)
		}
	}
	b, err := e.svc.Balance("acme")
	if err != nil || b.Referrals != 10 || b.Granted != 1 {
		t.Errorf("balance after 5 relayed and 5 minted consents: %+v %v", b, err)
	}
	rec = apiReq(tp, http.MethodGet, "/api/v1/tenants/acme/balance", acmeAPIKey, "")
	if !strings.Contains(rec.Body.String(), `"granted": 1`) {
		t.Errorf("balance via the API: %s", rec.Body)
	}
}

// TestTenantAPILinksRefusals: a bad address names its candidate and
// stores nothing; too many candidates, both forms at once, and unknown
// fields are refused.
func TestTenantAPILinksRefusals(t *testing.T) {
	e, tp := newAPIEnv(t)
	for _, c := range []struct{ body, want string }{
		{`{"candidates":[{"email":"ok@cand.example"},{"email":"no-at-sign"}]}`, "candidate 2"},
		{`{"email":"root@localhost"}`, "candidate 1"},
		{`{"candidates":[]}`, "0 candidates"},
		{`{"email":"a@cand.example","candidates":[{"email":"b@cand.example"}]}`, "not both"},
		{`{"mail":"a@cand.example"}`, "unknown field"},
		{`not json`, "not a JSON object"},
		{`{"candidates":[` + strings.TrimSuffix(strings.Repeat(`{"email":"x@cand.example"},`, 1001), ",") + `]}`, "1001 candidates"},
	} {
		rec := apiReq(tp, http.MethodPost, "/api/v1/tenants/acme/links", acmeAPIKey, c.body)
		if rec.Code != 400 || !strings.Contains(rec.Body.String(), c.want) {
			t.Errorf("%.60s: %d %s, want 400 with %q", c.body, rec.Code, rec.Body, c.want)
		}
	}
	if n := sendCount(t, e); n != 0 {
		t.Errorf("%d send records after refused requests", n)
	}
}

// TestTenantAPIIdempotency: the same Idempotency-Key answers the same
// links without making more; with other candidates it is a conflict.
func TestTenantAPIIdempotency(t *testing.T) {
	e, tp := newAPIEnv(t)
	body := `{"candidates":[{"email":"a@cand.example"},{"email":"b@cand.example"}]}`
	first := apiReq(tp, http.MethodPost, "/api/v1/tenants/acme/links", acmeAPIKey, body, "Idempotency-Key", "batch-7")
	again := apiReq(tp, http.MethodPost, "/api/v1/tenants/acme/links", acmeAPIKey, body, "Idempotency-Key", "batch-7")
	if first.Code != 201 || again.Code != 201 || first.Body.String() != again.Body.String() {
		t.Fatalf("repeat: %d %s / %d %s", first.Code, first.Body, again.Code, again.Body)
	}
	if n := sendCount(t, e); n != 2 {
		t.Errorf("%d send records after a repeated request of 2", n)
	}
	other := apiReq(tp, http.MethodPost, "/api/v1/tenants/acme/links", acmeAPIKey, `{"email":"c@cand.example"}`, "Idempotency-Key", "batch-7")
	if other.Code != 409 || !strings.Contains(other.Body.String(), "idempotency_conflict") {
		t.Errorf("another request under the same key: %d %s", other.Code, other.Body)
	}
	// Keys are per API key: beta's same header is its own.
	if rec := apiReq(tp, http.MethodPost, "/api/v1/tenants/beta/links", betaAPIKey, body, "Idempotency-Key", "batch-7"); rec.Code != 201 {
		t.Errorf("beta with the same header: %d %s", rec.Code, rec.Body)
	}
}

// TestTenantAPIRateLimit: a key past its burst gets 429 with Retry-After.
func TestTenantAPIRateLimit(t *testing.T) {
	_, tp := newAPIEnv(t)
	var last *httptest.ResponseRecorder
	for range apiKeyBurst + 1 {
		last = apiReq(tp, http.MethodGet, "/api/v1/tenants/acme/balance", acmeAPIKey, "")
	}
	if last.Code != http.StatusTooManyRequests || last.Header().Get("Retry-After") == "" {
		t.Errorf("request %d: %d, Retry-After %q", apiKeyBurst+1, last.Code, last.Header().Get("Retry-After"))
	}
	if rec := apiReq(tp, http.MethodGet, "/api/v1/tenants/beta/balance", betaAPIKey, ""); rec.Code != 200 {
		t.Errorf("another key is not limited: %d", rec.Code)
	}
}

// TestTenantAPIReport: the tenant's report, in each format.
func TestTenantAPIReport(t *testing.T) {
	e, tp := newAPIEnv(t)
	e.mail(t, 3)
	rec := apiReq(tp, http.MethodGet, "/api/v1/tenants/acme/report?format=json&from=2026-01-01&to=2026-12-31", acmeAPIKey, "")
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"links_sent": 3`) {
		t.Errorf("report: %d %s", rec.Code, rec.Body)
	}
	rec = apiReq(tp, http.MethodGet, "/api/v1/tenants/acme/report?format=csv", acmeAPIKey, "")
	if rec.Code != 200 || !strings.HasPrefix(rec.Body.String(), "tenant,from,to,month") {
		t.Errorf("csv report: %d %.80s", rec.Code, rec.Body)
	}
}

// BenchmarkTenantAPILinks1000: batches of 1,000 links through the tenant
// API on a real store (each batch one durable commit); target: at least
// 2,000 links a second.
func BenchmarkTenantAPILinks1000(b *testing.B) {
	cfg := testConfig()
	cfg.Tenants[0].APIKeys = []configs.APIKey{keyOf("ats1", acmeAPIKey)}
	e := newRealEnvConfig(b, cfg, filepath.Join(b.TempDir(), "careerrelay.db"), store.Options{})
	tp := &testPublic{Public: e.pub}
	var sb strings.Builder
	sb.WriteString(`{"candidates":[`)
	for i := range 1000 {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"email":"cand%d@cand.example","name":"候補 %d"}`, i, i)
	}
	sb.WriteString(`]}`)
	body := sb.String()
	e.pub.api.limits.burst = 1e9 // measure the API, not its rate limit
	b.ResetTimer()
	for b.Loop() {
		if rec := apiReq(tp, http.MethodPost, "/api/v1/tenants/acme/links", acmeAPIKey, body); rec.Code != http.StatusCreated {
			b.Fatalf("%d %s", rec.Code, rec.Body)
		}
	}
	b.ReportMetric(float64(b.N*1000)/b.Elapsed().Seconds(), "links/s")
}
