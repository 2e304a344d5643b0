// Package referral is the bookkeeping behind the links: it resolves a link
// token to its send record, records clicks (never a referral), records a
// candidate's consent as a referral once per tenant and address, grants a
// credit at every tenant's referrals_per_credit-th referral, keeps the
// hash-chained ledger that company and agency can verify independently, and
// delivers the signed agency webhook from a durable outbox.
package referral

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/careerrelay/careerrelay/configs"
	"github.com/careerrelay/careerrelay/store"
)

// Errors callers map to pages and API replies.
var (
	ErrInvalidToken  = errors.New("referral: invalid link")             // 404, nothing stored
	ErrExpired       = errors.New("referral: link expired")             // expiry page with the generic link
	ErrNoCredit      = errors.New("referral: no credit left to redeem") // redeem below 0
	ErrUnknownTenant = errors.New("referral: unknown tenant")
)

// Click classes (SPEC §4).
const (
	Human = "human"
	Bot   = "bot"
)

// Link is a verified personal link.
type Link struct {
	Send   *store.Send
	Tenant *configs.Tenant
}

// Referral is a candidate's consent for one tenant.
type Referral struct {
	ID             string    `json:"id"`     // stable, unguessable; sent to the agency as ref=
	Tenant         string    `json:"tenant"` //
	SendID         string    `json:"send_id"`
	Candidate      string    `json:"candidate"` // address as sent
	Name           string    `json:"name,omitempty"`
	ConsentAt      time.Time `json:"consent_at"`
	ConsentVersion string    `json:"consent_version"`
	Seq            int       `json:"seq"` // n-th referral of the tenant, from 1
}

// Balance of a tenant's credits.
type Balance struct {
	Tenant    string `json:"tenant"`
	Referrals int    `json:"referrals"`
	Granted   int    `json:"granted"`
	Redeemed  int    `json:"redeemed"`
	Available int    `json:"available"` // Granted - Redeemed, never negative
}

// Entry is one ledger entry. Hash = SHA-256 over the previous entry's hash
// and this entry's canonical encoding (every field but Hash), hex.
type Entry struct {
	Seq        uint64    `json:"seq"` // from 1, no gaps
	Time       time.Time `json:"time"`
	Tenant     string    `json:"tenant"`
	Kind       string    `json:"kind"` // referral | grant | redeem | adjust
	ReferralID string    `json:"referral_id,omitempty"`
	Amount     int       `json:"amount"` // credits: +1 grant, -1 redeem, ± adjust; 0 for referral
	Note       string    `json:"note,omitempty"`
	Prev       string    `json:"prev"` // hash of entry Seq-1, "" for the first
	Hash       string    `json:"hash"`
}

// Options make the service testable.
type Options struct {
	Now    func() time.Time
	Client *http.Client // for the agency webhook
}

// Service is the referral bookkeeping over the store.
type Service struct{}

var errNotImplemented = errors.New("referral: not implemented yet")

// New returns the service for cfg's tenants, links keys and agency.
func New(cfg *configs.Config, db *store.DB, log *slog.Logger, opts Options) (*Service, error) {
	return nil, errNotImplemented
}

// Resolve verifies a token and returns its link: ErrInvalidToken for a
// malformed, tampered or unknown token (nothing stored), ErrExpired (with
// the link, so the page can name the tenant) past links.ttl.
func (s *Service) Resolve(token string) (*Link, error) { return nil, errNotImplemented }

// RecordClick records one click on a link with its class. It never creates
// a referral.
func (s *Service) RecordClick(ctx context.Context, l *Link, class string) error {
	return errNotImplemented
}

// Refer records the candidate's consent: once per tenant and candidate
// address (case-insensitive) however often called, concurrently too; at
// every referrals_per_credit-th referral it grants a credit; the ledger
// entries and the agency webhook (outbox) are written in the same commit.
// It returns the referral (the existing one when already referred).
func (s *Service) Refer(ctx context.Context, l *Link, consentVersion string) (*Referral, error) {
	return nil, errNotImplemented
}

// Balance returns a tenant's credits (ErrUnknownTenant).
func (s *Service) Balance(tenant string) (*Balance, error) { return nil, errNotImplemented }

// Redeem spends one credit of the tenant (ErrNoCredit when none is left).
func (s *Service) Redeem(ctx context.Context, tenant, note string) (*Entry, error) {
	return nil, errNotImplemented
}

// Ledger returns the ledger entries, all tenants, in order.
func (s *Service) Ledger() ([]Entry, error) { return nil, errNotImplemented }

// Export writes the ledger as "csv" or "json" (tenant "" = all tenants;
// verification needs the whole chain, so a tenant's export carries the
// hashes of the full chain).
func (s *Service) Export(w io.Writer, tenant, format string) error { return errNotImplemented }

// Verify checks the hash chain and returns an error naming the first entry
// that does not verify.
func Verify(entries []Entry) error { return errNotImplemented }

// RunWebhooks delivers the agency webhook outbox until ctx is done: signed
// JSON POSTs retried with backoff until a 2xx, kept across restarts.
func (s *Service) RunWebhooks(ctx context.Context) error { return errNotImplemented }
