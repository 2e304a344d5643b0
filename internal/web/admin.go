package web

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/careerrelay/careerrelay/configs"
	"github.com/careerrelay/careerrelay/internal/referral"
	"github.com/careerrelay/careerrelay/store"
)

// maxAdminBody bounds an admin request body (a redeem note, a void reason).
const maxAdminBody = 64 << 10

// Admin is the listener on admin.listen: the JSON API behind
// `careerrelay ledger ...`. Every request needs
// "Authorization: Bearer <admin token>".
//
//	GET  /api/balance?tenant=ID                 -> referral.Balance
//	POST /api/redeem {"tenant":ID,"note":TEXT}  -> the redeem referral.Entry
//	POST /api/void {"referral_id":ID,"reason":TEXT} -> {"entries":[void, revoke?]} (admin_void.go)
//	GET  /api/ledger/export?tenant=ID&format=csv|json (tenant optional, format default json)
//	GET  /api/ledger/verify                     -> {"ok":bool,"entries":n,"head":hash,"error":text}
//	GET  /api/queue?limit=N                     -> the queue, oldest first (admin_queue.go)
//	GET  /api/report?tenant=ID&from=&to=&format=html|csv|json -> the impact report (admin_report.go)
//	POST /api/links {"tenant":ID,"candidates":[...]} -> {"links":[...]} (`careerrelay links`)
//	GET  /api/audit                             -> the audit trail of admin actions (`careerrelay audit`)
//	POST /api/privacy/export|erase|purge        -> a candidate's records, their erasure, a retention pass (admin_privacy.go)
//
// Errors are {"error": message, "code": code} with code and status
// bad_request 400, unauthorized 401, not_found 404 (unknown tenant,
// referral or path), method_not_allowed 405, no_credit 409,
// already_voided 409, internal 500.
type Admin struct {
	server
	tokenID string // the admin token's id in audit records: its digest's first 4 bytes, hex
	cfg     *configs.Config
	ledger  Ledger
	log     *slog.Logger
	token   [sha256.Size]byte
	// verify checks a ledger's hash chain; tests replace it.
	verify func([]referral.Entry) error
	queue  QueueReader // the store, for GET /api/queue (admin_queue.go)
}

// NewAdmin builds the admin API over ledger and the store's queue, with
// cfg.Admin.Token as the bearer token. With an empty token every request is
// refused; with a nil queue, GET /api/queue answers 503.
func NewAdmin(cfg *configs.Config, ledger Ledger, queue QueueReader, log *slog.Logger) *Admin {
	a := &Admin{cfg: cfg, ledger: ledger, queue: queue, log: log, verify: referral.Verify}
	a.token = sha256.Sum256([]byte(cfg.Admin.Token))
	a.tokenID = hex.EncodeToString(a.token[:4])
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/balance", a.balance)
	mux.HandleFunc("POST /api/redeem", a.redeem)
	mux.HandleFunc("POST /api/void", a.void)
	mux.HandleFunc("GET /api/ledger/export", a.export)
	mux.HandleFunc("GET /api/ledger/verify", a.verifyLedger)
	mux.HandleFunc("/api/report", a.impactReport)
	mux.HandleFunc("POST /api/links", a.mintLinks)
	mux.HandleFunc("GET /api/audit", a.auditTrail)
	a.registerQueue(mux)   // GET /api/queue, admin_queue.go
	a.registerPrivacy(mux) // POST /api/privacy/..., admin_privacy.go
	for _, path := range []string{"/api/balance", "/api/redeem", "/api/void", "/api/ledger/export", "/api/ledger/verify", "/api/links", "/api/audit",
		"/api/privacy/export", "/api/privacy/erase", "/api/privacy/purge"} {
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			apiError(w, http.StatusMethodNotAllowed, "method_not_allowed", r.Method+" is not allowed on "+path)
		})
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		apiError(w, http.StatusNotFound, "not_found", "no such endpoint: "+r.URL.Path)
	})
	a.server = newServer("admin", a.auth(mux), log)
	return a
}

// auth lets a request through only with the right bearer token. The
// comparison is over SHA-256 digests, so it takes the same time whatever
// the length and content of the token sent.
func (a *Admin) auth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		sum := sha256.Sum256([]byte(strings.TrimSpace(got)))
		if !ok || a.cfg.Admin.Token == "" || subtle.ConstantTimeCompare(sum[:], a.token[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="careerrelay admin"`)
			apiError(w, http.StatusUnauthorized, "unauthorized", "missing or wrong admin token (Authorization: Bearer <admin token>)")
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// tenantParam returns the tenant of ?tenant=, answering 400 or 404 itself
// when it is missing (and required) or unknown.
func (a *Admin) tenantParam(w http.ResponseWriter, id string, required bool) (string, bool) {
	switch {
	case id == "" && required:
		apiError(w, http.StatusBadRequest, "bad_request", "tenant is required")
		return "", false
	case id != "" && a.cfg.TenantByID(id) == nil:
		apiError(w, http.StatusNotFound, "not_found", fmt.Sprintf("unknown tenant %q", id))
		return "", false
	}
	return id, true
}

func (a *Admin) balance(w http.ResponseWriter, r *http.Request) {
	tenant, ok := a.tenantParam(w, r.URL.Query().Get("tenant"), true)
	if !ok {
		return
	}
	b, err := a.ledger.Balance(tenant)
	if err != nil {
		a.fail(w, "balance", err)
		return
	}
	writeJSON(w, http.StatusOK, b)
}

// adminLinksRequest is a batch of candidates of one tenant.
type adminLinksRequest struct {
	Tenant     string               `json:"tenant"`
	Candidates []referral.Candidate `json:"candidates"`
}

// mintLinks makes personal links for candidates (careerrelay links, for a
// mail merge), as the tenant API does.
func (a *Admin) mintLinks(w http.ResponseWriter, r *http.Request) {
	m, ok := a.ledger.(interface {
		Mint(ctx context.Context, tenant, keyID, idemKey string, cands []referral.Candidate) ([]referral.Minted, error)
	})
	if !ok {
		apiError(w, http.StatusNotImplemented, "not_implemented", "this server's bookkeeping cannot make links")
		return
	}
	var req adminLinksRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, maxAPIBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		apiError(w, http.StatusBadRequest, "bad_request", "the body is not {\"tenant\", \"candidates\"}: "+err.Error())
		return
	}
	if _, ok := a.tenantParam(w, req.Tenant, true); !ok {
		return
	}
	links, err := m.Mint(r.Context(), req.Tenant, "admin", r.Header.Get("Idempotency-Key"), req.Candidates)
	if err != nil {
		if errors.Is(err, referral.ErrBadCandidate) {
			apiError(w, http.StatusBadRequest, "bad_request", err.Error())
			return
		}
		a.fail(w, "links", err)
		return
	}
	a.log.Info("links made", "tenant", req.Tenant, "links", len(links))
	a.audit(r, "links", req.Tenant, fmt.Sprintf("%d links", len(links)))
	writeJSON(w, http.StatusCreated, map[string]any{"links": links})
}

// auditor is the bookkeeping's audit trail; *referral.Service has it.
type auditor interface {
	RecordAudit(ctx context.Context, a referral.AuditRecord) error
	Audit() ([]referral.AuditRecord, error)
}

// audit records an admin action done by this request's token. It never
// fails the action, which is done: a record that cannot be written is
// logged as an error.
func (a *Admin) audit(r *http.Request, action, tenant, detail string) {
	au, ok := a.ledger.(auditor)
	if !ok {
		return
	}
	rec := referral.AuditRecord{Token: a.tokenID, Action: action, Tenant: tenant, Detail: detail}
	if err := au.RecordAudit(context.WithoutCancel(r.Context()), rec); err != nil {
		a.log.Error("cannot write the audit record of an admin action", "action", action, "tenant", tenant, "err", err)
	}
}

// auditTrail answers the audit trail, oldest first.
func (a *Admin) auditTrail(w http.ResponseWriter, r *http.Request) {
	au, ok := a.ledger.(auditor)
	if !ok {
		apiError(w, http.StatusNotImplemented, "not_implemented", "this server's bookkeeping keeps no audit trail")
		return
	}
	recs, err := au.Audit()
	if err != nil {
		a.fail(w, "audit", err)
		return
	}
	if recs == nil {
		recs = []referral.AuditRecord{}
	}
	writeJSON(w, http.StatusOK, recs)
}

type redeemRequest struct {
	Tenant string `json:"tenant"`
	Note   string `json:"note"`
}

func (a *Admin) redeem(w http.ResponseWriter, r *http.Request) {
	var req redeemRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxAdminBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		apiError(w, http.StatusBadRequest, "bad_request", "body must be JSON {\"tenant\": ID, \"note\": TEXT}: "+err.Error())
		return
	}
	if dec.More() {
		apiError(w, http.StatusBadRequest, "bad_request", "body must be one JSON object")
		return
	}
	tenant, ok := a.tenantParam(w, req.Tenant, true)
	if !ok {
		return
	}
	e, err := a.ledger.Redeem(r.Context(), tenant, req.Note)
	if err != nil {
		a.fail(w, "redeem", err)
		return
	}
	a.log.Info("credit redeemed", "tenant", tenant, "seq", e.Seq)
	a.audit(r, "redeem", tenant, fmt.Sprintf("ledger entry %d", e.Seq))
	writeJSON(w, http.StatusOK, e)
}

func (a *Admin) export(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	tenant, ok := a.tenantParam(w, q.Get("tenant"), false)
	if !ok {
		return
	}
	format := q.Get("format")
	var ctype string
	switch format {
	case "", "json":
		format, ctype = "json", "application/json"
	case "csv":
		ctype = "text/csv; charset=utf-8"
	default:
		apiError(w, http.StatusBadRequest, "bad_request", fmt.Sprintf("format %q is not csv or json", format))
		return
	}
	lw := &lazyWriter{w: w, ctype: ctype}
	if err := a.ledger.Export(lw, tenant, format); err != nil {
		if !lw.started {
			a.fail(w, "export", err)
			return
		}
		// Too late for a status: cut the reply short so the client sees
		// a broken transfer rather than a truncated ledger.
		a.log.Error("ledger export failed mid-way", "tenant", tenant, "err", err)
		panic(http.ErrAbortHandler)
	}
	if !lw.started {
		lw.start()
	}
	a.audit(r, "export", tenant, "ledger, "+format)
}

// lazyWriter sends the status and Content-Type with the first byte, so an
// export that fails before writing can still answer a JSON error.
type lazyWriter struct {
	w       http.ResponseWriter
	ctype   string
	started bool
}

func (l *lazyWriter) start() {
	l.started = true
	l.w.Header().Set("Content-Type", l.ctype)
	l.w.WriteHeader(http.StatusOK)
}

func (l *lazyWriter) Write(p []byte) (int, error) {
	if !l.started {
		l.start()
	}
	return l.w.Write(p)
}

type verifyReply struct {
	OK      bool   `json:"ok"`
	Entries int    `json:"entries"`
	Head    string `json:"head,omitempty"` // hash of the last entry
	Error   string `json:"error,omitempty"`
}

// verifyLedger runs Verify over the whole ledger. A broken chain is an
// answer, not a failure of the request: 200 with ok false and the error.
func (a *Admin) verifyLedger(w http.ResponseWriter, r *http.Request) {
	entries, err := a.ledger.Ledger()
	if err != nil {
		a.fail(w, "ledger", err)
		return
	}
	rep := verifyReply{OK: true, Entries: len(entries)}
	if len(entries) > 0 {
		rep.Head = entries[len(entries)-1].Hash
	}
	if err := a.verify(entries); err != nil {
		rep.OK, rep.Error = false, err.Error()
		a.log.Warn("ledger does not verify", "entries", len(entries), "err", err)
	}
	writeJSON(w, http.StatusOK, rep)
}

// fail maps a service error to its reply; unexpected errors are logged and
// answered without their text.
func (a *Admin) fail(w http.ResponseWriter, op string, err error) {
	switch {
	case errors.Is(err, referral.ErrNoCredit):
		apiError(w, http.StatusConflict, "no_credit", err.Error())
	case errors.Is(err, referral.ErrAlreadyVoided):
		apiError(w, http.StatusConflict, "already_voided", err.Error())
	case errors.Is(err, referral.ErrUnknownTenant), errors.Is(err, referral.ErrNotFound):
		apiError(w, http.StatusNotFound, "not_found", err.Error())
	case errors.Is(err, referral.ErrBadText):
		apiError(w, http.StatusBadRequest, "bad_request", err.Error())
	case errors.Is(err, store.ErrCommitUncertain):
		// "failed" could hide a recorded change (a redemption, which a
		// blind retry would make twice): say what is known.
		a.log.Error("admin "+op+": unknown whether it is stored", "err", err)
		apiError(w, http.StatusInternalServerError, "outcome_unknown",
			op+": the store could not confirm whether this is recorded and has stopped; after a restart, check the ledger before trying again")
	default:
		a.log.Error("admin "+op, "err", err)
		apiError(w, http.StatusInternalServerError, "internal", op+" failed; see the server log")
	}
}

type apiErr struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}

func apiError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, apiErr{Error: msg, Code: code})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}
