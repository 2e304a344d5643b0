package referral

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/careerrelay/careerrelay/internal/address"
	"github.com/careerrelay/careerrelay/internal/linktoken"
	"github.com/careerrelay/careerrelay/store"
)

// Candidate is one person to make a personal link for, when the tenant's
// own system sends the mail (the tenant API, `careerrelay links`).
type Candidate struct {
	Email string `json:"email"`
	Name  string `json:"name,omitempty"`
}

// Minted is a personal link made for a candidate: the same token, landing
// page and counting as a link the relay writes into a mail.
type Minted struct {
	URL    string `json:"url"`
	SendID string `json:"send_id"`
}

// MaxMint bounds the candidates of one Mint.
const MaxMint = 1000

// IdempotencyTTL is how long Mint answers a repeated Idempotency-Key with
// its first answer.
const IdempotencyTTL = 24 * time.Hour

// Errors of Mint.
var (
	// ErrBadCandidate: a candidate without a valid address, or too many
	// candidates; nothing was made. Its message names the candidate.
	ErrBadCandidate = errors.New("bad candidate")
	// ErrIdempotencyConflict: the Idempotency-Key was used within 24 hours
	// for a different list of candidates; nothing was made.
	ErrIdempotencyConflict = errors.New("idempotency key used for another request")
)

// Mint makes a personal link for each candidate of tenant, each with its
// send record (Delivery SendMinted), all in one durable commit, and returns
// them in order. With idemKey (the client's Idempotency-Key, scoped by
// keyID, the API key's id), a repeat within IdempotencyTTL returns the
// first answer and makes nothing; the answer is recorded in the commit
// that makes the links, so a crash never leaves links without it.
func (s *Service) Mint(ctx context.Context, tenant, keyID, idemKey string, cands []Candidate) ([]Minted, error) {
	if s.cfg.TenantByID(tenant) == nil {
		return nil, ErrUnknownTenant
	}
	if len(cands) == 0 || len(cands) > MaxMint {
		return nil, fmt.Errorf("%w: %d candidates (1 to %d)", ErrBadCandidate, len(cands), MaxMint)
	}
	for i := range cands {
		c := &cands[i]
		c.Email = strings.TrimSpace(c.Email)
		c.Name = strings.TrimSpace(c.Name)
		addr, err := address.Check(c.Email, true)
		if err == nil && (!strings.Contains(addr, "@") || address.Deliverable(address.Domain(addr)) != nil) {
			err = errors.New("not a deliverable mail address")
		}
		if err != nil {
			return nil, fmt.Errorf("%w: candidate %d: %q: %v", ErrBadCandidate, i+1, c.Email, err)
		}
		if len(c.Name) > 200 {
			return nil, fmt.Errorf("%w: candidate %d: name longer than 200 octets", ErrBadCandidate, i+1)
		}
	}
	now := s.now()
	reqSum := s.requestSum(cands)
	var idem []byte
	if idemKey != "" {
		sum := sha256.Sum256([]byte(tenant + "\x00" + keyID + "\x00" + idemKey))
		idem = sum[:]
	}
	var out []Minted
	err := s.sh.Update(ctx, func(tx store.SharedTx) error {
		out = out[:0]
		if idem != nil {
			prev, err := s.idempotent(tx, idem, reqSum, now)
			if err != nil || prev != nil {
				out = prev
				return err
			}
		}
		for _, c := range cands {
			id := linktoken.NewSendID()
			send := &store.Send{ID: id.String(), Tenant: tenant, Rcpt: c.Email, Name: c.Name, Sent: now, Delivery: store.SendMinted}
			if err := store.PutSend(tx, send); err != nil {
				return err
			}
			out = append(out, Minted{URL: s.cfg.LinkBase(s.cfg.TenantByID(tenant)) + "/c/" + s.keys.Mint(id), SendID: send.ID})
		}
		if idem != nil {
			return s.remember(tx, idem, reqSum, now, out)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// idemRecord is what BucketIdempotency holds per key.
type idemRecord struct {
	At      time.Time `json:"at"`
	Request []byte    `json:"request"` // keyed hash of the candidates (requestSum)
	Links   []Minted  `json:"links"`
}

// requestSum identifies a list of candidates: an HMAC under the privacy
// hash key, so that the stored answer holds nothing from which an address
// could be tested.
func (s *Service) requestSum(cands []Candidate) []byte {
	h := hmac.New(sha256.New, s.hashKey)
	for _, c := range cands {
		fmt.Fprintf(h, "%s\x00%s\x00", strings.ToLower(c.Email), c.Name)
	}
	return h.Sum(nil)
}

// idempotent returns the links recorded under key within the TTL, nil when
// there are none, ErrIdempotencyConflict for another request.
func (s *Service) idempotent(tx store.SharedTx, key, reqSum []byte, now time.Time) ([]Minted, error) {
	v := tx.Bucket(store.BucketIdempotency).Get(key)
	if v == nil {
		return nil, nil
	}
	var r idemRecord
	if err := json.Unmarshal(v, &r); err != nil || now.Sub(r.At) >= IdempotencyTTL {
		return nil, nil // expired (or unreadable): the key is free again
	}
	if string(r.Request) != string(reqSum) {
		return nil, ErrIdempotencyConflict
	}
	return r.Links, nil
}

// remember records the answer under key, and drops answers older than the
// TTL (a few at a time, so that no commit grows with the bucket).
func (s *Service) remember(tx store.SharedTx, key, reqSum []byte, now time.Time, links []Minted) error {
	b := tx.Bucket(store.BucketIdempotency)
	v, err := json.Marshal(idemRecord{At: now, Request: reqSum, Links: links})
	if err != nil {
		return err
	}
	if err := b.Put(key, v); err != nil {
		return err
	}
	return pruneIdempotency(b, now, 16)
}

// pruneIdempotency looks at up to n records from a random place in the
// bucket (its keys are hashes, in no order of time) and deletes those older
// than the TTL: each commit does a bounded share of the cleaning.
func pruneIdempotency(b store.Bucket, now time.Time, n int) error {
	var old [][]byte
	c := b.Cursor()
	start := make([]byte, 8)
	rand.Read(start)
	k, v := c.Seek(start)
	for seen := 0; seen < n; seen++ {
		if k == nil {
			k, v = c.First()
			if k == nil {
				break
			}
		}
		var r idemRecord
		if json.Unmarshal(v, &r) != nil || now.Sub(r.At) >= IdempotencyTTL {
			old = append(old, append([]byte(nil), k...))
		}
		k, v = c.Next()
	}
	for _, k := range old {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}
