package web

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/careerrelay/careerrelay/internal/referral"
)

type testAdmin struct {
	*Admin
	ledger *fakeLedger
}

func newTestAdmin(t testing.TB) *testAdmin {
	t.Helper()
	l := &fakeLedger{granted: map[string]int{"acme": 1}, redeemed: map[string]int{}}
	a := NewAdmin(testConfig(), l, nil, testLog())
	a.verify = func([]referral.Entry) error { return nil }
	return &testAdmin{Admin: a, ledger: l}
}

// call sends an admin request with the bearer token auth ("" for none).
func (ta *testAdmin) call(method, path, body, auth string) *httptest.ResponseRecorder {
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, r)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	rec := httptest.NewRecorder()
	ta.srv.Handler.ServeHTTP(rec, req)
	return rec
}

func (ta *testAdmin) ok(method, path, body string) *httptest.ResponseRecorder {
	return ta.call(method, path, body, "Bearer "+adminToken)
}

// wantError checks an error reply's status, JSON shape and code.
func wantError(t *testing.T, what string, rec *httptest.ResponseRecorder, status int, code string) apiErr {
	t.Helper()
	var e apiErr
	if rec.Code != status {
		t.Errorf("%s: status %d, want %d: %s", what, rec.Code, status, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s: Content-Type %q", what, ct)
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Code != code || e.Error == "" {
		t.Errorf("%s: body %s (%v), want code %s", what, rec.Body, err, code)
	}
	return e
}

func TestAdminAuth(t *testing.T) {
	ta := newTestAdmin(t)
	for _, auth := range []string{
		"",
		"Bearer ",
		"Bearer wrong",
		"Bearer " + adminToken[:len(adminToken)-1],
		"Bearer " + adminToken + "x",
		"bearer" + adminToken,
		"Basic " + adminToken,
		adminToken,
	} {
		for _, path := range []string{"/api/balance?tenant=acme", "/api/ledger/verify", "/api/ledger/export", "/nothing"} {
			rec := ta.call(http.MethodGet, path, "", auth)
			wantError(t, "auth "+auth+" "+path, rec, http.StatusUnauthorized, "unauthorized")
			if !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("%q: no WWW-Authenticate", auth)
			}
		}
		rec := ta.call(http.MethodPost, "/api/redeem", `{"tenant":"acme"}`, auth)
		wantError(t, "redeem auth "+auth, rec, http.StatusUnauthorized, "unauthorized")
	}
	if ta.ledger.redeemed["acme"] != 0 {
		t.Error("an unauthorised redeem went through")
	}
	if rec := ta.ok(http.MethodGet, "/api/balance?tenant=acme", ""); rec.Code != http.StatusOK {
		t.Errorf("right token: %d %s", rec.Code, rec.Body)
	}
	// An unset token refuses everything, the empty bearer included.
	cfg := testConfig()
	cfg.Admin.Token = ""
	empty := &testAdmin{Admin: NewAdmin(cfg, ta.ledger, nil, testLog())}
	wantError(t, "empty token", empty.call(http.MethodGet, "/api/balance?tenant=acme", "", "Bearer "), http.StatusUnauthorized, "unauthorized")
}

func TestAdminBalance(t *testing.T) {
	ta := newTestAdmin(t)
	rec := ta.ok(http.MethodGet, "/api/balance?tenant=acme", "")
	var b referral.Balance
	if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil || rec.Code != 200 {
		t.Fatalf("%d %s %v", rec.Code, rec.Body, err)
	}
	if b != (referral.Balance{Tenant: "acme", Referrals: 10, Granted: 1, Available: 1}) {
		t.Errorf("balance %+v", b)
	}
	if rec.Header().Get("Cache-Control") != "no-store" {
		t.Error("no Cache-Control: no-store")
	}
	wantError(t, "no tenant", ta.ok(http.MethodGet, "/api/balance", ""), http.StatusBadRequest, "bad_request")
	wantError(t, "unknown tenant", ta.ok(http.MethodGet, "/api/balance?tenant=nobody", ""), http.StatusNotFound, "not_found")
	wantError(t, "POST", ta.ok(http.MethodPost, "/api/balance?tenant=acme", ""), http.StatusMethodNotAllowed, "method_not_allowed")
	wantError(t, "unknown path", ta.ok(http.MethodGet, "/api/nothing", ""), http.StatusNotFound, "not_found")
}

func TestAdminRedeem(t *testing.T) {
	ta := newTestAdmin(t)
	rec := ta.ok(http.MethodPost, "/api/redeem", `{"tenant":"acme","note":"hire #1: 山田さん入社"}`)
	var e referral.Entry
	if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || rec.Code != 200 {
		t.Fatalf("%d %s %v", rec.Code, rec.Body, err)
	}
	if e.Kind != "redeem" || e.Amount != -1 || e.Note != "hire #1: 山田さん入社" || e.Tenant != "acme" {
		t.Errorf("entry %+v", e)
	}
	// No credit left: 409 with the service's message.
	er := wantError(t, "no credit", ta.ok(http.MethodPost, "/api/redeem", `{"tenant":"acme"}`), http.StatusConflict, "no_credit")
	if !strings.Contains(er.Error, referral.ErrNoCredit.Error()) {
		t.Errorf("409 message %q lacks %q", er.Error, referral.ErrNoCredit)
	}
	if ta.ledger.redeemed["acme"] != 1 {
		t.Errorf("redeemed %d, want 1", ta.ledger.redeemed["acme"])
	}
	for name, body := range map[string]string{
		"empty":         "",
		"not JSON":      "tenant=acme",
		"no tenant":     `{"note":"x"}`,
		"unknown field": `{"tenant":"acme","amount":5}`,
		"two objects":   `{"tenant":"acme"}{"tenant":"acme"}`,
		"wrong type":    `{"tenant":1}`,
		"too large":     `{"tenant":"acme","note":"` + strings.Repeat("x", maxAdminBody) + `"}`,
	} {
		wantError(t, name, ta.ok(http.MethodPost, "/api/redeem", body), http.StatusBadRequest, "bad_request")
	}
	wantError(t, "unknown tenant", ta.ok(http.MethodPost, "/api/redeem", `{"tenant":"nobody"}`), http.StatusNotFound, "not_found")
	wantError(t, "GET", ta.ok(http.MethodGet, "/api/redeem", ""), http.StatusMethodNotAllowed, "method_not_allowed")
}

func TestAdminExport(t *testing.T) {
	ta := newTestAdmin(t)
	for q, ctype := range map[string]string{
		"":                        "application/json",
		"?format=json":            "application/json",
		"?format=csv":             "text/csv; charset=utf-8",
		"?tenant=acme&format=csv": "text/csv; charset=utf-8",
	} {
		rec := ta.ok(http.MethodGet, "/api/ledger/export"+q, "")
		if rec.Code != 200 || rec.Header().Get("Content-Type") != ctype || rec.Body.Len() == 0 {
			t.Errorf("%s: %d %q %q", q, rec.Code, rec.Header().Get("Content-Type"), rec.Body)
		}
	}
	wantError(t, "bad format", ta.ok(http.MethodGet, "/api/ledger/export?format=xml", ""), http.StatusBadRequest, "bad_request")
	wantError(t, "unknown tenant", ta.ok(http.MethodGet, "/api/ledger/export?tenant=nobody", ""), http.StatusNotFound, "not_found")
	ta.ledger.exportErr = errBoom
	er := wantError(t, "failing export", ta.ok(http.MethodGet, "/api/ledger/export", ""), http.StatusInternalServerError, "internal")
	if strings.Contains(er.Error, "boom") {
		t.Errorf("internal error text leaked: %q", er.Error)
	}
}

func TestAdminExportFailsMidway(t *testing.T) {
	ta := newTestAdmin(t)
	ta.ledger.exportErr, ta.ledger.failAfter = errBoom, true
	srv := httptest.NewServer(ta.srv.Handler)
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/api/ledger/export?format=csv", nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := srv.Client().Do(req)
	if err != nil {
		return // the connection was cut before the headers: fine
	}
	defer resp.Body.Close()
	if _, err := io.ReadAll(resp.Body); err == nil {
		t.Error("a failed export read as complete")
	}
}

func TestAdminVerify(t *testing.T) {
	ta := newTestAdmin(t)
	ta.ledger.entries = []referral.Entry{{Seq: 1, Kind: "grant", Hash: "aa"}, {Seq: 2, Kind: "redeem", Prev: "aa", Hash: "bb"}}
	var got []referral.Entry
	ta.verify = func(es []referral.Entry) error { got = es; return nil }
	rec := ta.ok(http.MethodGet, "/api/ledger/verify", "")
	var rep verifyReply
	if err := json.Unmarshal(rec.Body.Bytes(), &rep); err != nil || rec.Code != 200 {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	if rep != (verifyReply{OK: true, Entries: 2, Head: "bb"}) || len(got) != 2 {
		t.Errorf("reply %+v, verified %d entries", rep, len(got))
	}
	ta.verify = func([]referral.Entry) error { return errors.New("entry 2: hash does not match") }
	rec = ta.ok(http.MethodGet, "/api/ledger/verify", "")
	rep = verifyReply{}
	json.Unmarshal(rec.Body.Bytes(), &rep)
	if rec.Code != 200 || rep.OK || !strings.Contains(rep.Error, "entry 2") {
		t.Errorf("broken chain: %d %+v", rec.Code, rep)
	}
}

func TestAdminListen(t *testing.T) {
	ta := newTestAdmin(t)
	if err := ta.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer ta.Shutdown(t.Context())
	req, _ := http.NewRequest(http.MethodGet, "http://"+ta.Addr().String()+"/api/balance?tenant=acme", nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("status %d", resp.StatusCode)
	}
}
