package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/careerrelay/careerrelay/internal/referral"
)

// privacyOps is the privacy work of the bookkeeping (docs/privacy.md);
// *referral.Service has it.
type privacyOps interface {
	Erase(ctx context.Context, tenant, addr string) (*referral.Erasure, error)
	Disclose(tenant, addr string) (*referral.Disclosure, error)
	Purge(ctx context.Context) (*referral.Purged, error)
}

// privacyRequest names one candidate of one tenant. The address travels
// in the body, never in a URL (URLs end up in logs).
type privacyRequest struct {
	Tenant  string `json:"tenant"`
	Address string `json:"address"`
}

// registerPrivacy adds the privacy routes:
//
//	POST /api/privacy/export {"tenant","address"} -> referral.Disclosure
//	POST /api/privacy/erase  {"tenant","address"} -> referral.Erasure
//	POST /api/privacy/purge                       -> referral.Purged
func (a *Admin) registerPrivacy(mux *http.ServeMux) {
	mux.HandleFunc("POST /api/privacy/export", a.privacyExport)
	mux.HandleFunc("POST /api/privacy/erase", a.privacyErase)
	mux.HandleFunc("POST /api/privacy/purge", a.privacyPurge)
}

// privacyOps returns the bookkeeping's privacy work, or answers 501.
func (a *Admin) privacyOps(w http.ResponseWriter) (privacyOps, bool) {
	p, ok := a.ledger.(privacyOps)
	if !ok {
		apiError(w, http.StatusNotImplemented, "not_implemented", "this server's bookkeeping has no privacy operations")
	}
	return p, ok
}

// candidate reads a privacyRequest, answering 400 or 404 itself.
func (a *Admin) candidate(w http.ResponseWriter, r *http.Request) (privacyRequest, bool) {
	var req privacyRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, maxAdminBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || req.Address == "" {
		apiError(w, http.StatusBadRequest, "bad_request", `the body must be {"tenant": ID, "address": "the candidate's address"}`)
		return req, false
	}
	_, ok := a.tenantParam(w, req.Tenant, true)
	return req, ok
}

func (a *Admin) privacyFail(w http.ResponseWriter, op string, err error) {
	if errors.Is(err, referral.ErrBadAddress) {
		apiError(w, http.StatusBadRequest, "bad_request", "address: not a mail address (local@domain)")
		return
	}
	a.fail(w, op, err)
}

func (a *Admin) privacyExport(w http.ResponseWriter, r *http.Request) {
	p, ok := a.privacyOps(w)
	if !ok {
		return
	}
	req, ok := a.candidate(w, r)
	if !ok {
		return
	}
	d, err := p.Disclose(req.Tenant, req.Address)
	if err != nil {
		a.privacyFail(w, "privacy export", err)
		return
	}
	a.audit(r, "privacy_export", req.Tenant, fmt.Sprintf("%d sends, %d referrals", len(d.Sends), len(d.Referrals)))
	writeJSON(w, http.StatusOK, d)
}

func (a *Admin) privacyErase(w http.ResponseWriter, r *http.Request) {
	p, ok := a.privacyOps(w)
	if !ok {
		return
	}
	req, ok := a.candidate(w, r)
	if !ok {
		return
	}
	e, err := p.Erase(r.Context(), req.Tenant, req.Address)
	if e != nil {
		// Erased (perhaps with the page scrub still to do): that is the
		// action, and it is recorded either way.
		a.audit(r, "erase", req.Tenant, fmt.Sprintf("%d sends, %d referrals, %d webhooks erased; %d queued copies; %d free pages zeroed",
			e.Sends, e.Referrals, e.Webhooks, e.Queued, e.PagesZeroed))
	}
	if err != nil {
		a.privacyFail(w, "privacy erase", err)
		return
	}
	writeJSON(w, http.StatusOK, e)
}

func (a *Admin) privacyPurge(w http.ResponseWriter, r *http.Request) {
	p, ok := a.privacyOps(w)
	if !ok {
		return
	}
	res, err := p.Purge(r.Context())
	if res != nil {
		a.audit(r, "purge", "", fmt.Sprintf("before %s: %d sends, %d referrals, %d webhooks; %d free pages zeroed",
			res.Before.Format("2006-01-02T15:04:05Z"), res.Sends, res.Referrals, res.Webhooks, res.PagesZeroed))
	}
	if err != nil {
		a.privacyFail(w, "privacy purge", err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}
