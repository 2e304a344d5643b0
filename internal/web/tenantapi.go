package web

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/careerrelay/careerrelay/configs"
	"github.com/careerrelay/careerrelay/internal/referral"
	"github.com/careerrelay/careerrelay/internal/report"
	"github.com/careerrelay/careerrelay/store"
	gosmtp "github.com/emersion/go-smtp"
)

// TenantService is what the tenant API needs of the bookkeeping;
// *referral.Service has it.
type TenantService interface {
	Mint(ctx context.Context, tenant, keyID, idemKey string, cands []referral.Candidate) ([]referral.Minted, error)
	Balance(tenant string) (*referral.Balance, error)
	report.Source
}

// The tenant API, on http.listen, for a tenant's own systems (an ATS that
// sends its own mail); each request needs "Authorization: Bearer <key>"
// with a key of tenants[].api_keys of the tenant in the path:
//
//	POST /api/v1/tenants/{id}/links    {"email","name"} -> 201 {"url","send_id"};
//	                                   {"candidates":[...]} (up to 1,000) -> 201 {"links":[...]}
//	GET  /api/v1/tenants/{id}/report   ?from=&to=&format=json|csv|html -> the impact report
//	GET  /api/v1/tenants/{id}/balance  -> referral.Balance
//
// Errors are {"error": message, "code": code}: bad_request 400,
// unauthorized 401 (no key, or a key of no tenant), forbidden 403
// (another tenant's key), not_found 404, method_not_allowed 405,
// idempotency_conflict 409, rate_limited 429 (Retry-After), unavailable
// 503 (the store; retry, with the same Idempotency-Key for links),
// internal 500. A refused request stores nothing. docs/openapi.yaml
// describes it.

// Rate limit of each API key: a burst, refilled per second. A batch of
// 1,000 links is one request.
const (
	apiKeyBurst     = 40
	apiKeyPerSecond = 20
	maxAPIBody      = 1 << 20 // a batch of 1,000 candidates with names
	maxIdemKey      = 200
)

// Submitter takes a message for the tenant API as the SMTP listener takes
// DATA (*inbound.Server has it): it returns the queue ids once the copies
// are durable, or an *gosmtp.SMTPError with the reply SMTP would give.
type Submitter interface {
	Submit(ctx context.Context, t *configs.Tenant, keyID string, client netip.Addr, from string, rcpts []string, body io.Reader) ([]string, error)
}

// SetSubmitter gives the tenant API what takes messages; call it before
// Listen. Without it, POST .../messages answers 503.
func (p *Public) SetSubmitter(s Submitter) {
	if p.api != nil {
		p.api.submit = s
	}
}

// tenantAPIRoutes are the tenant API's routes (docs/openapi.yaml describes
// each; a test holds the two together).
var tenantAPIRoutes = []struct{ Method, Path string }{
	{http.MethodPost, "/api/v1/tenants/{id}/links"},
	{http.MethodPost, "/api/v1/tenants/{id}/messages"},
	{http.MethodGet, "/api/v1/tenants/{id}/report"},
	{http.MethodGet, "/api/v1/tenants/{id}/balance"},
}

// apiKey is a configured key: its digest and whose it is.
type apiKey struct {
	sum    []byte
	tenant string
	id     string
}

type tenantAPI struct {
	cfg    *configs.Config
	svc    TenantService
	log    *slog.Logger
	keys   []apiKey
	limits *keyLimits
	submit Submitter // nil: messages answer 503
}

// registerTenantAPI adds the tenant API's routes to mux.
func registerTenantAPI(mux *http.ServeMux, cfg *configs.Config, svc TenantService, log *slog.Logger) *tenantAPI {
	a := &tenantAPI{cfg: cfg, svc: svc, log: log.With("component", "tenant-api"), limits: newKeyLimits(time.Now)}
	for _, t := range cfg.Tenants {
		for _, k := range t.APIKeys {
			a.keys = append(a.keys, apiKey{sum: k.Sum, tenant: t.ID, id: k.ID})
		}
	}
	// As tenantAPIRoutes lists them.
	mux.HandleFunc("POST /api/v1/tenants/{id}/links", a.auth(a.links))
	mux.HandleFunc("POST /api/v1/tenants/{id}/messages", a.auth(a.messages))
	mux.HandleFunc("GET /api/v1/tenants/{id}/report", a.auth(a.report))
	mux.HandleFunc("GET /api/v1/tenants/{id}/balance", a.auth(a.balance))
	for _, rt := range tenantAPIRoutes {
		allow := rt.Method
		if rt.Method == http.MethodGet {
			allow = "GET, HEAD"
		}
		mux.HandleFunc(rt.Path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", allow)
			apiError(w, http.StatusMethodNotAllowed, "method_not_allowed", r.Method+" is not allowed here")
		})
	}
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		apiError(w, http.StatusNotFound, "not_found", "no such endpoint: "+r.URL.Path)
	})
	return a
}

// caller is an authenticated request's tenant and key id.
type caller struct {
	tenant, keyID string
}

// auth lets a request through only with a key of the tenant in the path.
// Every configured key is compared, in constant time, whatever matches.
func (a *tenantAPI) auth(next func(http.ResponseWriter, *http.Request, caller)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		sum := sha256.Sum256([]byte(strings.TrimSpace(got)))
		var match *apiKey
		for i := range a.keys {
			if subtle.ConstantTimeCompare(sum[:], a.keys[i].sum) == 1 && ok {
				match = &a.keys[i]
			}
		}
		tenant := r.PathValue("id")
		switch {
		case match == nil:
			w.Header().Set("WWW-Authenticate", `Bearer realm="careerrelay"`)
			apiError(w, http.StatusUnauthorized, "unauthorized", "missing or unknown API key (Authorization: Bearer <key>)")
			return
		case match.tenant != tenant:
			a.log.Warn("API key used for another tenant", "key_tenant", match.tenant, "key", match.id, "path_tenant", tenant)
			apiError(w, http.StatusForbidden, "forbidden", "this key is not a key of tenant "+strconv.Quote(tenant))
			return
		}
		if wait := a.limits.take(match.tenant + "\x00" + match.id); wait > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int(wait/time.Second)+1))
			apiError(w, http.StatusTooManyRequests, "rate_limited", "too many requests with this key; retry later")
			return
		}
		next(w, r, caller{tenant: match.tenant, keyID: match.id})
	}
}

// linksRequest is one candidate, or a batch of them.
type linksRequest struct {
	referral.Candidate
	Candidates []referral.Candidate `json:"candidates"`
}

func (a *tenantAPI) links(w http.ResponseWriter, r *http.Request, c caller) {
	idem := r.Header.Get("Idempotency-Key")
	if len(idem) > maxIdemKey {
		apiError(w, http.StatusBadRequest, "bad_request", fmt.Sprintf("Idempotency-Key longer than %d characters", maxIdemKey))
		return
	}
	var req linksRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, maxAPIBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		apiError(w, http.StatusBadRequest, "bad_request", "the body is not a JSON object {\"email\", \"name\"} or {\"candidates\": [...]}: "+err.Error())
		return
	}
	batch := req.Candidates != nil
	cands := req.Candidates
	switch {
	case batch && req.Email != "":
		apiError(w, http.StatusBadRequest, "bad_request", "send either email (one candidate) or candidates (a list), not both")
		return
	case !batch:
		cands = []referral.Candidate{req.Candidate}
	}
	minted, err := a.svc.Mint(r.Context(), c.tenant, c.keyID, idem, cands)
	if err != nil {
		a.fail(w, "links", err)
		return
	}
	a.log.Info("links made", "tenant", c.tenant, "key", c.keyID, "links", len(minted))
	if batch {
		writeJSON(w, http.StatusCreated, map[string]any{"links": minted})
		return
	}
	writeJSON(w, http.StatusCreated, minted[0])
}

// messages takes a message (message/rfc822) with its envelope in the
// query (?from=&to=&to=...) through the same path as SMTP DATA, and
// answers 202 {"queue_ids": [...]} once it is durable. What SMTP refuses
// with 5xx is 4xx here (413 too large, 403 not the key's tenant, 400
// otherwise); a 4xx of SMTP is 503 (retry later).
func (a *tenantAPI) messages(w http.ResponseWriter, r *http.Request, c caller) {
	if a.submit == nil {
		apiError(w, http.StatusServiceUnavailable, "unavailable", "this server takes no messages over HTTP")
		return
	}
	if ct, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";"); !strings.EqualFold(strings.TrimSpace(ct), "message/rfc822") {
		apiError(w, http.StatusUnsupportedMediaType, "unsupported_media_type", "send the message as Content-Type: message/rfc822")
		return
	}
	q := r.URL.Query()
	client, _ := netip.ParseAddrPort(r.RemoteAddr)
	body := http.MaxBytesReader(w, r.Body, a.cfg.SMTP.MaxMessageBytes+64<<10)
	ids, err := a.submit.Submit(r.Context(), a.cfg.TenantByID(c.tenant), c.keyID, client.Addr(), q.Get("from"), q["to"], body)
	if err != nil {
		var se *gosmtp.SMTPError
		if !errors.As(err, &se) {
			a.fail(w, "messages", err)
			return
		}
		msg := fmt.Sprintf("%d %d.%d.%d %s", se.Code, se.EnhancedCode[0], se.EnhancedCode[1], se.EnhancedCode[2], se.Message)
		switch {
		case se.Code/100 == 4:
			w.Header().Set("Retry-After", "60")
			apiError(w, http.StatusServiceUnavailable, "unavailable", msg)
		case se.Code == 552:
			apiError(w, http.StatusRequestEntityTooLarge, "too_large", msg)
		case se.EnhancedCode[1] == 7:
			apiError(w, http.StatusForbidden, "forbidden", msg)
		default:
			apiError(w, http.StatusBadRequest, "bad_request", msg)
		}
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"queue_ids": ids})
}

func (a *tenantAPI) report(w http.ResponseWriter, r *http.Request, c caller) {
	serveReport(w, r, a.svc, a.cfg.TenantByID(c.tenant), a.fail)
}

func (a *tenantAPI) balance(w http.ResponseWriter, r *http.Request, c caller) {
	b, err := a.svc.Balance(c.tenant)
	if err != nil {
		a.fail(w, "balance", err)
		return
	}
	writeJSON(w, http.StatusOK, b)
}

// fail answers an error of the bookkeeping.
func (a *tenantAPI) fail(w http.ResponseWriter, op string, err error) {
	switch {
	case errors.Is(err, referral.ErrBadCandidate):
		apiError(w, http.StatusBadRequest, "bad_request", err.Error())
	case errors.Is(err, referral.ErrIdempotencyConflict):
		apiError(w, http.StatusConflict, "idempotency_conflict", "this Idempotency-Key was used in the last 24 hours for other candidates")
	case errors.Is(err, referral.ErrUnknownTenant):
		apiError(w, http.StatusNotFound, "not_found", err.Error())
	case errors.Is(err, store.ErrCommitUncertain), errors.Is(err, store.ErrFailed):
		a.log.Error("tenant API "+op+": the store failed", "err", err)
		w.Header().Set("Retry-After", "60")
		apiError(w, http.StatusServiceUnavailable, "unavailable",
			op+": the store could not confirm the request; retry later with the same Idempotency-Key, which answers with the links if they were made")
	default:
		a.log.Error("tenant API "+op, "err", err)
		apiError(w, http.StatusInternalServerError, "internal", op+" failed; the operator's log has the details")
	}
}

// keyLimits is a token bucket per API key.
type keyLimits struct {
	now     func() time.Time
	burst   float64 // apiKeyBurst; tests raise it
	rate    float64 // apiKeyPerSecond
	mu      sync.Mutex
	buckets map[string]*keyBucket
}

type keyBucket struct {
	tokens float64
	at     time.Time
}

func newKeyLimits(now func() time.Time) *keyLimits {
	return &keyLimits{now: now, burst: apiKeyBurst, rate: apiKeyPerSecond, buckets: map[string]*keyBucket{}}
}

// take spends one token of key; it returns 0, or how long until one is
// there (nothing spent).
func (l *keyLimits) take(key string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b := l.buckets[key]
	if b == nil {
		b = &keyBucket{tokens: l.burst, at: now}
		l.buckets[key] = b
	}
	b.tokens = min(l.burst, b.tokens+now.Sub(b.at).Seconds()*l.rate)
	b.at = now
	if b.tokens < 1 {
		return time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
	}
	b.tokens--
	return 0
}
