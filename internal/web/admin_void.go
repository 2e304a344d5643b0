package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/careerrelay/careerrelay/internal/referral"
)

// voidRequest is the body of POST /api/void.
type voidRequest struct {
	ReferralID string `json:"referral_id"`
	Reason     string `json:"reason"`
}

// voidReply lists the ledger entries a void appended: the void, and the
// revoke when it took a credit back.
type voidReply struct {
	Entries []referral.Entry `json:"entries"`
}

// void voids a referral for the agency (`careerrelay ledger void`): 400
// without a referral_id or reason, 404 for an unknown referral, 409
// already_voided. The audit record names the referral and the ledger
// entries by id, never the candidate.
func (a *Admin) void(w http.ResponseWriter, r *http.Request) {
	var req voidRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxAdminBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		apiError(w, http.StatusBadRequest, "bad_request", "body must be JSON {\"referral_id\": ID, \"reason\": TEXT}: "+err.Error())
		return
	}
	if dec.More() {
		apiError(w, http.StatusBadRequest, "bad_request", "body must be one JSON object")
		return
	}
	if strings.TrimSpace(req.ReferralID) == "" || strings.TrimSpace(req.Reason) == "" {
		apiError(w, http.StatusBadRequest, "bad_request", "referral_id and reason are required")
		return
	}
	entries, err := a.ledger.Void(r.Context(), req.ReferralID, req.Reason)
	if err != nil {
		a.fail(w, "void", err)
		return
	}
	if len(entries) == 0 { // not from referral.Service; nothing to name
		a.fail(w, "void", fmt.Errorf("void of %s appended no entry", req.ReferralID))
		return
	}
	first, last := entries[0], entries[len(entries)-1]
	revoked := 0
	for _, e := range entries {
		if e.Kind == referral.KindRevoke {
			revoked -= e.Amount
		}
	}
	seqs := fmt.Sprintf("ledger entry %d", first.Seq)
	if last.Seq != first.Seq {
		seqs = fmt.Sprintf("ledger %d-%d", first.Seq, last.Seq)
	}
	a.log.Info("referral voided", "tenant", first.Tenant, "referral", first.ReferralID, "seq", first.Seq, "revoked", revoked)
	credits := "no credit revoked"
	if revoked > 0 {
		credits = fmt.Sprintf("%d credit revoked", revoked)
	}
	a.audit(r, "void", first.Tenant, fmt.Sprintf("referral %s, %s, %s", first.ReferralID, seqs, credits))
	writeJSON(w, http.StatusOK, voidReply{Entries: entries})
}
