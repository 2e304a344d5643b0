// Package referral is the bookkeeping behind the links: it resolves a link
// token to its send record, records clicks (never a referral), records a
// candidate's consent as a referral once per tenant and address, grants a
// credit at every tenant's referrals_per_credit-th referral, keeps the
// hash-chained ledger that company and agency can verify independently, and
// delivers the signed agency webhook from a durable outbox.
//
// # The ledger and how to verify it
//
// Every referral, credit grant, redemption, adjustment, void and revoke is
// an Entry,
// numbered from 1 without gaps, all tenants in one chain. An entry's Hash is
//
//	hex(SHA-256(prev + "\n" + canonical))
//
// where prev is the previous entry's Hash ("" for entry 1; it is also the
// entry's own "prev" field) and canonical is the entry's JSON object
// without "hash", written as Python writes it with
//
//	json.dumps(entry, sort_keys=True, separators=(",", ":"))
//
// that is: keys in code-point order, no white space, integers in decimal,
// strings with \" \\ \b \f \n \r \t escaped and every other character
// outside printable ASCII (U+0020 to U+007E) as \uXXXX in lower-case hex
// (surrogate pairs above U+FFFF). The object has exactly the keys of the
// JSON export: amount, kind, prev, seq, tenant and time always, note and
// referral_id only when not empty; seq and amount are integers and time is
// the string as exported (RFC 3339, UTC, whole seconds). This verifies a
// complete JSON export (Export with tenant ""):
//
//	import hashlib, json
//	prev = ""
//	for n, e in enumerate(json.load(open("ledger.json")), 1):
//	    h = e.pop("hash")
//	    assert e["seq"] == n and e["prev"] == prev, n
//	    c = json.dumps(e, sort_keys=True, separators=(",", ":"))
//	    assert hashlib.sha256((prev + "\n" + c).encode()).hexdigest() == h, n
//	    prev = h
//
// A CSV export has the columns seq,time,tenant,kind,referral_id,amount,
// note,prev,hash; its rows give the same object (seq and amount as
// integers, referral_id and note left out when empty).
//
// The n-th referral of a tenant grants it a credit when n is a multiple of
// the tenant's referrals_per_credit at that moment; the counts of a tenant
// are kept with the ledger, so Balance reads one record.
//
// The kinds and their amounts: referral 0, grant +1, redeem -1, adjust ±n
// (never 0), void 0, revoke -1. The agency may void a referral (Void): a
// "void" entry names it with the reason as note; if the tenant's valid
// (not voided) referrals then no longer cover its credits granted and not
// yet revoked (valid / referrals_per_credit), a "revoke" entry takes one
// credit back. A voided referral keeps its seq and still counts the
// candidate once; later referrals grant at every referrals_per_credit-th
// seq as before, and the revoke is what corrects the count. A revoke may
// leave the balance below zero: the tenant owes credits. Verify accepts a
// balance below zero only after a revoke (or an entry that does not
// lower it): a redeem or a negative adjust must leave it at 0 or more.
//
// An export for one tenant keeps each entry's seq, prev and hash from the
// whole chain: each entry still verifies by itself and consecutive entries
// still chain (VerifyPartial), and each appears with the same seq and hash
// in a full export (VerifySubset). Whoever keeps a hash (the agency gets the
// referral entry's in every webhook) can later tell that the history up to
// it was not rewritten.
//
// # The agency webhook
//
// A referral's webhook (a WebhookPayload) is written to the outbox in the
// referral's own commit and POSTed to agency.webhook.url with
// X-CareerRelay-Signature: sha256=<hex HMAC-SHA256(secret, body)>. Every
// attempt is committed (with its next retry time) before it starts. Until a
// 2xx answer it is retried after 10s, 20s, 40s, … up to 1h between
// attempts, each ±20% at random; the outbox survives restarts. Up to 4
// webhooks are in flight at once, in no particular order, never two
// attempts of the same one. Delivery is
// at least once: the agency dedupes by referral_id. Each attempt counts once
// in careerrelay_agency_webhooks_total: ok (2xx), retry (no answer, 3xx, 5xx,
// 408 or 429) or failed (any other 4xx: the agency refuses it, usually a
// configuration error on one side such as the secret). A failed webhook is
// not dropped: it is retried all the same, so that fixing the configuration
// delivers it; alert on failed.
package referral

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"path/filepath"
	"sync"
	"time"

	"github.com/careerrelay/careerrelay/configs"
	"github.com/careerrelay/careerrelay/internal/linktoken"
	"github.com/careerrelay/careerrelay/store"
)

// Errors callers map to pages and API replies.
var (
	ErrInvalidToken  = errors.New("referral: invalid link")             // 404, nothing stored
	ErrExpired       = errors.New("referral: link expired")             // expiry page with the generic link
	ErrNoCredit      = errors.New("referral: no credit left to redeem") // redeem below 0
	ErrUnknownTenant = errors.New("referral: unknown tenant")
	// ErrBelowZero is returned by Adjust for a correction that would leave
	// the tenant's available credits below zero.
	ErrBelowZero = errors.New("referral: adjustment would leave the balance below zero")
	// ErrNotFound is returned by Referral and Void for an unknown referral id.
	ErrNotFound = errors.New("referral: no such referral")
	// ErrAlreadyVoided is returned by Void for a referral voided before.
	ErrAlreadyVoided = errors.New("referral: referral already voided")
	// ErrBadText is returned for a note or reason that is missing where
	// required, not one line of valid UTF-8, or too long.
	ErrBadText = errors.New("referral: bad text")
)

// Click classes: a person's click, or a robot's (package web tells them
// apart).
const (
	Human = "human"
	Bot   = "bot"
)

// Ledger entry kinds.
const (
	KindReferral = "referral" // amount 0
	KindGrant    = "grant"    // amount +1
	KindRedeem   = "redeem"   // amount -1
	KindAdjust   = "adjust"   // amount ±n, never 0
	KindVoid     = "void"     // amount 0, referral_id the voided referral, note the reason
	KindRevoke   = "revoke"   // amount -1, referral_id the voided referral
)

// Link is a verified personal link.
type Link struct {
	Send   *store.Send
	Tenant *configs.Tenant
	// Referral is the candidate's referral with the tenant as Resolve
	// found it, nil before they consented.
	Referral *Referral
}

// Referral is a candidate's consent for one tenant.
type Referral struct {
	ID        string `json:"id"`     // stable, unguessable; sent to the agency as ref=
	Tenant    string `json:"tenant"` //
	SendID    string `json:"send_id"`
	Candidate string `json:"candidate"` // address as sent; "" once erased
	// CandidateHash is the keyed hash of the candidate's mailbox identity
	// (address.IdentityHash), kept when the address is erased.
	CandidateHash  string    `json:"candidate_hash,omitempty"`
	Name           string    `json:"name,omitempty"`
	ConsentAt      time.Time `json:"consent_at"`
	ConsentVersion string    `json:"consent_version"`
	Seq            int       `json:"seq"` // n-th referral of the tenant, from 1
	// ErasedAt is when the candidate's address and name were erased
	// (retention or a request); nil while they are held.
	ErasedAt *time.Time `json:"erased_at,omitempty"`
	// WithdrawnAt is when the candidate withdrew their consent (Withdraw);
	// the referral still counts.
	WithdrawnAt *time.Time `json:"withdrawn_at,omitempty"`
	// ConsentSeconds is how long after the mail's delivery the consent
	// came; Signals are what the agency may want to look at (signals.go).
	ConsentSeconds int64    `json:"consent_seconds"`
	Signals        []Signal `json:"signals,omitempty"`
	// VoidedAt is when the agency voided the referral (Void), nil while
	// it is valid; VoidReason is the reason given.
	// Rated: the candidate has given the (anonymous) rating; the stars
	// are counted apart (BucketRatings), not kept here.
	Rated      bool       `json:"rated,omitempty"`
	VoidedAt   *time.Time `json:"voided_at,omitempty"`
	VoidReason string     `json:"void_reason,omitempty"`
}

// Balance of a tenant's credits.
type Balance struct {
	Tenant    string `json:"tenant"`
	Referrals int    `json:"referrals"`
	Granted   int    `json:"granted"`
	Redeemed  int    `json:"redeemed"`
	// Adjusted is the sum of the operator's corrections (Adjust); 0 unless
	// an operator corrected the balance.
	Adjusted int `json:"adjusted"`
	// Voided counts the referrals voided (included in Referrals);
	// Revoked the credits taken back for them.
	Voided  int `json:"voided"`
	Revoked int `json:"revoked"`
	// Available is Granted - Redeemed + Adjusted - Revoked; below zero
	// after a revoke of a credit already redeemed: credits owed.
	Available int `json:"available"`
}

// Entry is one ledger entry. Hash = SHA-256 over the previous entry's hash
// and this entry's canonical encoding (every field but Hash), hex; the
// package comment gives the exact recipe.
type Entry struct {
	Seq        uint64    `json:"seq"` // from 1, no gaps
	Time       time.Time `json:"time"`
	Tenant     string    `json:"tenant"`
	Kind       string    `json:"kind"` // referral | grant | redeem | adjust | void | revoke
	ReferralID string    `json:"referral_id,omitempty"`
	Amount     int       `json:"amount"` // credits: +1 grant, -1 redeem and revoke, ± adjust; 0 for referral and void
	Note       string    `json:"note,omitempty"`
	Prev       string    `json:"prev"` // hash of entry Seq-1, "" for the first
	Hash       string    `json:"hash"`
}

// Options make the service testable. Zero fields take the real thing.
type Options struct {
	Now func() time.Time
	// Client posts the agency webhook; the default times out after 30s,
	// does not follow redirects and speaks TLS 1.2 or later.
	Client *http.Client
	// Random returns a number in [0, 1): the jitter of webhook retries.
	Random func() float64
	// WebhookBackoff is the delay before the first webhook retry (10s);
	// it doubles with every failed attempt up to WebhookMaxBackoff (1h).
	WebhookBackoff    time.Duration
	WebhookMaxBackoff time.Duration
	// Shared, when set, holds the shared records (several nodes on
	// PostgreSQL); nil keeps them in db.
	Shared store.Shared
}

const (
	defaultWebhookBackoff    = 10 * time.Second
	defaultWebhookMaxBackoff = time.Hour
	defaultWebhookTimeout    = 30 * time.Second
)

// Service is the referral bookkeeping over the store.
type Service struct {
	cfg    *configs.Config
	db     *store.DB    // this node's bbolt file: the mail queue, the file the privacy scrub zeroes
	sh     store.Shared // the shared records: db.Shared(), or PostgreSQL (Options.Shared)
	log    *slog.Logger
	keys   *linktoken.Keys
	now    func() time.Time
	random func() float64
	client *http.Client
	ttl    time.Duration
	// hashKey keys the hashes that stand in for addresses (HashKey).
	hashKey []byte

	hookURL    string
	hookSecret []byte
	backoff    time.Duration
	maxBackoff time.Duration
	wake       chan struct{} // a webhook was queued
	sendMu     sync.Mutex    // one dispatcher (RunWebhooks or a pass) at a time

	// confirm, when set, is called after a new referral is durable
	// (SetConfirmation: the candidate's confirmation mail).
	confirm func(ctx context.Context, r *Referral, l *Link)

	// testAttempted, when set (tests only), is called after each webhook
	// attempt's result is recorded.
	testAttempted func(referralID, result string)
}

// New returns the service for cfg's tenants, links keys and agency.
func New(cfg *configs.Config, db *store.DB, log *slog.Logger, opts Options) (*Service, error) {
	if cfg == nil || db == nil {
		return nil, errors.New("referral: New needs a config and a store")
	}
	keys, err := linktoken.NewKeys(cfg.Links.Keys)
	if err != nil {
		return nil, fmt.Errorf("referral: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Service{
		cfg:        cfg,
		db:         db,
		sh:         opts.Shared,
		log:        log.With("component", "referral"),
		keys:       keys,
		now:        opts.Now,
		random:     opts.Random,
		client:     opts.Client,
		ttl:        cfg.Links.TTL,
		hookURL:    cfg.Agency.Webhook.URL,
		hookSecret: cfg.Agency.Webhook.Secret,
		backoff:    opts.WebhookBackoff,
		maxBackoff: opts.WebhookMaxBackoff,
		wake:       make(chan struct{}, 1),
	}
	if s.hookURL != "" && len(s.hookSecret) == 0 {
		return nil, errors.New("referral: agency.webhook.url is set but its secret is empty")
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.sh == nil {
		s.sh = db.Shared()
	}
	if s.random == nil {
		s.random = rand.Float64
	}
	if s.client == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		s.client = &http.Client{
			Transport: tr,
			Timeout:   defaultWebhookTimeout,
			// A redirect is not a delivery: the POST would become a GET.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if s.ttl <= 0 {
		s.ttl = configs.DefaultLinkTTL
	}
	if s.hashKey, err = HashKey(cfg, filepath.Dir(db.Bolt().Path())); err != nil {
		return nil, err
	}
	if s.backoff <= 0 {
		s.backoff = defaultWebhookBackoff
	}
	if s.maxBackoff <= 0 {
		s.maxBackoff = defaultWebhookMaxBackoff
	}
	s.maxBackoff = max(s.maxBackoff, s.backoff)
	if err := s.reindex(context.Background()); err != nil {
		return nil, fmt.Errorf("referral: index: %w", err)
	}
	return s, nil
}

// Resolve verifies a token and returns its link: ErrInvalidToken for a
// malformed, tampered or unknown token (nothing stored), ErrExpired (with
// the link, so the page can name the tenant) past links.ttl.
func (s *Service) Resolve(token string) (*Link, error) { return s.resolve(token) }

// RecordClick records one click on a link with its class. It never creates
// a referral.
func (s *Service) RecordClick(ctx context.Context, l *Link, class string) error {
	return s.recordClick(ctx, l, class)
}

// Refer records the candidate's consent: once per tenant and candidate
// address (case-insensitive) however often called, concurrently too; at
// every referrals_per_credit-th referral it grants a credit; the ledger
// entries and the agency webhook (outbox) are written in the same commit.
// It returns the referral (the existing one when already referred).
// consentVersion (the version of the consent text shown) must not be
// empty; an expired link gives ErrExpired.
//
// It returns the referral only once it is durable (also when the store
// settled a commit whose sync reported an error). An error wrapping
// store.ErrCommitUncertain means the referral, its credit and its webhook
// may or may not be recorded: the caller must say neither; since the store
// has then failed, nothing in this process reads or sends them, and a
// retry after a restart returns the referral if it is on disk, or records
// it once. Any other error means nothing was recorded.
func (s *Service) Refer(ctx context.Context, l *Link, consentVersion string) (*Referral, error) {
	return s.refer(ctx, l, consentVersion, netip.Addr{})
}

// ReferFrom is Refer for a consent from client (the link page's client
// address, invalid when unknown), which the referral's signals look at.
func (s *Service) ReferFrom(ctx context.Context, l *Link, consentVersion string, client netip.Addr) (*Referral, error) {
	return s.refer(ctx, l, consentVersion, client)
}

// Balance returns a tenant's credits (ErrUnknownTenant).
func (s *Service) Balance(tenant string) (*Balance, error) { return s.balance(tenant) }

// Redeem spends one credit of the tenant (ErrNoCredit when none is left).
func (s *Service) Redeem(ctx context.Context, tenant, note string) (*Entry, error) {
	return s.redeem(ctx, tenant, note)
}

// Void voids the referral id for reason (required, one line): a "void"
// entry, and a "revoke" entry when the tenant's valid referrals no longer
// cover its credits (see the package comment). It returns the entries
// appended, in order; ErrNotFound for an unknown referral and
// ErrAlreadyVoided for one voided before.
func (s *Service) Void(ctx context.Context, id, reason string) ([]Entry, error) {
	return s.void(ctx, id, reason)
}

// Ledger returns the ledger entries, all tenants, in order.
func (s *Service) Ledger() ([]Entry, error) { return s.ledger("") }

// Export writes the ledger as "csv" or "json" (tenant "" = all tenants;
// verification needs the whole chain, so a tenant's export carries the
// hashes of the full chain). ParseExport reads either back.
func (s *Service) Export(w io.Writer, tenant, format string) error {
	return s.export(w, tenant, format)
}

// Verify checks the hash chain and returns an error naming the first entry
// that does not verify. entries must be the whole ledger, from Seq 1 (for
// one tenant's export, see VerifyPartial). Besides the hashes it checks
// that each kind has its amount (a void and a revoke name a referral) and
// that no redeem or negative adjust takes a tenant's balance below zero (a
// revoke may: credits owed). The error is a *VerifyError.
func Verify(entries []Entry) error { return verify(entries, true) }

// RunWebhooks delivers the agency webhook outbox until ctx is done: signed
// JSON POSTs retried with backoff until a 2xx, kept across restarts. It
// returns nil when ctx is done, or the store's error once it is closed.
// With no agency.webhook.url it only waits for ctx.
func (s *Service) RunWebhooks(ctx context.Context) error { return s.runWebhooks(ctx) }
