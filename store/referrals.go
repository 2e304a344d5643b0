package store

// The buckets of package referral. The store creates them at Open; package
// referral encodes their values, because its types are the contract of the
// link pages and the admin API. Each is written through Update only.
const (
	// BucketClicks holds one record per link click, keyed by the bucket's
	// sequence (8 bytes, big-endian), so in the order they were recorded.
	// Stores written before click counts (BucketClickCounts) have such
	// records; they are still read, and nothing is added to it any more.
	BucketClicks = "clicks"
	// BucketClickCounts holds the clicks of each link counted per hour:
	// key send id, a 0 byte, and the hour's start in Unix seconds (8 bytes,
	// big-endian), so a link's hours are adjacent and oldest first. A link
	// keeps a bounded number of hours; older ones are folded into its
	// oldest record (package referral).
	BucketClickCounts = "click_counts"
	// BucketReferrals holds referrals keyed by referral id.
	BucketReferrals = "referrals"
	// BucketReferralIndex maps a tenant id, a 0 byte and the lower-cased
	// candidate address to the referral id: one referral per tenant and
	// candidate.
	BucketReferralIndex = "referral_index"
	// BucketLedger is the append-only, hash-chained ledger keyed by entry
	// sequence number (8 bytes, big-endian, from 1).
	BucketLedger = "ledger"
	// BucketBalances holds each tenant's running counts (referrals,
	// credits granted, redeemed, adjusted), keyed by tenant id, updated in
	// the commit of the ledger entries that change them.
	BucketBalances = "balances"
	// BucketOutbox holds the agency webhooks still to deliver, keyed by the
	// bucket's sequence (8 bytes, big-endian).
	BucketOutbox = "webhook_outbox"
	// BucketIdempotency holds the answers of the tenant API's link requests
	// that carried an Idempotency-Key, keyed by the SHA-256 of the tenant,
	// the API key id and that header; kept 24 hours (package referral).
	BucketIdempotency = "api_idempotency"
	// BucketAudit holds the audit trail of admin actions, keyed by the
	// bucket's sequence (8 bytes, big-endian), in the order they happened.
	BucketAudit = "audit"
	// BucketPrivacy holds the state of the privacy work: the check value
	// of the hash key the store was written with, the time of the last
	// retention pass (package referral).
	BucketPrivacy = "privacy"
	// BucketConsentNetworks counts recent consents per tenant and client
	// network, keyed by the tenant, a 0 byte and a keyed hash of the
	// network (never the address): the "many consents from one network"
	// signal (package referral).
	BucketConsentNetworks = "consent_networks"
	// BucketRatings holds the candidates' anonymous ratings (1 to 5) of
	// the rejection mail, counted per tenant and hour: key tenant id, a 0
	// byte and the hour's start in Unix seconds (8 bytes, big-endian),
	// value the five counts. Nothing ties a rating to a person.
	BucketRatings = "ratings"
)

// referralBuckets are created by Open next to the queue's.
var referralBuckets = [][]byte{
	[]byte(BucketClicks), []byte(BucketClickCounts), []byte(BucketReferrals), []byte(BucketReferralIndex),
	[]byte(BucketLedger), []byte(BucketBalances), []byte(BucketOutbox), []byte(BucketIdempotency), []byte(BucketAudit),
	[]byte(BucketPrivacy), []byte(BucketConsentNetworks), []byte(BucketRatings),
}

// SharedBuckets are the buckets of the shared records, which every Shared
// store has: the send records and the buckets of package referral.
var SharedBuckets = []string{
	BucketSends, BucketClicks, BucketClickCounts, BucketReferrals, BucketReferralIndex, BucketLedger,
	BucketBalances, BucketOutbox, BucketIdempotency, BucketAudit, BucketPrivacy, BucketConsentNetworks, BucketRatings,
}
